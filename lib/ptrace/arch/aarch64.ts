import type { ArchLayout } from './layout';

/** struct user_pt_regs (arch/arm64/include/uapi/asm/ptrace.h): x0..x30, sp, pc, pstate. */
const GPR_NAMES = [...Array.from({ length: 31 }, (_, i) => `x${i}`), 'sp', 'pc', 'pstate'] as const;

/** aarch64 reaches registers only through regsets; hardware breakpoints and
 *  watchpoints live in NT_ARM_HW_BREAK / NT_ARM_HW_WATCH, not in PEEKUSER. */
export const aarch64: ArchLayout = {
  name: 'aarch64',
  gprNames: GPR_NAMES,
  pc: 'pc',
  pcOffset: GPR_NAMES.indexOf('pc') * 8,
  sp: 'sp',
  fpregsSize: 528, // struct user_fpsimd_state: vregs[32] of 16 bytes, fpsr, fpcr, 2 reserved words
  breakpoint: Buffer.from([0x00, 0x00, 0x20, 0xd4]), // brk #0
  pcAfterBreakpoint: 0,
};

export interface Aarch64FpRegisters {
  v: Buffer[];
  fpsr: number;
  fpcr: number;
}

export function decodeFpsimd(raw: Buffer): Aarch64FpRegisters {
  return {
    v: Array.from({ length: 32 }, (_, i) => Buffer.from(raw.subarray(i * 16, i * 16 + 16))),
    fpsr: raw.readUInt32LE(512),
    fpcr: raw.readUInt32LE(516),
  };
}
