import { EventEmitter, on } from 'node:events';
import { HostkitError, SystemError, checkPid, hasCode } from '../errors';
import { addon } from '../native';
import { stat, status, tasks } from '../procfs';
import { ptraceRefusal } from '../procfs/ptrace-access';
import { type ArchLayout, hostArch } from './arch';
import { Breakpoints } from './breakpoints';
import { DEFAULT_OPTIONS, Option, Request, Signal } from './constants';
import type { ProcessEnd, TraceEvent } from './events';
import { type ExecString, type LaunchOptions, planLaunch } from './launch';
import { reapLeftovers } from './leftovers';
import { RemoteSyscalls } from './remote';
import { Memory } from './memory';
import { SiCode, STEP_CODES } from './siginfo';
import { Thread, nextEvents } from './thread';
import { type ExitHook, tracer } from './tracer';
import { type WaitStatus, decodeWaitStatus } from './wait-status';

/** How long a hidden stop (remote.ts) is waited for on the JS thread before the event loop takes over. */
const HIDDEN_SETTLE_MS = 5;
/** How long stopAll() blocks the JS thread for interrupted threads before leaving them to the event loop. */
const SETTLE_MS = 20;

export interface AttachOptions {
  /** Extra PTRACE_O_* options; clone, exec and syscall-good are always on. */
  options?: number;
}

/** A wait status that leaves the thread stopped with something to report. */
type StopStatus = Exclude<WaitStatus, { kind: 'exited' | 'killed' | 'interrupt-stop' }>;

/**
 * A traced process and its threads. Events ('event', and each event's type)
 * are emitted as the kernel reports them (a thread's end with the Thread,
 * gone from `threads`); 'exit' once the process is gone;
 * 'child' with a new Tracee when a traced fork or vfork makes one.
 */
export class Tracee extends EventEmitter implements ExitHook {
  readonly threads = new Map<number, Thread>();
  /** Threads whose tid vanished (they called exec) before the exec stop came: see onVanished. */
  private readonly execing = new Map<number, Thread>();
  /** The callers of exec stops already seen whose tids have not vanished yet. */
  private readonly execedBy = new Set<number>();
  readonly memory: Memory;
  /** Threads whose stops are ours (a remote system call's steps), not to be told to listeners. */
  private readonly hidden = new Set<number>();
  readonly breakpoints: Breakpoints;
  readonly arch: ArchLayout = hostArch();
  state: 'traced' | 'detached' | 'exited' = 'traced';
  end: ProcessEnd | undefined;
  /**
   * Thread creation is transparent: a thread that called clone is resumed as
   * it was after its clone event, and the new thread after its first stop,
   * unless a stopAll() is under way. Both events are still emitted.
   */
  autoResumeNewThreads = true;
  private stopping = 0;
  private readonly endWaiters: ((end: ProcessEnd) => void)[] = [];

  private constructor(
    readonly pid: number,
    /** Started by launch() (killed if Node dies) rather than attached. */
    readonly launched: boolean,
    readonly options: number,
  ) {
    super();
    this.memory = new Memory(pid, () => this.threads.keys());
    this.breakpoints = new Breakpoints(this.memory, this.arch);
    tracer.addExitHook(this);
  }

  /**
   * Seizes every thread of a running process (looping over /proc/PID/task
   * until no new one shows up), then stops them all.
   */
  static async attach(pid: number, options: AttachOptions = {}): Promise<Tracee> {
    checkPid(pid);
    refuseOwnChild(pid);
    const tracee = new Tracee(pid, false, DEFAULT_OPTIONS | (options.options ?? 0));
    try {
      tracee.seizeAll();
      await tracee.stopAll();
    } catch (err) {
      tracee.abandon();
      throw err;
    }
    return tracee;
  }

  /** Starts `file` under trace, stopped at its first instruction (after execve). Bytes (Uint8Array) reach execve as they are. */
  static launch(file: ExecString, args: readonly ExecString[] = [], options: LaunchOptions = {}): Tracee {
    const plan = planLaunch(file, args, options);
    const ptraceOptions = DEFAULT_OPTIONS | Option.EXITKILL | (options.options ?? 0);
    const pid = addon.launch(plan.path, plan.argv, plan.envp, plan.cwd, plan.stdio, ptraceOptions, plan.newProcessGroup, plan.noRandomization);
    const tracee = new Tracee(pid, true, ptraceOptions);
    tracee.adopt(pid, false).noteStop({ type: 'exec', tid: pid, formerTid: pid });
    return tracee;
  }

