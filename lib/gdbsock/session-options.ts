import type { Request } from './requests';

/**
 * What gdb and gdbsock agreed on for one connection, in one object: the
 * qSupported features (GDB manual, "General Query Packets") and the Q packets
 * that change what a target reports (QPassSignals, QProgramSignals,
 * QCatchSyscalls, QThreadEvents). The server makes one per session and hands
 * it to its target by reference; a forked child's target gets the same
 * object, so a change reaches every process at once and nothing is copied.
 */
export class SessionOptions {
  /** Thread ids as pPID.TID, and stop replies naming their process. */
  multiprocess = false;
  /** Signals delivered to the program without stopping (QPassSignals, Linux numbers). */
  passSignals: ReadonlySet<number> = new Set();
  /**
   * Signals gdb lets reach the program (QProgramSignals, Linux numbers): on
   * detach, a thread's pending signal not in it is dropped. undefined until gdb says.
   */
  programSignals: ReadonlySet<number> | undefined = undefined;
  /** Syscalls reported as stops (QCatchSyscalls): undefined = off, empty set = all. */
  catchSyscalls: ReadonlySet<number> | undefined = undefined;
  /** Report execs as stops (exec-events); otherwise the new program just runs on. */
  execEvents = false;
  /** Report forks and vforks as stops and keep the child under trace (fork-events, vfork-events). */
  forkEvents = false;
  vforkEvents = false;
  /** Report thread creation (`create`) and thread exits (`w`) as stops (QThreadEvents). */
  threadEvents = false;
  /** QThreadOptions: each thread's options (thread-options.ts), by tid; a thread not here has none. */
  readonly threadOptions = new Map<number, number>();
  /** The descriptor gdb's packets arrive on (-1: none, or not a descriptor): a wait for a stop watches it for Ctrl-C. */
  inputFd = -1;
}

/** A Q packet that changes what targets report, applied; false for any other request. */
export function applySessionSetting(options: SessionOptions, r: Request): boolean {
  switch (r.kind) {
    case 'passSignals':
      options.passSignals = r.signals;
      return true;
    case 'programSignals':
      options.programSignals = r.signals;
      return true;
    case 'threadEvents':
      options.threadEvents = r.on;
      return true;
    case 'catchSyscalls':
      options.catchSyscalls = r.syscalls;
      return true;
    default:
      return false;
  }
}
