/**
 * What the RSP server needs from whatever it debugs: a live process (targets/live/),
 * and later a core file or the kernel. The server speaks the protocol against
 * this interface only, never against ptrace (like delve's proc backends).
 * Thread ids are kernel tids; the process id is `pid`.
 */
import type { RegisterLayout } from './registers';
import type { SessionOptions } from './session-options';
import type { LibraryListStart } from './targets/svr4';

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
        | {
            type: 'watch' | 'rwatch' | 'awatch';
            address: bigint;
            /** Other watchpoints the same access fired (gdb 17 takes one watch entry per watchpoint). */
            others?: { type: 'watch' | 'rwatch' | 'awatch'; address: bigint }[];
          }
        | { type: 'syscall_entry' | 'syscall_return'; nr: number }
        | { type: 'exec'; path: string }
        | { type: 'fork' | 'vfork'; childPid: number; childTid: number }
        /** QThreadOptions' clone option: the thread made thread childTid, held stopped until gdb resumes it. */
        | { type: 'clone'; childPid: number; childTid: number }
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

/**
 * A target-side breakpoint command, agent-expression bytecode too: run at
 * each hit instead of reporting it (gdb's `set dprintf-style agent`).
 */
export type BreakpointCommand = Buffer;

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
  writeRegister(tid: number, regno: number, value: Buffer): void;
  /** G: the registers `data` covers, in the layout's order and sizes (a register cut short by its end is not written). */
  writeRegisters(tid: number, data: Buffer): void;

  /** Up to `length` bytes; shorter at unmapped memory; empty if nothing is readable. Big reads may be asynchronous. */
  readMemory(address: bigint, length: number): Buffer | Promise<Buffer>;
  /** Returns the bytes written. */
  writeMemory(address: bigint, data: Buffer): number;

  /** With `commands`, a hit whose condition holds runs them and is not reported. */
  insertBreakpoint(type: BreakpointType, address: bigint, length: number, conditions?: Condition[], commands?: BreakpointCommand[]): void;
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
  /** Writes `data` at `offset` into the siginfo of the signal `tid` stopped for. */
  writeSiginfo(tid: number, data: Buffer, offset: number): void;
  /** qXfer:libraries-svr4: every namespace's libraries, or one namespace's from `from.start` on. */
  librariesSvr4(from?: LibraryListStart): Promise<string | undefined>;

  /**
   * What gdb and gdbsock agreed on for the session (session-options.ts), held
   * by reference: the server changes it as gdb's Q packets come, and a target
   * reads it where it decides what to report. Targets that report nothing ignore it.
   */
  useSession(options: SessionOptions): void;

  /** What this target can do beyond the above; the server asks here and nowhere else. */
  readonly capabilities: Capabilities;
}

/**
 * Thrown by a target that cannot do what gdb asks at all (a core file cannot
 * run or be written). The server answers `E.message`, which gdb prints to the
 * user where it shows remote errors (GDB manual, "Standard Replies").
 */
export class TargetRefusal extends Error {
  override name = 'TargetRefusal';
}

/**
 * Thrown by insertBreakpoint for a kind the hardware cannot do (a read-only
 * watchpoint on x86): the server answers empty, as gdbserver does, and gdb
 * falls back on an access watchpoint whose writes it filters out itself.
 */
export class BreakpointKindUnsupported extends Error {
  override name = 'BreakpointKindUnsupported';
}

/**
 * The optional parts of a target, each an interface of its own (as delve's
 * RecordingManipulation): a target names the ones it implements, usually
 * itself, and leaves the others out.
 */
export interface Capabilities {
  multiProcess?: MultiProcess;
  forkEvents?: ForkEvents;
  partialRegisters?: PartialRegisters;
  registerHex?: RegisterHex;
  hostIo?: OwnFiles;
  runningProcess?: RunningProcess;
  nonStop?: NonStop;
  tracepoints?: TracepointSites;
  memoryInto?: MemoryInto;
}

/**
 * A target whose memory can be read at once into a buffer the caller keeps,
 * where readMemory of a big range would go to libuv's pool and allocate a
 * buffer for each read: read-ahead.ts reads each piece of a dump this way
 * after the last reply has gone out, while gdb is busy decoding it.
 */
export interface MemoryInto {
  /** Reads up to buffer.length bytes at `address` into `buffer` as readMemory would; the count read (short at unmapped memory). Throws if none could be. */
  readMemoryInto(address: bigint, buffer: Buffer): number;
}