  /** New threads and the threads that cloned them stay stopped after their events: the owner resumes them (see autoResumeNewThreads). */
  holdNewThreads(): void {
    this.autoResumeNewThreads = false;
  }

  /** Forgets every thread's pending signal (Thread.dropPendingSignal): a detach then delivers none. */
  dropPendingSignals(): void {
    for (const t of this.threads.values()) t.dropPendingSignal();
  }

  /**
   * System calls made by `thread` (default the leader) on our behalf while it is
   * stopped: `await tracee.remote().syscall('getpid')` (see remote.ts).
   */
  remote(thread: Thread | number | undefined = this.leader): RemoteSyscalls {
    const t = typeof thread === 'number' ? this.thread(thread) : thread;
    if (!t) throw new HostkitError('ERR_HOSTKIT_NO_THREAD', `process ${this.pid} has no thread to make the call`);
    return new RemoteSyscalls(this, t);
  }

  /**
   * Resumes `thread` with `resume` and gives its next event without telling
   * listeners (an exit is still told). `soon`: the stop is expected within
   * milliseconds, so it is waited for on the JS thread first.
   */
  async hiddenStop(thread: Thread, resume: () => void, soon = true): Promise<TraceEvent> {
    this.hidden.add(thread.tid);
    try {
      const next = thread.nextEvent();
      const seen = thread.events;
      resume();
      // A stop that follows within microseconds (a step, a short batch) is waited for on this thread
      // instead of through the event loop's SIGCHLD wake-up, as gdbsock waits for a step.
      if (soon) tracer.settle(HIDDEN_SETTLE_MS, () => thread.events !== seen);
      return await next;
    } finally {
      this.hidden.delete(thread.tid);
    }
  }

  get leader(): Thread | undefined {
    return this.threads.get(this.pid);
  }

  thread(tid: number): Thread {
    const t = this.threads.get(tid);
    if (!t) throw new SystemError(3, 'thread', { pid: this.pid, tid });
    return t;
  }

  /** Interrupts every running thread and waits until all are stopped (threads born meanwhile too). */
  async stopAll(): Promise<void> {
    this.stopping++;
    try {
      for (;;) {
        const running = [...this.threads.values()].filter((t) => t.state === 'running' && !t.zombie);
        if (running.length === 0) return;
        for (const t of running) if (!t.starting && !t.interruptRequested) interruptQuietly(t);
        const stops = nextEvents(running, SETTLE_MS);
        // A leader gone ahead of its threads never stops: wait for the others only (read from /proc
        // only when the leader has not stopped within the settle, so no cost to a live one).
        if (this.leader?.state === 'running' && running.includes(this.leader) && this.leaderExited()) continue;
        await stops;
      }
    } finally {
      this.stopping--;
    }
  }

  /**
   * True when the leader has exited while other threads live on: a zombie
   * (kernel/exit.c, delay_group_leader) that PTRACE_INTERRUPT cannot stop,
   * whose exit status comes only with the last thread's. Read from /proc once
   * the leader is running; remembered (Thread.zombie) until it stops again.
   */
  leaderExited(): boolean {
    const leader = this.leader;
    if (leader?.state !== 'running' || this.threads.size < 2) return false;
    if (!leader.zombie) leader.zombie = isZombie(this.pid);
    return leader.zombie;
  }

  /** Continues every stopped thread, each with the signal it stopped for. */
  resumeAll(): void {
    for (const t of this.threads.values()) if (t.state === 'stopped') t.cont();
  }

  /**
   * Leaves the process as it was: stops it, puts breakpoint bytes back and
   * detaches every thread with the signal it was about to receive.
   */
  async detach(): Promise<void> {
    if (this.state !== 'traced') return;
    await this.stopAll();
    if (this.state !== 'traced') return; // it exited meanwhile
    this.breakpoints.removeAll();
    for (const t of this.threads.values()) detachQuietly(t);
    // Dying threads (and a zombie leader) cannot be detached: reaped instead (leftovers.ts), before
    // the detach is done, as gdbserver does: the process is gone by then for whoever waits for it.
    const threads = [...this.threads.values()];
    const left = threads.filter((t) => t.state !== 'exited').map((t) => t.tid);
    // A leader gone ahead of threads let go alive is reaped whenever they end, not waited for.
    const leaderMayWait = this.leader?.zombie === true && threads.length > left.length;
    this.finish('detached');
    if (left.length) await reapLeftovers(this.pid, left, leaderMayWait);
  }

