import type { ArchLayout } from './layout';

/** struct user_regs_struct (arch/x86/include/asm/user_64.h), in order. */
const GPR_NAMES = [
  'r15',
  'r14',
  'r13',
  'r12',
  'rbp',
  'rbx',
  'r11',
  'r10',
  'r9',
  'r8',
  'rax',
  'rcx',
  'rdx',
  'rsi',
  'rdi',
  'orig_rax',
  'rip',
  'cs',
  'eflags',
  'rsp',
  'ss',
  'fs_base',
  'gs_base',
  'ds',
  'es',
  'fs',
  'gs',
] as const;

/** offsetof(struct user, u_debugreg): regs 216, fpvalid+pad 8, i387 512, 3 sizes,
 *  start_code/stack, signal, reserved+pad, u_ar0, u_fpstate, magic, u_comm[32]. */
const DEBUGREG_OFFSET = 848;

export const x86_64: ArchLayout = {
  name: 'x86_64',
  gprNames: GPR_NAMES,
  pc: 'rip',
  pcOffset: GPR_NAMES.indexOf('rip') * 8,
  pcUserOffset: GPR_NAMES.indexOf('rip') * 8, // struct user starts with the regs
  sp: 'rsp',
  fpregsSize: 512,
  breakpoint: Buffer.from([0xcc]),
  pcAfterBreakpoint: 1,
  debugRegisters: { count: 8, offset: (i) => DEBUGREG_OFFSET + i * 8 },
};

/** The FXSAVE area (struct user_fpregs_struct) decoded. */
export interface X86FpRegisters {
  fcw: number;
  fsw: number;
  ftw: number;
  fop: number;
  fip: bigint;
  fdp: bigint;
  mxcsr: number;
  mxcsrMask: number;
  /** st0..st7, 10 significant bytes each in 16-byte slots. */
  st: Buffer[];
  /** xmm0..xmm15, 16 bytes each. */
  xmm: Buffer[];
}

export function decodeFxsave(raw: Buffer): X86FpRegisters {
  const slots = (base: number, count: number) => Array.from({ length: count }, (_, i) => Buffer.from(raw.subarray(base + i * 16, base + i * 16 + 16)));
  return {
    fcw: raw.readUInt16LE(0),
    fsw: raw.readUInt16LE(2),
    ftw: raw.readUInt16LE(4),
    fop: raw.readUInt16LE(6),
    fip: raw.readBigUInt64LE(8),
    fdp: raw.readBigUInt64LE(16),
    mxcsr: raw.readUInt32LE(24),
    mxcsrMask: raw.readUInt32LE(28),
    st: slots(32, 8),
    xmm: slots(160, 16),
  };
}

/** Writes xmm registers back into an FXSAVE image. */
export function encodeXmm(raw: Buffer, index: number, value: Buffer): void {
  if (index < 0 || index > 15 || value.length !== 16) throw new RangeError('xmm index 0..15 and 16 bytes');
  value.copy(raw, 160 + index * 16);
}
