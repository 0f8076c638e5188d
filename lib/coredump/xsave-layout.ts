/**
 * The XSAVE layout of a core's NT_X86_XSTATE notes, read and written.
 *
 * Reading: the kernel (6.7+) appends NT_X86_XSAVE_LAYOUT after the thread
 * notes (arch/x86/kernel/fpu/xstate.c, elf_coredump_extra_notes_write),
 * saying where its CPU put each component. A core without one (an older
 * kernel, gdb's gcore before 14) can only be read with Intel's offsets,
 * the one layout every reader assumes; that is a guess, and wrong for such
 * a core from an AMD CPU with AVX-512.
 *
 * Writing (snapshots): the images are moved into Intel's offsets and the
 * note describes exactly those. gdb 13 ignores the note and reads Intel's
 * offsets whatever the CPU; gdb 14+ and hostkit follow the note. Keeping
 * the CPU's own offsets with a note would be right for gdb 14+ only, and
 * gdb 13 would warn ".reg-xstate too small" and lose every thread's
 * registers on an AMD CPU; the standard layout is right for both.
 */
import {
  NT_X86_XSAVE_LAYOUT,
  type XsaveLayout,
  encodeXsaveLayoutNote,
  relayoutXstate,
  standardXsaveLayout,
  xcr0Of,
  xsaveLayoutFromNote,
} from '../ptrace/arch/xsave';
import { CoreFormatError } from './errors';
import type { Note } from './notes';

/** The layout of a core's xstate notes: its NT_X86_XSAVE_LAYOUT, else Intel's; null with no xstate note. */
export function coreXsaveLayout(notes: readonly Note[], xstate: Buffer | undefined): XsaveLayout | null {
  if (!xstate) return null;
  const xcr0 = xcr0Of(xstate);
  const note = notes.find((n) => n.name === 'LINUX' && n.type === NT_X86_XSAVE_LAYOUT);
  if (!note) return standardXsaveLayout(xcr0);
  if (note.desc.length % 16 !== 0) {
    throw new CoreFormatError(note.offset, `NT_X86_XSAVE_LAYOUT of ${note.desc.length} bytes is not whole 16-byte {type, size, offset, flags} entries`);
  }
  return xsaveLayoutFromNote(note.desc, xcr0);
}

export interface StandardXstate {
  /** Rewrites one thread's image (in `from`'s layout) into the standard layout. */
  convert(xstate: Buffer): Buffer;
  /** The NT_X86_XSAVE_LAYOUT note that describes the converted images. */
  note: { name: string; type: number; desc: Buffer };
}

/** How to write images of layout `from` (the CPU's) into a core gdb 13 and gdb 14+ both read right. */
export function standardXstate(from: XsaveLayout): StandardXstate {
  const to = standardXsaveLayout(from.xcr0);
  return {
    convert: (xstate) => relayoutXstate(xstate, from, to),
    note: { name: 'LINUX', type: NT_X86_XSAVE_LAYOUT, desc: encodeXsaveLayoutNote(to) },
  };
}
