/**
 * Shared by the tests that compare extended registers with gdb: which XSAVE
 * components the installed gdb places right, and a copy of a core that gdb
 * can read where it would otherwise misplace them.
 *
 * gdb 13 assumes Intel's offsets for every CPU and ignores the kernel's
 * NT_X86_XSAVE_LAYOUT note; gdb 14 and later read the note (and CPUID when
 * live). Where gdb is wrong, tests use another oracle and say which.
 */
import fs from 'node:fs';
import { openCore } from '../lib/coredump';
import { type XsaveLayout, standardXsaveLayout } from '../lib/ptrace/arch/xsave';
import { gdbMajor } from './gdbsock/gdb';

/** Whether gdb places `feature` right in images of `layout`: it reads the layout (gdb 14+), or the offset is Intel's. */
export function gdbPlaces(layout: XsaveLayout, feature: number): boolean {
  if (gdbMajor() >= 14) return true;
  const mine = layout.components.find((c) => c.feature === feature);
  const intel = standardXsaveLayout(layout.xcr0).components.find((c) => c.feature === feature);
  return mine !== undefined && intel !== undefined && mine.offset === intel.offset;
}

/**
 * The components of `layout` that gdb misplaces: none on Intel or with gdb
 * 14+; PKRU (and AVX-512 on Zen 4) on AMD with gdb 13.
 */
export function misplacedByGdb(layout: XsaveLayout | null): number[] {
  return layout ? layout.components.filter((c) => !gdbPlaces(layout, c.feature)).map((c) => c.feature) : [];
}

/**
 * Copies `core` to `dest` so that gdb reads it without the XSAVE image where
 * it would misplace components of it: each NT_X86_XSTATE note gets a type
 * gdb does not know, and gdb takes x87 and SSE from NT_PRFPREG. Otherwise
 * gdb 13 drops whole threads' registers as ".reg-xstate too small". Returns
 * the features gdb would misplace (none: an unchanged copy).
 */
export function coreGdbCanRead(core: string, dest: string): number[] {
  fs.copyFileSync(core, dest);
  const parsed = openCore(core);
  try {
    const misplaced = misplacedByGdb(parsed.xsaveLayout);
    if (misplaced.length === 0) return [];
    const fd = fs.openSync(dest, 'r+');
    try {
      const unknownType = Buffer.alloc(4);
      unknownType.writeUInt32LE(NOT_A_NOTE_TYPE);
      for (const note of parsed.notes) {
        // n_type is the third u32 of the note's header.
        if (note.name === 'LINUX' && note.type === NT_X86_XSTATE) fs.writeSync(fd, unknownType, 0, 4, note.offset + 8);
      }
    } finally {
      fs.closeSync(fd);
    }
    return misplaced;
  } finally {
    parsed.close();
  }
}

const NT_X86_XSTATE = 0x202;
/** A LINUX note type no kernel or gdb uses. */
const NOT_A_NOTE_TYPE = 0x7fff;

/** The registers of a component that `info registers` prints (the vector registers it leaves to `info all-registers`). */
export function infoRegistersNames(feature: number): string[] {
  if (feature === 5) return Array.from({ length: 8 }, (_, i) => `k${i}`);
  return [];
}
