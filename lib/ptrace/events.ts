import type { Siginfo } from './siginfo';

/**
 * What a traced thread reports. Every event but 'exited' and 'killed' leaves
 * the thread stopped until it is resumed.
 */
export type TraceEvent =
  /**
   * A signal is about to be delivered; resume with it (or another, or 0) to decide its fate.
   * `trapAt`: a SIGTRAP raised by a trap instruction of the program's own at that
   * address (an int3 compiled in: gdb's "permanent breakpoint"); the pc is past it.
   */
  | { type: 'signal'; tid: number; signal: number; siginfo: Siginfo; trapAt?: bigint }
  /** A single-step finished. */
  | { type: 'step'; tid: number }
  /** A software breakpoint of ours was hit; the pc is already back at `address`. */
  | { type: 'breakpoint'; tid: number; address: bigint }
  /**
   * The trap of a software breakpoint removed while this thread was running
   * into it (its stop reaped after the removal); the pc is back at `address`,
   * where the original instruction now is.
   */
  | { type: 'removed-breakpoint'; tid: number; address: bigint }
  /** A hardware breakpoint or watchpoint fired; `dr6` (x86) says which. */
  | { type: 'hardware-trap'; tid: number; siginfo: Siginfo; dr6?: bigint }
  /** Stopped by PTRACE_INTERRUPT (interrupt(), stopAll(), attach). */
  | { type: 'interrupted'; tid: number }
  /** A thread created by clone, in its first stop. */
  | { type: 'thread-start'; tid: number }
  /** Job control stopped the process (SIGSTOP, SIGTSTP, ...); resume with listen() to keep it stopped. */
  | { type: 'group-stop'; tid: number; signal: number }
  | { type: 'clone'; tid: number; newTid: number }
  | { type: 'fork' | 'vfork'; tid: number; newPid: number }
  | { type: 'vfork-done'; tid: number }
  /** After a successful execve; `formerTid` is the thread that called it. */
  | { type: 'exec'; tid: number; formerTid: number }
  | { type: 'syscall-entry'; tid: number; nr: number; args: bigint[] }
  | { type: 'syscall-exit'; tid: number; rval: bigint; isError: boolean }
  | { type: 'seccomp'; tid: number; data: number }
  /** PTRACE_O_TRACEEXIT: about to exit with this wait status. */
  | { type: 'exiting'; tid: number; status: number }
  /** `execed`: the thread called execve from a non-leader tid, which vanished; it goes on as the leader. */
  | { type: 'exited'; tid: number; code: number; execed?: true }
  | { type: 'killed'; tid: number; signal: number; coreDumped: boolean };

export type TraceEventType = TraceEvent['type'];

/** How the whole process ended: the thread group leader's last word. */
export type ProcessEnd = { pid: number; code: number; signal?: undefined } | { pid: number; signal: number; coreDumped: boolean; code?: undefined };