/**
 * A target that can run gdb's tracepoints (tracing/tracing.ts): a trap at
 * `address` whose every hit calls `hit` while the thread is stopped there,
 * then lets the thread run on unreported (unless gdb has a breakpoint of
 * its own there, which is reported as ever). A hit that returns a
 * TracepointStepping has the thread single-stepped while it says so
 * (while-stepping), when gdb had let the thread run. Returns what takes
 * the trap out again. Throws a RangeError where no trap can go (unmapped).
 */
export interface TracepointSites {
  insertTracepoint(address: bigint, hit: (tid: number) => TracepointStepping | undefined): () => void;
}

/** Called after each quiet single step of a thread since its hit: collects, and says whether to take another. */
export type TracepointStepping = (tid: number) => boolean;

/**
 * A target that can run in non-stop mode (GDB manual, "Remote Non-Stop"):
 * a stop stops its own thread only, the others run on. While it is on,
 * resume() takes per-thread actions, `stop` ones included (vCont;t, whose
 * stop is reported with signal 0), and returns at once; wait() yields each
 * stop as it happens, one per call, without stopping any other thread;
 * interrupt() stops one running thread and reports it with SIGINT (vCtrlC).
 */
export interface NonStop {
  /**
   * QNonStop: switched while every thread is stopped (gdb sends it before it
   * resumes any). `untold`: gdb has heard of no stop of this target yet
   * (QNonStop comes before `?` when it connects to a process gdbsock
   * attached to): only the thread of lastStop() stays stopped for it, and
   * the others, stopped by the attach alone, run on, as under gdbserver
   * (linux-low.cc, resume_stopped_resumed_lwps). `?` then tells of that one
   * stop, and gdb stops the others itself (vCont;t) if it wants them stopped.
   */
  setNonStop(on: boolean, untold?: boolean): void;
  /** The stop of each thread gdb has stopped now, for `?`: the stop last reported for it, or signal 0. */
  stoppedThreads(): StopEvent[];
  /**
   * Each stop, handed to `listener` as it is reported, synchronously, while
   * its thread is still stopped (instead of wait()); undefined stops that.
   */
  onStop(listener: ((event: StopEvent) => void) | undefined): void;
}

/**
 * A target that is a process running on this machine now, so /proc/PID
 * describes it (its memory map, parent and ids: LLDB's qMemoryRegionInfo and
 * qProcessInfo). A core's or the kernel's target is not one: a process of
 * the same pid may exist and is another.
 */
export interface RunningProcess {
  /** The process memory and breakpoint requests apply to now. */
  readonly pid: number;
}

/**
 * A target that debugs several processes (forks gdb keeps): the process of a
 * thread; the process that memory, breakpoint and qXfer requests apply to
 * (gdb's Hg); detaching or killing one process.
 */
export interface MultiProcess {
  pidOf(tid: number): number | undefined;
  selectProcess(pid: number): void;
  /**
   * Debugs `target`'s process too, from now on the current one: extended-remote
   * gdb runs or attaches another program while it debugs these (vRun, vAttach
   * for a second inferior), and gdbserver keeps them all (server.cc,
   * handle_v_requests). False, taking nothing, for a target it cannot hold.
   */
  addProcess(target: Target): boolean;
  /** Resolves to the number of processes still debugged. */
  detachProcess(pid: number): Promise<number>;
  killProcess(pid: number): Promise<number>;
}

/**
 * A target that can report forks and vforks (gdb's fork-events) and hand over
 * the child of one it reported; targets/inferiors.ts then holds both.
 */
export interface ForkEvents {
  /** The child of a fork reported in a stop, as a target of its own (once: the caller keeps it). */
  takeForkedChild(pid: number): Target | undefined;
}

/** A target whose threads may lack some registers (sent as 'xx', gdb shows <unavailable>). */
export interface PartialRegisters {
  /** undefined: every register of `tid` is known. */
  unavailableRegisters(tid: number): ReadonlySet<number> | undefined;
}

/** readRegister as wire hex, where the target has a cheaper way (every stop reply asks for a score of them). */
export interface RegisterHex {
  readRegisterHex(tid: number, regno: number): string;
}

/**
 * A target that answers Host I/O packets (the text after "vFile:") itself, or
 * returns undefined to leave one to the server's (any file, in the process's
 * mount namespace). A core's target serves its own files this way: the process is gone.
 */
export interface OwnFiles {
  hostIo(packet: Buffer): Buffer | string | undefined;
}