  /** SIGKILL to the whole process; 'exit' follows. */
  kill(): void {
    // A leader gone ahead of its threads takes no signal (tgkill to a zombie delivers nothing): one of them does.
    const live = this.leaderExited() ? [...this.threads.values()].find((t) => t.tid !== this.pid) : undefined;
    const leader = live ?? this.leader ?? this.threads.values().next().value;
    leader?.kill();
    for (const t of this.threads.values()) t.dying();
  }

  /** How the process ended, once it has. */
  ended(): Promise<ProcessEnd> {
    if (this.end) return Promise.resolve(this.end);
    return new Promise((resolve) => this.endWaiters.push(resolve));
  }

  /** Every TraceEvent from now on, as an async stream. */
  events(): AsyncIterableIterator<TraceEvent> {
    const iterator = on(this, 'event');
    return (async function* () {
      for await (const [event] of iterator) yield event as TraceEvent;
    })();
  }

  /** On Node's exit: put breakpoints back and let stopped threads go; the kernel detaches the rest. */
  onNodeExit(): void {
    if (this.state !== 'traced') return;
    try {
      this.breakpoints.removeAll();
    } catch {
      // the process may already be gone
    }
    for (const t of this.threads.values()) if (t.state === 'stopped') detachQuietly(t);
  }

  private seizeAll(): void {
    for (let added = true; added; ) {
      added = false;
      for (const tid of tasks(this.pid)) {
        if (this.threads.has(tid)) continue;
        if (this.seize(tid)) added = true;
      }
    }
  }

  /** Seizes one thread; false if it died first. */
  private seize(tid: number): boolean {
    try {
      addon.ptrace(Request.SEIZE, tid, 0, this.options);
      this.adopt(tid, false);
      return true;
    } catch (err) {
      if (tid !== this.pid && hasCode(err, 'ESRCH')) return false;
      // A thread born to a thread we seized is ours already (auto-attached by TRACECLONE).
      if (tid !== this.pid && hasCode(err, 'EPERM') && tracedByUs(this.pid, tid)) {
        this.adopt(tid, true);
        return true;
      }
      const e = err as SystemError;
      const hint = hasCode(err, 'EPERM') ? ptraceRefusal(this.pid) : undefined;
      throw new SystemError(e.errno, e.syscall, { pid: this.pid, tid, hint });
    }
  }

  private adopt(tid: number, starting: boolean): Thread {
    const existing = this.threads.get(tid);
    if (existing) return existing;
    const thread = new Thread(tid, this.pid, this.arch, { starting });
    this.threads.set(tid, thread);
    tracer.add({
      tid,
      onWaitStatus: (s) => this.onWaitStatus(thread, s),
      onVanished: () => this.onVanished(thread),
      onStepped: (registers) => this.onStepped(thread, registers),
    });
    tracer.setRunning(tid, true);
    return thread;
  }

  private onWaitStatus(thread: Thread, status: number): void {
    const ws = decodeWaitStatus(status);
    switch (ws.kind) {
      case 'exited':
        return this.threadEnded(thread, { type: 'exited', tid: thread.tid, code: ws.code });
      case 'killed':
        return this.threadEnded(thread, { type: 'killed', tid: thread.tid, signal: ws.signal, coreDumped: ws.coreDumped });
      case 'interrupt-stop':
        return this.onInterruptStop(thread);
      default: {
        thread.noteStopped(); // registers read while describing the stop are kept for the rest of it
        const event = this.describeStopUnlessKilled(thread, ws);
        if (!event) return;
        this.stopped(thread, event);
        if (event.type === 'clone' && this.resumesThreadCreation() && thread.state === 'stopped') thread.resumeAsBefore();
        return;
      }
    }
  }

  /** A stop Thread.stepWhileIn saw to be a plain step, with the registers it read: nothing to ask the kernel. */
  private onStepped(thread: Thread, registers: Buffer): void {
    thread.noteStopped(registers);
    this.stopped(thread, { type: 'step', tid: thread.tid });
  }

  private resumesThreadCreation(): boolean {
    return this.autoResumeNewThreads && this.stopping === 0;
  }

  /**
   * A tid that vanished without an exit status: a thread that called exec
   * and took the leader's tid (kernel/exec.c, de_thread). Its end is told
   * after the exec stop, which comes on the leader's tid and may still be on
   * its way (the new program loads first): told before, the thread would look
   * like one that exited while the process ran on (gdbsock then answered a
   * scheduler-locked continue with "no resumed threads left").
   */
  private onVanished(thread: Thread): void {
    if (this.execedBy.delete(thread.tid)) this.threadEnded(thread, { type: 'exited', tid: thread.tid, code: 0, execed: true });
    else this.execing.set(thread.tid, thread);
  }

