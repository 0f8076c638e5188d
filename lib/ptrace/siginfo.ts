/** siginfo_t as the kernel lays it out on 64-bit Linux (include/uapi/asm-generic/siginfo.h). */
export interface Siginfo {
  signo: number;
  errno: number;
  code: number;
  /** Faulting address (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP). */
  addr?: bigint;
  /** Sender (SI_USER, SI_TKILL, SI_QUEUE, SIGCHLD). */
  pid?: number;
  uid?: number;
  /** SIGSYS from seccomp: the syscall number and audit arch. */
  syscall?: number;
  arch?: number;
  raw: Buffer;
}

export const SIGINFO_SIZE = 128;

/** si_code values the bridge distinguishes. */
export const SiCode = {
  SI_USER: 0,
  SI_KERNEL: 0x80,
  SI_TKILL: -6,
  TRAP_BRKPT: 1,
  TRAP_TRACE: 2,
  TRAP_HWBKPT: 4,
  /** ptrace_notify(SIGTRAP)'s: a step that delivered a signal, stopped at its handler's first instruction (kernel/signal.c, signal_delivered). */
  TRAP_NOTIFY: 5,
} as const;

/**
 * The one rule for "this SIGTRAP is a finished single step"
 * (arch/x86/kernel/step.c, user_single_step_report): TRAP_TRACE, or TRAP_BRKPT
 * when the step ended a syscall (as after an exec stop), or TRAP_NOTIFY when
 * the step delivered a signal and stopped at its handler. native/step.c is
 * handed PLAIN_STEP_CODE (Thread.stepWhileIn) and takes only that stop without
 * asking JS: TRAP_BRKPT may be a breakpoint too, which only Tracee's
 * describeSignal can tell.
 */
export const STEP_CODES: readonly number[] = [SiCode.TRAP_TRACE, SiCode.TRAP_BRKPT, SiCode.TRAP_NOTIFY];
export const PLAIN_STEP_CODE = SiCode.TRAP_TRACE;

const FAULT_SIGNALS = new Set([4, 5, 7, 8, 11]); // SIGILL SIGTRAP SIGBUS SIGFPE SIGSEGV
const SIGSYS = 31;
const SIGCHLD = 17;

export function decodeSiginfo(raw: Buffer): Siginfo {
  const info: Siginfo = { signo: raw.readInt32LE(0), errno: raw.readInt32LE(4), code: raw.readInt32LE(8), raw };
  if (info.signo === SIGSYS && info.code > 0) {
    info.addr = raw.readBigUInt64LE(16);
    info.syscall = raw.readInt32LE(24);
    info.arch = raw.readUInt32LE(28);
  } else if (FAULT_SIGNALS.has(info.signo) && info.code > 0) {
    info.addr = raw.readBigUInt64LE(16);
  } else if (info.code <= 0 || info.signo === SIGCHLD) {
    // Sent by a process (kill, tgkill, sigqueue) or a child's state change.
    info.pid = raw.readInt32LE(16);
    info.uid = raw.readUInt32LE(20);
  }
  return info;
}
