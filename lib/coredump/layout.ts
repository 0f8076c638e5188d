/**
 * Where everything goes in a core, computed before the first byte is
 * written so the core can be streamed in one pass. The layout is the
 * kernel's (fs/binfmt_elf.c, elf_core_dump): ELF header; program headers,
 * PT_NOTE first, then one PT_LOAD per memory range in address order; the
 * notes; padding to a page; each range's dumped bytes back to back; and,
 * when there are PN_XNUM or more program headers, section header 0 last.
 */
import { CORE_PAGE_SIZE, EHDR_SIZE, PHDR_SIZE, PN_XNUM, PType } from './elf';
import { encodeElfHeader, encodeProgramHeader, encodeXnumSection, type ProgramHeader } from './header';

export interface PlannedRange {
  vaddr: bigint;
  memsz: bigint;
  /** Bytes of this range stored in the core, from its start: 0 (skipped) up to memsz. */
  filesz: number;
  /** PF_R | PF_W | PF_X */
  flags: number;
  /** Private anonymous memory: pages that were never populated are zeros and need not be read. */
  anonymous?: boolean;
}

export interface CoreLayout {
  machine: number;
  programHeaders: ProgramHeader[];
  notesOffset: number;
  notesSize: number;
  /** Where the first range's bytes start (page-aligned). */
  dataOffset: number;
  /** Offset of section header 0, when extended numbering is needed. */
  shoff?: number;
  /** The core's total size in bytes. */
  size: number;
}

const roundUp = (n: number, to: number) => Math.ceil(n / to) * to;

export function planLayout(machine: number, notesSize: number, ranges: readonly PlannedRange[]): CoreLayout {
  const phnum = ranges.length + 1;
  const notesOffset = EHDR_SIZE + phnum * PHDR_SIZE;
  const dataOffset = roundUp(notesOffset + notesSize, CORE_PAGE_SIZE);
  const programHeaders: ProgramHeader[] = [
    // fill_elf_note_phdr: no address, 4-byte alignment.
    { type: PType.NOTE, flags: 0, offset: notesOffset, vaddr: 0n, paddr: 0n, filesz: notesSize, memsz: 0n, align: 4n },
  ];
  let offset = dataOffset;
  for (const r of ranges) {
    if (BigInt(r.filesz) > r.memsz) throw new RangeError(`range at 0x${r.vaddr.toString(16)}: filesz ${r.filesz} > memsz ${r.memsz}`);
    programHeaders.push({
      type: PType.LOAD,
      flags: r.flags,
      offset,
      vaddr: r.vaddr,
      paddr: 0n,
      filesz: r.filesz,
      memsz: r.memsz,
      align: BigInt(CORE_PAGE_SIZE),
    });
    offset += r.filesz;
  }
  const extended = phnum >= PN_XNUM;
  const layout: CoreLayout = { machine, programHeaders, notesOffset, notesSize, dataOffset, size: offset + (extended ? 64 : 0) };
  if (extended) layout.shoff = offset;
  return layout;
}

/** Everything before the memory data: headers, notes, and zero padding up to dataOffset. */
export function encodeHead(layout: CoreLayout, notes: Buffer): Buffer {
  if (notes.length !== layout.notesSize) throw new RangeError(`notes are ${notes.length} bytes, the layout planned ${layout.notesSize}`);
  const head = Buffer.alloc(layout.dataOffset);
  const fields = { machine: layout.machine, phnum: layout.programHeaders.length, ...(layout.shoff === undefined ? {} : { shoff: layout.shoff }) };
  encodeElfHeader(fields).copy(head, 0);
  for (const [i, ph] of layout.programHeaders.entries()) encodeProgramHeader(ph, head, EHDR_SIZE + i * PHDR_SIZE);
  notes.copy(head, layout.notesOffset);
  return head;
}

/** What follows the data: section header 0 when extended numbering is in use, else nothing. */
export function encodeTail(layout: CoreLayout): Buffer {
  return layout.shoff === undefined ? Buffer.alloc(0) : encodeXnumSection(layout.programHeaders.length);
}