  private onInterruptStop(thread: Thread): void {
    if (thread.starting) {
      thread.starting = false;
      this.stopped(thread, { type: 'thread-start', tid: thread.tid });
      const cloned = thread.tid !== this.pid; // a forked child's first thread waits for its owner
      if (cloned && this.resumesThreadCreation() && thread.state === 'stopped') thread.cont(0);
    } else if (thread.interruptRequested || thread.lastResume === Request.LISTEN) {
      // A listening thread traps again when its group-stop ends (SIGCONT): report it.
      this.stopped(thread, { type: 'interrupted', tid: thread.tid });
    } else {
      // A PTRACE_INTERRUPT that reached an already stopped thread fires on its next resume: swallow it.
      thread.state = 'stopped';
      thread.resumeAsBefore();
    }
  }

  /**
   * The stop's event, or undefined when SIGKILL came between the wait and the
   * ptrace requests that describe it (every request then fails with ESRCH):
   * the stop is gone, and the thread's death is its next status.
   */
  private describeStopUnlessKilled(thread: Thread, ws: StopStatus): TraceEvent | undefined {
    try {
      return this.describeStop(thread, ws);
    } catch (err) {
      if (!hasCode(err, 'ESRCH')) throw err;
      thread.dying();
      return undefined;
    }
  }

  private describeStop(thread: Thread, ws: StopStatus): TraceEvent {
    const tid = thread.tid;
    switch (ws.kind) {
      case 'signal-stop':
        return this.describeSignal(thread, ws.signal);
      case 'group-stop':
        return { type: 'group-stop', tid, signal: ws.signal };
      case 'syscall-stop': {
        const info = thread.getSyscallInfo();
        if (info.op === 'exit') return { type: 'syscall-exit', tid, rval: info.rval, isError: info.isError };
        if (info.op === 'entry') return { type: 'syscall-entry', tid, nr: info.nr, args: info.args };
        throw new Error(`syscall stop of tid ${tid} without syscall info (op ${info.op})`);
      }
      case 'event-stop':
        return this.describeEvent(thread, ws.event);
    }
  }

  private describeSignal(thread: Thread, signal: number): TraceEvent {
    const tid = thread.tid;
    const siginfo = thread.getSiginfo();
    if (signal === Signal.SIGTRAP) {
      if (siginfo.code === SiCode.TRAP_HWBKPT) {
        const dr6 = this.arch.debugRegisters ? thread.getDebugRegister(6) : undefined;
        return { type: 'hardware-trap', tid, siginfo, ...(dr6 === undefined ? {} : { dr6 }) };
      }
      if (siginfo.code === SiCode.SI_KERNEL || siginfo.code === SiCode.TRAP_BRKPT) {
        const address = this.breakpoints.hitBy(thread.getPc());
        if (address !== undefined) {
          thread.setPc(address);
          return { type: 'breakpoint', tid, address };
        }
        const removed = this.breakpoints.removedHitBy(thread.getPc(), thread.resumedAt);
        if (removed !== undefined) {
          thread.setPc(removed);
          return { type: 'removed-breakpoint', tid, address: removed };
        }
      }
      if (thread.lastResume === Request.SINGLESTEP && STEP_CODES.includes(siginfo.code)) return { type: 'step', tid };
      const trapAt = siginfo.code === SiCode.SI_KERNEL || siginfo.code === SiCode.TRAP_BRKPT ? this.trapInstructionBefore(thread) : undefined;
      thread.pendingSignal = signal;
      return { type: 'signal', tid, signal, siginfo, ...(trapAt === undefined ? {} : { trapAt }) };
    }
    thread.pendingSignal = signal;
    return { type: 'signal', tid, signal, siginfo };
  }

  /** Where the arch's breakpoint instruction that a trap just raised sits in memory, if it does. */
  private trapInstructionBefore(thread: Thread): bigint | undefined {
    const at = thread.getPc() - BigInt(this.arch.pcAfterBreakpoint);
    try {
      return this.memory.read(at, this.arch.breakpoint.length).equals(this.arch.breakpoint) ? at : undefined;
    } catch (err) {
      if (!hasCode(err, 'EFAULT', 'EIO', 'ESRCH')) throw err;
      return undefined; // unreadable: not an instruction we can vouch for
    }
  }

