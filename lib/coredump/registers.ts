/**
 * Register layouts of a core's notes per architecture: where the general
 * registers sit in NT_PRSTATUS and how the FP note decodes. The register
 * names and orders are the ptrace bridge's (the kernel copies the same
 * regsets into cores: fs/binfmt_elf.c, fill_thread_core_info).
 */
import { type ArchLayout, aarch64, decodeFpsimd, decodeFxsave, x86_64 } from '../ptrace/arch';
import { Machine } from './elf';

export interface CoreArch {
  readonly machine: number;
  readonly layout: ArchLayout;
  /** sizeof(struct elf_prstatus): the common part (112 bytes), pr_reg, pr_fpvalid and padding. */
  readonly prstatusSize: number;
  /** Register notes, beyond NT_PRSTATUS, that the kernel writes per thread, in its regset order. */
  readonly extraRegsets: readonly number[];
  decodeFp(raw: Buffer): Record<string, unknown>;
}

/** Offset of pr_reg in struct elf_prstatus (include/linux/elfcore.h: elf_prstatus_common). */
export const PR_REG_OFFSET = 112;

export const X86_64: CoreArch = {
  machine: Machine.X86_64,
  layout: x86_64,
  prstatusSize: 336,
  // arch/x86/kernel/ptrace.c x86_64_regsets: GENERAL, FP, XSTATE (IOPERM and SSP only when in use).
  extraRegsets: [2 /* NT_PRFPREG */, 0x202 /* NT_X86_XSTATE */],
  decodeFp: (raw) => ({ ...decodeFxsave(raw) }),
};

export const AARCH64: CoreArch = {
  machine: Machine.AARCH64,
  layout: aarch64,
  prstatusSize: 392,
  // arch/arm64/kernel/ptrace.c aarch64_regsets, in order; absent features are skipped.
  extraRegsets: [2, 0x401, 0x402, 0x403, 0x404, 0x405, 0x406, 0x409, 0x40a],
  decodeFp: (raw) => ({ ...decodeFpsimd(raw) }),
};

export function coreArch(machine: number): CoreArch | undefined {
  if (machine === Machine.X86_64) return X86_64;
  if (machine === Machine.AARCH64) return AARCH64;
  return undefined;
}
