/**
 * Writes cores: the notes in the kernel's order, and a whole core from
 * in-memory segments (for cores assembled by hand, tests, or conversions).
 * Live snapshots use the same pieces but stream memory (snapshot.ts).
 */
import { NoteType, noteName } from './elf';
import { encodeHead, encodeTail, planLayout, type CoreLayout } from './layout';
import { encodeNote } from './notes';
import { type MappedFile, type Prpsinfo, type Prstatus, encodeFileNote, encodePrpsinfo, encodePrstatus } from './note-payloads';
import type { CoreArch } from './registers';
import { type CoreOutput, openSink } from './sink';

export interface ThreadNotes {
  prstatus: Prstatus;
  /** Register notes after NT_PRSTATUS (NT_PRFPREG, NT_X86_XSTATE, ...), in the order to write them. */
  regsets: { type: number; desc: Buffer }[];
}

export interface CoreNotes {
  arch: CoreArch;
  /** The first thread is the one the core is about (the crashing one, or the leader in a snapshot). */
  threads: ThreadNotes[];
  psinfo: Prpsinfo;
  /** NT_SIGINFO: 128 bytes of siginfo_t. */
  siginfo: Buffer;
  /** NT_AUXV: the auxiliary vector, AT_NULL included. */
  auxv: Buffer;
  files: MappedFile[];
  /** The unit of NT_FILE offsets: the kernel uses its page size. */
  filePageSize?: number;
  /** Process-wide notes written after every thread's (the kernel's arch "extra notes"). */
  extra?: { name: string; type: number; desc: Buffer }[];
}

/**
 * Every note, in the order fs/binfmt_elf.c (write_note_info) writes them:
 * first thread's NT_PRSTATUS, then NT_PRPSINFO, NT_SIGINFO, NT_AUXV,
 * NT_FILE, then its register notes; every other thread's NT_PRSTATUS and
 * register notes; finally the arch's extra notes.
 */
export function encodeCoreNotes(notes: CoreNotes): Buffer {
  if (notes.threads.length === 0) throw new RangeError('a core needs at least one thread');
  const parts: Buffer[] = [];
  notes.threads.forEach((thread, i) => {
    parts.push(encodeNote('CORE', NoteType.PRSTATUS, encodePrstatus(thread.prstatus, notes.arch)));
    if (i === 0) {
      parts.push(encodeNote('CORE', NoteType.PRPSINFO, encodePrpsinfo(notes.psinfo)));
      parts.push(encodeNote('CORE', NoteType.SIGINFO, notes.siginfo));
      parts.push(encodeNote('CORE', NoteType.AUXV, notes.auxv));
      if (notes.files.length > 0) parts.push(encodeNote('CORE', NoteType.FILE, encodeFileNote(notes.files, notes.filePageSize ?? 4096)));
    }
    for (const r of thread.regsets) parts.push(encodeNote(noteName(r.type), r.type, r.desc));
  });
  for (const e of notes.extra ?? []) parts.push(encodeNote(e.name, e.type, e.desc));
  return Buffer.concat(parts);
}

export interface SegmentData {
  vaddr: bigint;
  /** Defaults to data.length; larger means the rest is not in the core. */
  memsz?: bigint;
  flags: number;
  data: Buffer;
}

/** Writes a complete core from notes and segment bytes; resolves to its layout. */
export async function writeCore(out: CoreOutput, machine: number, notes: Buffer, segments: readonly SegmentData[]): Promise<CoreLayout> {
  const sorted = [...segments].sort((a, b) => (a.vaddr < b.vaddr ? -1 : a.vaddr > b.vaddr ? 1 : 0));
  const layout = planLayout(
    machine,
    notes.length,
    sorted.map((s) => ({ vaddr: s.vaddr, memsz: s.memsz ?? BigInt(s.data.length), filesz: s.data.length, flags: s.flags })),
  );
  const sink = openSink(out);
  try {
    await sink.write(encodeHead(layout, notes));
    for (const s of sorted) await sink.write(s.data, true);
    await sink.write(encodeTail(layout));
    await sink.finish();
  } catch (err) {
    sink.abort();
    throw err;
  }
  return layout;
}