  private describeEvent(thread: Thread, event: Extract<WaitStatus, { kind: 'event-stop' }>['event']): TraceEvent {
    const tid = thread.tid;
    const message = thread.getEventMessage();
    switch (event) {
      case 'clone':
        this.adopt(message, true);
        return { type: 'clone', tid, newTid: message };
      case 'fork':
      case 'vfork':
        this.emit('child', Tracee.forked(message, this.options));
        return { type: event, tid, newPid: message };
      case 'exec':
        this.memory.reopen();
        this.breakpoints.forget();
        return { type: 'exec', tid, formerTid: message };
      case 'vfork-done':
        return { type: 'vfork-done', tid };
      case 'exit':
        return { type: 'exiting', tid, status: message };
      case 'seccomp':
        return { type: 'seccomp', tid, data: message };
    }
  }

  /** The child of a traced fork: auto-attached by the kernel, first stop still to come. */
  private static forked(pid: number, options: number): Tracee {
    const child = new Tracee(pid, (options & Option.EXITKILL) !== 0, options);
    child.adopt(pid, true);
    return child;
  }

  private stopped(thread: Thread, event: TraceEvent): void {
    thread.noteStop(event);
    if (this.hidden.has(thread.tid)) return; // a stop of our own making (remote.ts): its waiter alone hears of it
    // An exec by another thread: that thread (its tid gone) is over, told right after the exec.
    const formerTid = event.type === 'exec' && event.formerTid !== event.tid ? event.formerTid : undefined;
    const former = formerTid === undefined ? undefined : this.execing.get(formerTid);
    if (former) {
      this.execing.delete(former.tid);
      this.threads.delete(former.tid); // not there for whoever handles the exec (nothing to stop)
    } else if (formerTid !== undefined) this.execedBy.add(formerTid); // its tid vanishes next
    this.emit('event', event);
    this.emit(event.type, event);
    if (former) this.threadEnded(former, { type: 'exited', tid: former.tid, code: 0, execed: true });
  }

  private threadEnded(thread: Thread, event: TraceEvent): void {
    thread.noteExit(event);
    this.threads.delete(thread.tid);
    this.emit('event', event, thread); // the thread too: it is no longer in `threads`
    this.emit(event.type, event);
    if (thread.tid === this.pid || this.threads.size === 0) this.processEnded(event);
  }

  private processEnded(event: TraceEvent): void {
    if (this.state !== 'traced') return;
    // Threads left over (a leader that died first is reported last, so these are rare) go too.
    for (const t of this.threads.values()) t.noteExit({ type: 'exited', tid: t.tid, code: 0 });
    this.threads.clear();
    this.end =
      event.type === 'killed'
        ? { pid: this.pid, signal: event.signal, coreDumped: event.coreDumped }
        : { pid: this.pid, code: event.type === 'exited' ? event.code : 0 };
    this.finish('exited');
    this.emit('exit', this.end);
    for (const resolve of this.endWaiters.splice(0)) resolve(this.end);
  }

  private finish(state: 'detached' | 'exited'): void {
    this.state = state;
    for (const t of this.threads.values()) tracer.remove(t.tid);
    if (state === 'detached') this.threads.clear();
    this.memory.close();
    tracer.removeExitHook(this);
  }

  /** Undoes a half-done attach. */
  private abandon(): void {
    for (const t of this.threads.values()) {
      if (t.state === 'stopped') detachQuietly(t);
      else tracer.remove(t.tid);
    }
    this.finish('detached');
  }
}

/**
 * libuv reaps this Node's child_process children with waitpid(pid), which
 * would swallow their ptrace stops and leave the tracer waiting forever.
 */
function refuseOwnChild(pid: number): void {
  let parent: number;
  try {
    parent = stat(pid).ppid;
  } catch {
    return; // gone or unreadable: PTRACE_SEIZE gives the right error
  }
  if (parent === process.pid) {
    throw new HostkitError(
      'ERR_HOSTKIT_OWN_CHILD',
      `pid ${pid} is a child of this Node process (child_process), whose stops libuv would swallow: use Tracee.launch(), or start it outside this process`,
    );
  }
}

function tracedByUs(pid: number, tid: number): boolean {
  try {
    return status(pid, tid).tracerPid === process.pid;
  } catch {
    return false;
  }
}

function interruptQuietly(thread: Thread): void {
  try {
    thread.interrupt();
  } catch (err) {
    if (!hasCode(err, 'ESRCH')) throw err; // dying: its exit will be reaped
  }
}

function isZombie(pid: number): boolean {
  try {
    const state = stat(pid, pid).state;
    return state === 'Z' || state === 'X';
  } catch {
    return false; // gone: its exit status is on its way
  }
}

function detachQuietly(thread: Thread): void {
  try {
    thread.detach();
  } catch (err) {
    if (!hasCode(err, 'ESRCH')) throw err;
  }
}
