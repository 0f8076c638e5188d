/**
 * GNU build-ids of the executable and libraries, found the way debuggers
 * find them in a core: the first page of each file mapping (dumped by the
 * kernel for coredump_filter bit 4, "ELF headers") holds the ELF header and
 * program headers; a PT_NOTE there points at the NT_GNU_BUILD_ID note.
 */
import { ELF_MAGIC, NT_GNU_BUILD_ID, PHDR_SIZE, PType } from './elf';
import type { CoreMemory } from './memory';
import { parseNotes } from './notes';
import type { MappedFile } from './note-payloads';

export interface BuildId {
  /** The file path from NT_FILE, or "[vdso]". */
  path: string;
  /** Where its offset-0 mapping starts. */
  start: bigint;
  /** Lower-case hex, as `file` and debuginfod print it. */
  buildId: string;
}

/** Program headers are tiny; refuse absurd counts from damaged images. */
const MAX_PHNUM = 4096;

/** The build-id of an ELF image mapped with its file offset 0 at `start`, if the core holds it. */
export function buildIdAt(memory: CoreMemory, start: bigint): string | undefined {
  const ehdr = memory.readAvailable(start, 64);
  if (ehdr.length < 64 || !ehdr.subarray(0, 4).equals(ELF_MAGIC) || ehdr[4] !== 2 || ehdr[5] !== 1) return undefined;
  const phoff = ehdr.readBigUInt64LE(32);
  const phnum = ehdr.readUInt16LE(56);
  if (ehdr.readUInt16LE(54) !== PHDR_SIZE || phnum === 0 || phnum > MAX_PHNUM) return undefined;
  const phdrs = memory.readAvailable(start + phoff, phnum * PHDR_SIZE);
  for (let at = 0; at + PHDR_SIZE <= phdrs.length; at += PHDR_SIZE) {
    if (phdrs.readUInt32LE(at) !== PType.NOTE) continue;
    // Notes are read by file offset: the offset-0 mapping maps file offset N at start + N.
    const offset = phdrs.readBigUInt64LE(at + 8);
    const size = Number(phdrs.readBigUInt64LE(at + 32) & 0xffffn);
    const bytes = memory.readAvailable(start + offset, size);
    let notes: ReturnType<typeof parseNotes>;
    try {
      notes = parseNotes(bytes, 0);
    } catch {
      continue; // the page holding the rest of the note was not dumped
    }
    const note = notes.find((n) => n.name === 'GNU' && n.type === NT_GNU_BUILD_ID);
    if (note && note.desc.length > 0) return note.desc.toString('hex');
  }
  return undefined;
}

/** Build-ids for every file in NT_FILE mapped from offset 0, plus the vDSO when its address is known. */
export function findBuildIds(memory: CoreMemory, files: readonly MappedFile[], vdso?: bigint): BuildId[] {
  const result: BuildId[] = [];
  const seen = new Set<string>();
  for (const f of files) {
    if (f.offset !== 0n || seen.has(f.path)) continue;
    const id = buildIdAt(memory, f.start);
    if (id === undefined) continue;
    seen.add(f.path);
    result.push({ path: f.path, start: f.start, buildId: id });
  }
  if (vdso !== undefined && vdso !== 0n) {
    const id = buildIdAt(memory, vdso);
    if (id !== undefined) result.push({ path: '[vdso]', start: vdso, buildId: id });
  }
  return result;
}
