/**
 * What the RSP server needs from whatever it debugs: a live process (targets/live/),
 * and later a core file or the kernel. The server speaks the protocol against
 * this interface only, never against ptrace (like delve's proc backends).
 * Thread ids are kernel tids; the process id is `pid`.
 */
import type { RegisterLayout } from './registers';

export interface ThreadInfo {
  tid: number;
  name?: string;
  core?: number;
  /** Free text gdb's `info threads` shows in parentheses (the body of a qXfer:threads <thread>). */
  extra?: string;
}

/** Why the target stopped, in gdb's terms (GDB manual, "Stop Reply Packets"). */
export type StopEvent =
  | {
      kind: 'signal';
      tid: number;
      /** Linux signal number; 0 for a plain stop (attach). */
      signal: number;
      reason?:
        | { type: 'swbreak' }
        | { type: 'hwbreak' }
        | { type: 'watch' | 'rwatch' | 'awatch'; address: bigint }
        | { type: 'syscall_entry' | 'syscall_return'; nr: number }
        | { type: 'exec'; path: string }
        | { type: 'fork' | 'vfork'; childPid: number; childTid: number }
        | { type: 'vforkdone' }
        | { type: 'create' };
    }
  | { kind: 'exited'; pid: number; code: number }
  | { kind: 'killed'; pid: number; signal: number }
  /** `pid`: the thread's process, when the target debugs more than one (forks). */
  | { kind: 'thread-exited'; tid: number; code: number; pid?: number }
  /** Nothing left to run (all threads exited or none resumed). */
  | { kind: 'no-resumed' };

/**
 * One vCont action for a thread (tid) or, with tid undefined, for every thread without its own;
 * with `pid` (and no tid), for every thread of that process only (`pPID.-1`).
 */
export type ResumeAction =
  | { type: 'continue'; signal: number; tid?: number; pid?: number }
  | { type: 'step'; signal: number; tid?: number; pid?: number }
  /** Step while the pc stays in [start, end) ("range stepping"). */
  | { type: 'range'; start: bigint; end: bigint; tid?: number; pid?: number }
  | { type: 'stop'; tid?: number; pid?: number };

export type BreakpointType = 'software' | 'hardware' | 'write' | 'read' | 'access';

/** A target-side breakpoint condition: agent-expression bytecode (GDB manual, "Agent Expressions"). */
export type Condition = Buffer;

export interface Target {
  readonly pid: number;
  readonly registers: RegisterLayout;
  /** True when gdbsock attached to a process it did not start (qAttached). */
  readonly attached: boolean;

  threads(): ThreadInfo[];
  isAlive(tid: number): boolean;
  /** Every register of a stopped thread, in the layout's order and sizes. */
  readRegisters(tid: number): Buffer;
  readRegister(tid: number, regno: number): Buffer;
  /** readRegister as wire hex, where the target has a cheaper way (every stop reply asks for a score of them). */
  readRegisterHex?(tid: number, regno: number): string;
  writeRegister(tid: number, regno: number, value: Buffer): void;

  /** Up to `length` bytes; shorter at unmapped memory; empty if nothing is readable. Big reads may be asynchronous. */
  readMemory(address: bigint, length: number): Buffer | Promise<Buffer>;
  /** Returns the bytes written. */
  writeMemory(address: bigint, data: Buffer): number;

  insertBreakpoint(type: BreakpointType, address: bigint, length: number, conditions?: Condition[]): void;
  removeBreakpoint(type: BreakpointType, address: bigint, length: number): void;

  /** Resumes per the actions; the next stop comes from wait(). */
  resume(actions: ResumeAction[]): Promise<void>;
  /** The next stop to report, all threads stopped (all-stop mode). */
  wait(): Promise<StopEvent>;
  /** Ctrl-C: stop everything; wait() then reports SIGINT. */
  interrupt(): void;
  /** The stop the target is in now (the `?` packet). */
  lastStop(): StopEvent;

  /** Lets the process go on untouched. */
  detach(): Promise<void>;
  kill(): Promise<void>;

  /** Data for qXfer objects; undefined when this target has none. */
  auxv(): Buffer | undefined;
  /** The program of process `pid` (qXfer:exec-file's annex), or of the current one. */
  execFile(pid?: number): string | undefined;
  siginfo(tid: number): Buffer | undefined;
  writeSiginfo(tid: number, data: Buffer): void;
  librariesSvr4(): Promise<string | undefined>;

  /** Signals delivered to the program without stopping (QPassSignals). */
  setPassSignals(signals: Set<number>): void;
  /** Report execs as stops (gdb's exec-events); otherwise the new program just runs on. */
  setExecEvents(on: boolean): void;
  /** Syscalls reported as stops (QCatchSyscalls): undefined = off, empty set = all. */
  setCatchSyscalls(syscalls: Set<number> | undefined): void;

  /** Report forks/vforks as stops and keep the child under trace (gdb's fork-events/vfork-events). */
  setForkEvents?(fork: boolean, vfork: boolean): void;
  /** Report thread creation (`create`) and thread exits (`w`) as stops (QThreadEvents). */
  setThreadEvents?(on: boolean): void;

  /**
   * Targets that debug several processes (forks gdb keeps): the process of a
   * thread; the process that memory, breakpoint and qXfer requests apply to
   * (gdb's Hg); detaching or killing one process. The others are single-process.
   */
  pidOf?(tid: number): number | undefined;
  selectProcess?(pid: number): void;
  /** Resolves to the number of processes still debugged. */
  detachProcess?(pid: number): Promise<number>;
  killProcess?(pid: number): Promise<number>;

  /** Registers of `tid` the target does not know (sent as 'xx', gdb shows <unavailable>); absent: all known. */
  unavailableRegisters?(tid: number): ReadonlySet<number> | undefined;

  /**
   * Answers a Host I/O packet (the text after "vFile:") itself, or returns
   * undefined to leave it to the server's (any file, in the process's mount
   * namespace). A core's target serves its own files this way: the process is gone.
   */
  hostIo?(packet: Buffer): Buffer | string | undefined;
}

/**
 * Thrown by a target that cannot do what gdb asks at all (a core file cannot
 * run or be written). The server answers `E.message`, which gdb prints to the
 * user where it shows remote errors (GDB manual, "Standard Replies").
 */
export class TargetRefusal extends Error {
  override name = 'TargetRefusal';
}
