/**
 * A live process as a gdbsock Target, over the ptrace bridge (Tracee).
 *
 * All-stop: the first event worth reporting stops every other thread before
 * wait() returns it. Work gdb need not see stays here: range stepping, stepping
 * a thread off a breakpoint it sits on, breakpoint conditions that are false,
 * signals gdb asked to pass, threads starting. Every resume uses the signal gdb
 * gave (never the one the bridge remembers), so gdb alone decides signals' fate.
 */
import fs from 'node:fs';
import { hasCode } from '../../errors';
import { addon, libc } from '../../native';
import { type LaunchOptions, Option, Request, type Thread, type TraceEvent, Tracee } from '../../ptrace';
import { SIGINFO_SIZE } from '../../ptrace/siginfo';
import { type ExecString, resolveExecutable } from '../../ptrace/launch';
import { nextEvents } from '../../ptrace/thread';
import { tracer } from '../../ptrace/tracer';
import { evaluate } from '../agent';
import { hostXsaveLayout } from '../../ptrace/cpu';
import { type RegisterLayout, x86_64Layout } from '../registers';
import { SIGTRAP } from '../signals';
import type { BreakpointType, Condition, ResumeAction, StopEvent, Target, ThreadInfo } from '../target';
import { DebugRegisters } from './debug-registers';
import { shellCommand } from './startup-shell';
import { StopRegisters } from './stop-registers';
import { killedMeanwhile, stepTrapQueued } from './pending-signals';
import { readLibraryList } from './svr4';

const SETARCH = '/usr/bin/setarch';
const SETARCH_ARCH: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64' };
/**
 * Forks are traced so that a child never runs into our breakpoints. When gdb
 * did not ask for fork events, the child gets the original bytes back and is
 * let go (what gdb would do with follow-fork-mode parent and detach-on-fork);
 * a vfork child shares the parent's memory, so it is let go as it is. When gdb
 * asked, the fork is a stop and gdb decides (see takeForkedChild).
 * TRACEVFORKDONE: gdb keeps breakpoints out of a vfork parent until it learns
 * the child has exec'd or exited ("vforkdone").
 */
const FOLLOW_FORKS = Option.TRACEFORK | Option.TRACEVFORK | Option.TRACEVFORKDONE;
const SIGINT = 2;
const SIGSTOP = 19;
/** How long wait() blocks the JS thread for the next stop before leaving it to the event loop. */
const WAIT_SETTLE_MS = 10;

/** What a thread is doing between gdb's resume and the next report. */
type Mode =
  | { type: 'stopped' }
  | { type: 'continue' }
  | { type: 'step' }
  | { type: 'range'; start: bigint; end: bigint }
  /** Stepping off breakpoint `address` (lifted meanwhile); then carry on as `then`. */
  | { type: 'step-over'; address: bigint; then: Mode }
  /** Continued only to take the step's SIGTRAP still queued after an interrupt (see drainStepTraps). */
  | { type: 'drain' };

export class LiveTarget implements Target {
  /** Described from the CPU's XSAVE layout: its registers at its offsets (AVX-512 and PKRU where it has them). */
  readonly registers: RegisterLayout = x86_64Layout(hostXsaveLayout());
  private readonly modes = new Map<number, Mode>();
  private readonly threadRegisters: StopRegisters;
  /** gdb's software breakpoints, with their conditions (none: always report). */
  private readonly softwareBreakpoints = new Map<bigint, Condition[] | undefined>();
  private readonly debugRegisters = new DebugRegisters();
  /** Conditional breakpoints placed in debug registers, by address. */
  private readonly hardwareConditions = new Map<bigint, Condition[]>();
  /** Events that wait to be reported (found while stopping the other threads). */
  private readonly held: StopEvent[] = [];
  private waiter: ((event: StopEvent) => void) | undefined;
  private last: StopEvent;
  private running = false;
  private stopping = false;
  private ctrlC = false;
  private passSignals = new Set<number>();
  private catchSyscalls: Set<number> | undefined;
  private readonly syscallEntry = new Map<number, number>();
  private exitEvent: StopEvent | undefined;
  private execEvents = false;
  private readonly commFds = new Map<number, number>();
  private readonly commBuffer = Buffer.alloc(64);
  private forkEvents = false;
  private vforkEvents = false;
  private threadEvents = false;
  /**
   * Threads whose reported stop was a hit of the breakpoint at this address.
   * Only they step off a breakpoint when resumed: any other thread found on
   * one (its hit came while the others were being stopped, so its pc was put
   * back, or it was interrupted right there) runs into it again and reports
   * it, as gdb expects, so no hit is lost in a thread storm.
   */
  private readonly reportedHits = new Map<number, bigint>();
  /** Children of traced forks, from the 'child' event until the parent's fork event says what they are. */
  private readonly newChildren = new Map<number, Tracee>();
  /** Children reported to gdb in a fork stop, waiting for the owner of this target to take them. */
  private readonly forkedChildren = new Map<number, LiveTarget>();
  /** A settleWaiter is already scheduled for the next turn of the loop. */
  private settleQueued = false;
  /**
   * Software breakpoints gdb removed while the process is stopped, still in
   * its memory. gdb lifts every breakpoint at each stop and puts them back
   * before resuming: writing the code out and in again each time costs four
   * syscalls a breakpoint for nothing. Memory reads already show the
   * program's bytes; these come out for real before anything runs or gdb
   * writes memory (liftNow).
   */
  private readonly lifted = new Set<bigint>();
  /** A vfork child runs in our memory (until vfork-done): what gdb removes must come out at once. */
  private vforkChildRunning = false;
  /** Threads interrupted inside a system call they were single-stepping into, the step's SIGTRAP still queued (pending-signals.ts). */
  private readonly queuedStepTraps = new Set<number>();
  /** Signals gdb asked to deliver that were sent with tgkill, by thread (see deliverable). */
  private readonly injected = new Map<number, number>();
  /**
   * Threads the kernel has reaped that gdb still takes for alive: their `w`
   * stop is still to come (QThreadEvents), or they died with their process,
   * whose end gdb has not been told yet. Until then gdb may name them (Hg, g,
   * T, qXfer:threads: after a SIGKILL from outside, or resuming the others
   * after a `w`), and an error there strands it short of the resume that
   * would report the end (gdb 16: "Could not read registers"). gdbserver
   * keeps such threads until it reports their exit, too.
   */
  private readonly departed = new Set<number>();
  /** Every register number, for threads whose registers are gone. */
  private allRegisters: ReadonlySet<number> | undefined;

  private constructor(
    readonly tracee: Tracee,
    readonly attached: boolean,
  ) {
    tracee.autoResumeNewThreads = false;
    this.threadRegisters = new StopRegisters(this.registers, tracee.arch.gprNames, (tid) => this.thread(tid));
    this.last = { kind: 'signal', tid: tracee.pid, signal: attached ? 0 : SIGTRAP };
    for (const t of tracee.threads.values()) this.modes.set(t.tid, { type: 'stopped' });
    tracee.on('event', (e: TraceEvent) => this.onEvent(e));
    tracee.on('exit', () => this.onProcessEnd());
    tracee.on('child', (child: Tracee) => this.newChildren.set(child.pid, child));
  }

  /** Attaches to every thread of `pid`, leaving them stopped. */
  static async attach(pid: number): Promise<LiveTarget> {
    const tracee = await Tracee.attach(pid, { options: FOLLOW_FORKS });
    return new LiveTarget(tracee, true);
  }

  /** Starts a program stopped at its first instruction. */
  /**
   * Starts a program stopped at its first instruction. With
   * `disableRandomization` (gdb's default, and gdbserver's), it runs through
   * `setarch -R` (personality ADDR_NO_RANDOMIZE, kept across exec) and stops at
   * the program's own exec, so addresses match a gdbserver session run to run.
   */
  static async launch(
    file: ExecString,
    args: readonly ExecString[],
    options: LaunchOptions & { disableRandomization?: boolean; startupWithShell?: boolean } = {},
  ): Promise<LiveTarget> {
    const { disableRandomization, startupWithShell, ...rest } = options;
    const launchOptions = { ...rest, options: (rest.options ?? 0) | FOLLOW_FORKS };
    const setarch = disableRandomization === true && fs.existsSync(SETARCH);
    if (!setarch && !startupWithShell) return new LiveTarget(Tracee.launch(file, args, launchOptions), false);
    const program = resolveExecutable(typeof file === 'string' ? file : Buffer.from(file), (launchOptions.env ?? process.env).PATH);
    // Each wrapper is one more exec before the program's own: `setarch -R $SHELL -c 'exec PROGRAM ARGS'`.
    let argv: ExecString[] = [program, ...args];
    let wrappers = 0;
    let argv0: ExecString | undefined;
    if (startupWithShell) {
      argv = shellCommand(program, args);
      argv0 = argv[0];
      wrappers++;
    }
    if (setarch) {
      argv = [SETARCH, SETARCH_ARCH[process.arch] ?? process.arch, '-R', ...argv];
      argv0 = 'setarch';
      wrappers++;
    }
    const tracee = Tracee.launch(argv[0]!, argv.slice(1), { ...launchOptions, ...(argv0 ? { argv0 } : {}) });
    const leader = tracee.leader!;
    // A shell that forks on its way (it should not, with `exec`) must not leave a traced child behind.
    const letGo = (child: Tracee) => void child.leader?.stopped().then(() => child.detach(), () => undefined);
    tracee.on('child', letGo);
    try {
      for (let execs = 0; execs < wrappers; ) {
        leader.cont(); // with the signal it stopped for, if any
        const event = await leader.nextEvent();
        if (event.type === 'exec') execs++;
        else if (event.type === 'exited' || event.type === 'killed') {
          const how = event.type === 'exited' ? `exited with code ${event.code}` : `was killed by signal ${event.signal}`;
          throw new Error(`${program} did not start: ${argv0 ?? argv[0]} ${how} first`);
        }
      }
    } finally {
      tracee.off('child', letGo);
    }
    return new LiveTarget(tracee, false);
  }

  get pid(): number {
    return this.tracee.pid;
  }

  threads(): ThreadInfo[] {
    const list = [...this.tracee.threads.values()].map((t) => {
      const info: ThreadInfo = { tid: t.tid };
      const name = this.threadName(t.tid);
      if (name !== undefined) info.name = name;
      return info;
    });
    for (const tid of this.departed) list.push({ tid });
    return list;
  }

  /** gdb asks for every thread's name at every stop: one pread on a kept-open comm file, not open/read/close. */
  private threadName(tid: number): string | undefined {
    try {
      let fd = this.commFds.get(tid);
      if (fd === undefined) {
        fd = fs.openSync(`/proc/${this.pid}/task/${tid}/comm`, 'r');
        this.commFds.set(tid, fd);
      }
      const n = addon.pread(fd, this.commBuffer, 0, this.commBuffer.length, 0n);
      const text = this.commBuffer.toString('utf8', 0, n);
      return text.endsWith('\n') ? text.slice(0, -1) : text;
    } catch {
      this.forgetThread(tid);
      return undefined; // exiting: the name is optional
    }
  }

  private forgetThread(tid: number): void {
    const fd = this.commFds.get(tid);
    if (fd === undefined) return;
    this.commFds.delete(tid);
    try {
      fs.closeSync(fd);
    } catch {
      // already closed
    }
  }

  isAlive(tid: number): boolean {
    return this.tracee.threads.has(tid) || this.departed.has(tid);
  }

  private thread(tid: number): Thread {
    return this.tracee.thread(tid);
  }

  readRegisters(tid: number): Buffer {
    if (this.registersGone(tid)) return Buffer.alloc(this.registers.gSize);
    try {
      return this.threadRegisters.readAll(tid);
    } catch (err) {
      if (!this.killedInStop(tid, err)) throw err;
      return this.readRegisters(tid);
    }
  }

  readRegister(tid: number, regno: number): Buffer {
    if (this.registersGone(tid)) return Buffer.alloc(this.registers.registers[regno]?.size ?? 0);
    try {
      return this.threadRegisters.read(tid, regno);
    } catch (err) {
      if (!this.killedInStop(tid, err)) throw err;
      return this.readRegister(tid, regno);
    }
  }

  /**
   * Every register of a thread that has none to read any more: reaped, or
   * killed out of its stop (see killedInStop). gdb shows them as
   * <unavailable>; gdbserver's answer for such a thread is whatever it still
   * had cached, and gdbsock caches nothing beyond a stop.
   */
  unavailableRegisters(tid: number): ReadonlySet<number> | undefined {
    if (!this.registersGone(tid)) return undefined;
    this.allRegisters ??= new Set(this.registers.registers.map((_, i) => i));
    return this.allRegisters;
  }

  private registersGone(tid: number): boolean {
    if (this.departed.has(tid)) return true;
    const t = this.tracee.threads.get(tid);
    // gdb reads registers only with every thread stopped: one that is not was woken to die.
    return t !== undefined && t.state !== 'stopped';
  }

  /** ESRCH reading a stopped thread: a SIGKILL ended its stop (kernel/signal.c, signal_wake_up) and it is on its way out. */
  private killedInStop(tid: number, err: unknown): boolean {
    const t = this.tracee.threads.get(tid);
    if (!t || !hasCode(err, 'ESRCH')) return false;
    t.dying();
    return true;
  }

  readRegisterHex(tid: number, regno: number): string {
    return this.threadRegisters.readHex(tid, regno);
  }

  writeRegister(tid: number, regno: number, value: Buffer): void {
    this.threadRegisters.write(tid, regno, value);
  }

  private invalidate(tid?: number): void {
    this.threadRegisters.forget(tid);
  }

  readMemory(address: bigint, length: number): Buffer | Promise<Buffer> {
    // Show gdb the program's own bytes, not our int3s.
    const unshadow = (data: Buffer) => this.tracee.breakpoints.unshadow(address, data);
    if (length > 65536) {
      // Big reads (memory dumps) run on libuv's pool, so Ctrl-C and other events still get through.
      return this.tracee.memory.readAsync(address, length).then(unshadow, () => Buffer.alloc(0));
    }
    try {
      return unshadow(this.tracee.memory.read(address, length));
    } catch {
      return Buffer.alloc(0);
    }
  }

  writeMemory(address: bigint, data: Buffer): number {
    this.liftNow();
    return this.tracee.memory.write(address, data);
  }

  insertBreakpoint(type: BreakpointType, address: bigint, length: number, conditions?: Condition[]): void {
    try {
      this.insertAny(type, address, length, conditions);
    } catch (err) {
      // A process killed behind gdb's back has no memory or registers left to put it in. Its end
      // comes with the next resume; an error now would stop gdb short of that resume
      // ("Cannot insert breakpoint"), and the end would never be reported.
      if (!this.ending()) throw err;
    }
  }

  /**
   * The process is gone or every thread of it is on its way out (a SIGKILL from outside, say).
   * Once true, true for good: asked at each killed thread's exit, it reads /proc once per thread.
   */
  private ending(): boolean {
    if (this.endingSeen || this.tracee.state !== 'traced') return true;
    for (const t of this.tracee.threads.values()) if (!killedMeanwhile(this.pid, t.tid)) return false;
    this.endingSeen = true;
    return true;
  }

  private endingSeen = false;

  private insertAny(type: BreakpointType, address: bigint, length: number, conditions?: Condition[]): void {
    if (type === 'software') return this.insertSoftware(address, conditions);
    if (this.debugRegisters.free === 0) this.evictConditionSlot();
    this.debugRegisters.insert(type, address, length);
    this.applyDebugRegisters();
  }

  /**
   * A conditional breakpoint goes into a free debug register when there is one:
   * an instruction breakpoint traps before the instruction and the kernel sets
   * EFLAGS.RF (arch/x86/kernel/hw_breakpoint.c), so a false condition costs one
   * stop and a PTRACE_CONT, where an int3 would also need a step over it.
   */
  private insertSoftware(address: bigint, conditions: Condition[] | undefined): void {
    if (this.lifted.delete(address) && this.tracee.breakpoints.has(address)) {
      // Still in memory (an exec would have wiped it), so it only has to be gdb's again, unless a condition now wants a debug register.
      if (!conditions || this.debugRegisters.free === 0 || !this.tracee.arch.debugRegisters) {
        this.softwareBreakpoints.set(address, conditions);
        return;
      }
      this.tracee.breakpoints.remove(address);
    }
    if (this.hardwareConditions.has(address)) {
      if (conditions) return void this.hardwareConditions.set(address, conditions);
      this.removeBreakpoint('software', address, 1);
    }
    if (conditions && !this.tracee.breakpoints.has(address) && this.debugRegisters.free > 0 && this.tracee.arch.debugRegisters) {
      this.debugRegisters.insert('hardware', address, 1, 'condition');
      this.applyDebugRegisters();
      this.hardwareConditions.set(address, conditions);
      return;
    }
    this.tracee.breakpoints.insert(address);
    this.softwareBreakpoints.set(address, conditions);
  }

  /** gdb wants a debug register that a condition of ours holds: that condition goes back to an int3. */
  private evictConditionSlot(): void {
    const address = this.debugRegisters.conditionAddresses[0];
    if (address === undefined) return;
    const conditions = this.hardwareConditions.get(address);
    this.hardwareConditions.delete(address);
    this.debugRegisters.remove('hardware', address, 1, 'condition');
    this.tracee.breakpoints.insert(address);
    this.softwareBreakpoints.set(address, conditions);
  }

  removeBreakpoint(type: BreakpointType, address: bigint, length: number): void {
    if (type === 'software' && this.hardwareConditions.has(address)) {
      this.hardwareConditions.delete(address);
      this.debugRegisters.remove('hardware', address, 1, 'condition');
      this.applyDebugRegisters();
      return;
    }
    if (type === 'software') {
      this.softwareBreakpoints.delete(address);
      if (this.running || this.vforkChildRunning || !this.tracee.breakpoints.has(address)) this.tracee.breakpoints.remove(address);
      else this.lifted.add(address);
      return;
    }
    this.debugRegisters.remove(type, address, length);
    this.applyDebugRegisters();
  }

  /** Takes the breakpoints gdb removed out of memory (see `lifted`). */
  private liftNow(): void {
    for (const address of this.lifted) this.tracee.breakpoints.remove(address);
    this.lifted.clear();
  }

  private applyDebugRegisters(): void {
    for (const t of this.tracee.threads.values()) if (t.state === 'stopped') this.debugRegisters.applyTo(t);
  }

  lastStop(): StopEvent {
    return this.last;
  }

  setPassSignals(signals: Set<number>): void {
    this.passSignals = signals;
  }

  setExecEvents(on: boolean): void {
    this.execEvents = on;
  }

  setCatchSyscalls(syscalls: Set<number> | undefined): void {
    this.catchSyscalls = syscalls;
  }

  setForkEvents(fork: boolean, vfork: boolean): void {
    this.forkEvents = fork;
    this.vforkEvents = vfork;
  }

  setThreadEvents(on: boolean): void {
    this.threadEvents = on;
  }

  auxv(): Buffer | undefined {
    try {
      return fs.readFileSync(`/proc/${this.pid}/auxv`);
    } catch {
      return undefined;
    }
  }

  execFile(): string | undefined {
    try {
      return fs.readlinkSync(`/proc/${this.pid}/exe`);
    } catch {
      return undefined;
    }
  }

  siginfo(tid: number): Buffer | undefined {
    const t = this.tracee.threads.get(tid);
    if (!t || t.state !== 'stopped') return undefined;
    if (this.last.kind === 'signal' && this.last.tid === tid && this.last.signal === SIGINT && t.lastEvent?.type !== 'signal') {
      return ctrlCSiginfo(); // a Ctrl-C reported at an interrupt (or other trap) stop, whose own siginfo is a SIGTRAP's
    }
    try {
      return Buffer.from(t.getSiginfo().raw);
    } catch {
      return undefined;
    }
  }

  writeSiginfo(tid: number, data: Buffer): void {
    const current = this.siginfo(tid);
    if (!current) throw new RangeError('no siginfo');
    const merged = Buffer.from(current);
    data.copy(merged, 0, 0, Math.min(data.length, 128));
    this.thread(tid).setSiginfo(merged);
  }

  librariesSvr4(): Promise<string | undefined> {
    return readLibraryList(this.pid, async (a, n) => this.readMemory(a, n), this.auxv());
  }

  // ---- execution ----

  async resume(actions: ResumeAction[]): Promise<void> {
    try {
      await this.resumeThreads(actions);
    } catch (err) {
      if (!hasCode(err, 'ESRCH')) throw err;
      // SIGKILL from outside ends a ptrace stop (kernel/signal.c: it wakes traced threads to die), so a
      // thread gdb saw stopped may be gone by the time it resumes: the process's end, reaped like a
      // running thread's exit, is what wait() reports (gdb: "Program terminated with signal SIGKILL").
      this.waitForDeath();
    }
  }

  /** Every thread is dying of a SIGKILL from outside: the process's end, once reaped, is the resume's stop. */
  private waitForDeath(): void {
    for (const t of this.tracee.threads.values()) t.dying();
    if (!this.exitEvent) this.running = true;
  }

  private async resumeThreads(actions: ResumeAction[]): Promise<void> {
    this.last = { kind: 'no-resumed' };
    if (this.exitEvent) {
      // Threads that exited before the process did are reported first (QThreadEvents), unless a
      // signal killed it (see endFirst).
      const threadExit = this.endFirst() ? -1 : this.held.findIndex((e) => e.kind === 'thread-exited');
      return this.report(threadExit >= 0 ? this.held.splice(threadExit, 1)[0]! : this.exitEvent);
    }
    const held = this.held.shift();
    if (held) return this.report(held);
    if (this.queuedStepTraps.size > 0) {
      await this.drainStepTraps();
      if (this.pendingReport) return; // a drained stop was a real signal after all: gdb hears of it first
    }
    this.liftNow();
    const plan: [Thread, ResumeAction][] = [];
    for (const t of this.tracee.threads.values()) {
      if (t.state !== 'stopped') continue;
      const action = actions.find((a) => a.tid === t.tid) ?? actions.find((a) => a.tid === undefined);
      if (action && action.type !== 'stop') plan.push([t, action]);
    }
    if (plan.length === 0) {
      // The threads gdb resumed were killed from outside and are gone, or dying (see resume): the
      // process's end is the news, not "no-resumed", even while a thread left is still marked stopped.
      const threads = [...this.tracee.threads.values()];
      if (threads.some((t) => (t.state === 'running' && !t.starting) || killedMeanwhile(this.pid, t.tid))) return this.waitForDeath();
      return this.report({ kind: 'no-resumed' });
    }
    // The pcs come from the registers cached at the stop (the stop reply read them); then the cache goes.
    const pcs = new Map(plan.map(([t]) => [t.tid, t.getPc()]));
    this.invalidate();
    this.running = true;
    // Threads sitting on a breakpoint step off it first, alone, so that no other thread runs past it while lifted.
    const rest: [Thread, ResumeAction][] = [];
    for (const [t, action] of plan) {
      const pc = pcs.get(t.tid)!;
      const reported = this.reportedHits.get(t.tid) === pc;
      this.reportedHits.delete(t.tid);
      if (action.type !== 'stop' && this.tracee.breakpoints.has(pc) && reported) {
        const then: Mode = action.type === 'range' ? { type: 'range', start: action.start, end: action.end } : { type: action.type };
        const signal = action.type === 'range' ? 0 : this.deliverable(t, action.signal);
        const ok = await this.stepOff(t, pc, signal, then);
        if (!ok) return; // the step is the stop to report, or something else happened during it
        if (then.type === 'range' && !this.inRange(t, then)) continue;
        rest.push([t, action.type === 'range' ? action : { ...action, signal: 0 }]);
      } else rest.push([t, action]);
    }
    if (this.stopping || this.pendingReport) return;
    // Steppers last: a step's stop may be handled before stepWhileIn returns, and then everyone else must be running.
    rest.sort(([, a], [, b]) => Number(a.type !== 'continue') - Number(b.type !== 'continue'));
    for (const [t, action] of rest) {
      if (t.state !== 'stopped') continue;
      switch (action.type) {
        case 'continue':
          this.modes.set(t.tid, { type: 'continue' });
          this.go(t, this.deliverable(t, action.signal));
          break;
        case 'step':
          this.modes.set(t.tid, { type: 'step' });
          t.stepWhileIn(0n, 0n, NO_ADDRESSES, this.deliverable(t, action.signal));
          break;
        case 'range': {
          const mode = { type: 'range', start: action.start, end: action.end } as const;
          this.modes.set(t.tid, mode);
          this.stepThrough(t, mode);
          break;
        }
      }
    }
  }

  /**
   * Steps `t` off the breakpoint at `address` while every other thread stays
   * stopped. Returns false if the step ended in something to report (which
   * then is reported); true if the thread is now past it, still stopped.
   */
  private async stepOff(t: Thread, address: bigint, signal: number, then: Mode): Promise<boolean> {
    this.modes.set(t.tid, { type: 'step-over', address, then });
    this.tracee.breakpoints.remove(address);
    t.step(signal);
    const [event] = await nextEvents([t], WAIT_SETTLE_MS);
    // onEvent saw the event first and put the breakpoint back.
    if (event.type !== 'step') return false;
    this.invalidate(t.tid);
    if (then.type === 'step') {
      this.reportStop(t.tid, { kind: 'signal', tid: t.tid, signal: SIGTRAP });
      return false;
    }
    this.modes.set(t.tid, { type: 'stopped' });
    return true;
  }

  /**
   * Takes the queued step traps (see pending-signals.ts) before the threads run on
   * or are let go: each such thread is continued with no signal and stops at
   * once for its SIGTRAP, before running any of its code; that stop is
   * dropped. When the call was interrupted (-ERESTARTSYS), the resume after
   * it goes back into the call (arch/x86/kernel/signal.c, arch_do_signal_or_restart).
   */
  private async drainStepTraps(): Promise<void> {
    for (const tid of this.queuedStepTraps) {
      this.queuedStepTraps.delete(tid);
      const t = this.tracee.threads.get(tid);
      if (!t || t.state !== 'stopped' || !stepTrapQueued(this.pid, tid)) continue;
      this.modes.set(tid, { type: 'drain' });
      t.cont(0);
      await nextEvents([t], WAIT_SETTLE_MS);
    }
  }

  /**
   * The signal to resume `t` with when gdb asks to deliver `signal` (its
   * `signal` command, or a signal it passes). Only a signal-delivery or
   * syscall stop hands one on (ptrace(2), "Signal injection and suppression");
   * at an interrupt or event stop, a Ctrl-C's for one, the kernel drops it
   * (kernel/signal.c: do_jobctl_trap and ptrace_do_notify ignore what
   * ptrace_stop returns). There it is sent with tgkill instead, and passed on
   * unreported when the thread stops for it.
   */
  private deliverable(t: Thread, signal: number): number {
    if (signal === 0 || takesSignal(t.lastEvent)) return signal;
    libc().tgkill(this.pid, t.tid, signal);
    this.injected.set(t.tid, signal);
    return 0;
  }

  private go(t: Thread, signal: number): void {
    if (this.catchSyscalls) t.syscall(signal);
    else t.cont(signal);
  }

  private inRange(t: Thread, mode: { start: bigint; end: bigint }): boolean {
    const pc = t.getPc();
    return pc >= mode.start && pc < mode.end;
  }

  wait(): Promise<StopEvent> {
    return new Promise((resolve) => {
      this.waiter = resolve;
      this.flush();
      this.settleWaiter();
    });
  }

  /**
   * gdb waits for this stop with nothing else to do, so wait for it on the JS
   * thread (tracer.settle) instead of through the event loop: a step or a
   * breakpoint hit is then answered as fast as a C server would. Once all
   * threads are being stopped, stopAll settles for its own stops; after
   * WAIT_SETTLE_MS of nothing the stop is left to SIGCHLD and the event loop,
   * and a long run of false conditions gives the loop a turn now and then, so
   * Ctrl-C and the rest get through.
   */
  private readonly settleWaiter = (): void => {
    this.settleQueued = false;
    if (!this.waiter || !this.running || this.stopping) return;
    if (tracer.settle(WAIT_SETTLE_MS, () => !this.waiter || this.stopping) === 'busy') this.settleSoon();
  };

  /** After an event that was not worth reporting: the next one likely follows soon (a loop hitting a false condition). */
  private settleSoon(): void {
    if (this.settleQueued || !this.waiter || !this.running || this.stopping) return;
    this.settleQueued = true;
    setImmediate(this.settleWaiter);
  }

  private pendingReport: StopEvent | undefined;

  private report(event: StopEvent): void {
    this.pendingReport = event;
    this.flush();
  }

  private flush(): void {
    if (!this.waiter || !this.pendingReport) return;
    const event = this.pendingReport;
    const resolve = this.waiter;
    this.pendingReport = undefined;
    this.waiter = undefined;
    this.last = event;
    // gdb now knows: the thread, or every thread of the process, is gone.
    if (event.kind === 'thread-exited') this.departed.delete(event.tid);
    else if (event.kind === 'exited' || event.kind === 'killed') this.departed.clear();
    resolve(event);
  }

  interrupt(): void {
    if (!this.running || this.stopping) return;
    const running = [...this.tracee.threads.values()].filter((t) => t.state === 'running');
    const victim = running.find((t) => t.tid === this.pid) ?? running[0];
    if (!victim) return;
    this.ctrlC = true;
    try {
      victim.interrupt();
    } catch {
      // exiting: its exit will be reported
    }
  }

  /** Stops every other thread, then reports `event`. */
  private reportStop(tid: number, event: StopEvent): void {
    if (this.stopping) {
      this.held.push(event);
      return;
    }
    this.running = false;
    this.modes.set(tid, { type: 'stopped' });
    const settled = () => {
      this.stopping = false;
      this.ctrlC = false;
      for (const t of this.tracee.threads.values()) this.modes.set(t.tid, { type: 'stopped' });
      this.invalidate();
      // A thread's exit (QThreadEvents) comes before its process's, which the next resume reports,
      // unless a signal killed the process (see endFirst).
      this.report(this.exitEvent && (event.kind !== 'thread-exited' || this.endFirst()) ? this.exitEvent : event);
    };
    // Nothing else running (one thread, or a step with the others held): report at once.
    if (!this.anyRunning()) return settled();
    this.stopping = true;
    // Not from inside this handler: stopAll can then wait for the stops synchronously (tracer.settle).
    queueMicrotask(() => {
      this.tracee
        .stopAll()
        .catch(() => undefined)
        .then(settled);
    });
  }

  private anyRunning(): boolean {
    for (const t of this.tracee.threads.values()) if (t.state === 'running') return true;
    return false;
  }

  private onEvent(e: TraceEvent): void {
    try {
      this.handleEvent(e);
    } catch (err) {
      // A thread killed under us (SIGKILL ends its stop): its exit event follows.
      if ((err as { code?: string }).code !== 'ESRCH') throw err;
      this.tracee.threads.get(e.tid)?.dying();
    }
    this.settleSoon();
  }

  private handleEvent(e: TraceEvent): void {
    const t = this.tracee.threads.get(e.tid);
    let mode: Mode = this.modes.get(e.tid) ?? { type: 'continue' };
    this.invalidate(e.tid);
    if (mode.type === 'step-over') {
      // Whatever ended the step, the lifted breakpoint goes back (if gdb still wants it).
      if (this.softwareBreakpoints.has(mode.address) && this.tracee.state === 'traced') this.tracee.breakpoints.insert(mode.address);
      if (e.type === 'step') return; // the one who started the step-over carries on
      mode = mode.then;
      this.modes.set(e.tid, mode);
    }
    if (mode.type === 'drain') {
      mode = { type: 'stopped' };
      this.modes.set(e.tid, mode);
      // The kernel's own trap (a positive si_code) goes; one a program sent is news like any signal.
      if (e.type === 'signal' && e.signal === SIGTRAP && e.siginfo.code > 0) {
        t!.pendingSignal = 0;
        return;
      }
    }
    switch (e.type) {
      case 'exited':
      case 'killed': {
        this.modes.delete(e.tid); // the process's end comes through onProcessEnd
        this.forgetThread(e.tid);
        // The leader is reaped last, as the process's end (kernel/exit.c, delay_group_leader). A thread
        // killed by a signal died of its process's death (a fatal signal kills the whole group:
        // kernel/signal.c, complete_signal), when every other thread is dying too: no `w` for it,
        // which would stand in for that end (gdb, told only that the thread it stepped is gone,
        // resumes the others, gone too). gdb hears of all of them with the end.
        const withProcess = e.tid === this.pid || (e.type === 'killed' && this.ending());
        // Any other thread's exit is a `w` stop, if gdb wants them; else gdb finds it gone from the thread list.
        const wStop = this.threadEvents && !withProcess && this.tracee.threads.size > 0;
        if (withProcess || wStop) this.departed.add(e.tid);
        if (wStop) this.reportThreadEvent(e.tid, { kind: 'thread-exited', tid: e.tid, code: e.type === 'exited' ? e.code : 0, pid: this.pid });
        return;
      }
      case 'thread-start':
        this.modes.set(e.tid, { type: 'stopped' });
        if (t) this.debugRegisters.applyTo(t);
        if (this.threadEvents && t) return this.reportThreadEvent(e.tid, { kind: 'signal', tid: e.tid, signal: SIGTRAP, reason: { type: 'create' } });
        if (this.running && !this.stopping && t) {
          this.modes.set(e.tid, { type: 'continue' });
          this.go(t, 0);
        }
        return;
      case 'fork':
      case 'vfork': {
        const child = this.newChildren.get(e.newPid);
        this.newChildren.delete(e.newPid);
        if (e.type === 'vfork') this.vforkChildRunning = true;
        if (child && t && (e.type === 'fork' ? this.forkEvents : this.vforkEvents)) return void this.reportFork(t, e.type, child, mode);
        if (child) void this.releaseChild(child, e.type === 'vfork');
        return this.carryOn(t, mode, 0);
      }
      case 'vfork-done':
        this.vforkChildRunning = false;
        if (this.vforkEvents && !this.stopping) return this.reportOrHold(e.tid, { kind: 'signal', tid: e.tid, signal: SIGTRAP, reason: { type: 'vforkdone' } });
        return this.carryOn(t, mode, 0);
      case 'clone':
      case 'seccomp':
      case 'exiting':
        return this.carryOn(t, mode, 0);
      case 'group-stop':
        return this.carryOn(t, mode, 0);
      case 'exec':
        // The old address space, and every breakpoint in it, is gone; gdb inserts its own again.
        this.softwareBreakpoints.clear();
        this.hardwareConditions.clear();
        this.debugRegisters.clear();
        if (!this.execEvents) return this.carryOn(t, mode, 0);
        return this.reportOrHold(e.tid, { kind: 'signal', tid: e.tid, signal: SIGTRAP, reason: { type: 'exec', path: this.execFile() ?? '' } });
      case 'interrupted':
        if (t?.lastResume === Request.SINGLESTEP && stepTrapQueued(this.pid, e.tid)) this.queuedStepTraps.add(e.tid);
        if (this.stopping) return; // stopAll's own
        if (this.ctrlC) {
          this.ctrlC = false;
          return this.reportStop(e.tid, { kind: 'signal', tid: e.tid, signal: SIGINT });
        }
        return this.carryOn(t, mode, 0);
      case 'step':
        return this.onStep(t!, e.tid, mode);
      case 'breakpoint':
        return this.onBreakpoint(t!, e.tid, e.address, mode);
      case 'hardware-trap': {
        // No need to clear DR6: the kernel resets its ptrace view at every #DB (arch/x86/kernel/traps.c, exc_debug_user).
        const hit = this.debugRegisters.hit(e.dr6 ?? 0n);
        if (hit && hit.owner === 'condition') {
          const conditions = this.hardwareConditions.get(hit.address);
          if (conditions && !this.anyTrue(e.tid, conditions) && mode.type === 'continue') return this.carryOn(t, mode, 0);
          return this.reportOrHold(e.tid, { kind: 'signal', tid: e.tid, signal: SIGTRAP, reason: { type: 'swbreak' } });
        }
        if (hit) {
          const reason = hit.type === 'hardware' ? { type: 'hwbreak' as const } : { type: watchKind(hit.type), address: hit.address };
          return this.reportOrHold(e.tid, { kind: 'signal', tid: e.tid, signal: SIGTRAP, reason });
        }
        if (mode.type === 'step' || mode.type === 'range' || mode.type === 'step-over') return this.onStep(t!, e.tid, mode);
        return this.reportOrHold(e.tid, { kind: 'signal', tid: e.tid, signal: SIGTRAP });
      }
      case 'syscall-entry':
      case 'syscall-exit': {
        const entry = e.type === 'syscall-entry';
        const nr = entry ? e.nr : this.syscallEntry.get(e.tid) ?? -1;
        if (entry) this.syscallEntry.set(e.tid, e.nr);
        const wanted = this.catchSyscalls && (this.catchSyscalls.size === 0 || this.catchSyscalls.has(nr));
        if (!wanted || this.stopping) return this.carryOn(t, mode, 0);
        return this.reportOrHold(e.tid, {
          kind: 'signal',
          tid: e.tid,
          signal: SIGTRAP,
          reason: { type: entry ? 'syscall_entry' : 'syscall_return', nr },
        });
      }
      case 'signal': {
        if (this.stopping && e.signal === SIGSTOP) return;
        if (this.injected.get(e.tid) === e.signal) {
          this.injected.delete(e.tid);
          // gdb asked for it (see deliverable); caught up in a stop-all, it is reported instead, so never lost.
          if (this.running && !this.stopping) return this.carryOn(t, mode, e.signal);
        }
        if (this.passSignals.has(e.signal) && !this.stopping) return this.carryOn(t, mode, e.signal);
        return this.reportOrHold(e.tid, { kind: 'signal', tid: e.tid, signal: e.signal });
      }
    }
  }

  /** A forked child: waits for its first stop, takes our breakpoints out of its copy of memory, detaches. */
  private async releaseChild(child: Tracee, sharesMemory: boolean): Promise<void> {
    try {
      await child.leader?.stopped();
      if (child.state !== 'traced') return;
      if (!sharesMemory) this.cleanCopy(child);
      for (const t of child.threads.values()) t.pendingSignal = 0;
      await child.detach();
    } catch {
      // it died first: nothing left to release
    }
  }

  /** A fork child's memory is a copy of ours, int3s included: put the program's bytes back there. */
  private cleanCopy(child: Tracee): void {
    const ours = this.tracee.breakpoints;
    for (const address of ours.addresses) {
      child.memory.writeForced(address, ours.unshadow(address, Buffer.alloc(this.tracee.arch.breakpoint.length)));
    }
  }

  /**
   * gdb asked for fork events: once the child is in its first stop, report
   * the fork (GDB manual, "Stop Reply Packets", fork/vfork) and keep the child
   * stopped and traced for gdb, which then detaches it (`D;PID`), follows it,
   * or keeps both. A fork child starts with clean memory and no breakpoints of
   * ours: gdb's z packets for it are then no-ops and its Z packets start afresh.
   * A vfork child shares our memory, so nothing is written to it.
   */
  private async reportFork(parent: Thread, kind: 'fork' | 'vfork', child: Tracee, mode: Mode): Promise<void> {
    try {
      await child.leader?.stopped();
    } catch {
      // gone: handled below
    }
    if (child.state !== 'traced') return this.carryOn(parent, mode, 0);
    try {
      if (kind === 'fork') this.cleanCopy(child);
    } catch {
      // the child was killed meanwhile: gdb will see it exit
    }
    for (const t of child.threads.values()) t.pendingSignal = 0;
    const target = new LiveTarget(child, this.attached);
    target.last = { kind: 'signal', tid: child.pid, signal: 0 };
    target.passSignals = this.passSignals;
    target.catchSyscalls = this.catchSyscalls;
    target.execEvents = this.execEvents;
    target.forkEvents = this.forkEvents;
    target.vforkEvents = this.vforkEvents;
    target.threadEvents = this.threadEvents;
    this.forkedChildren.set(child.pid, target);
    const event: StopEvent = { kind: 'signal', tid: parent.tid, signal: SIGTRAP, reason: { type: kind, childPid: child.pid, childTid: child.pid } };
    if (parent.state !== 'stopped') return; // the parent was killed meanwhile: its exit is the news
    this.reportOrHold(parent.tid, event);
  }

  /**
   * QThreadEvents: every thread's birth and death is news, even one that
   * happens while the others are being stopped or gdb has them stopped: it is
   * then reported at the next resume, so none is lost.
   */
  private reportThreadEvent(tid: number, event: StopEvent): void {
    if (this.stopping || !this.running) this.held.push(event);
    else this.reportStop(tid, event);
  }

  /** The child of a fork reported in a stop, as a target of its own (once: the caller keeps it). */
  takeForkedChild(pid: number): LiveTarget | undefined {
    const child = this.forkedChildren.get(pid);
    this.forkedChildren.delete(pid);
    return child;
  }

  /**
   * The process was killed by a signal: its end is reported before thread exits held back, which
   * add nothing gdb can act on. gdb would resume the threads it still believes in, which are gone.
   */
  private endFirst(): boolean {
    return this.exitEvent?.kind === 'killed';
  }

  private onProcessEnd(): void {
    for (const tid of [...this.commFds.keys()]) this.forgetThread(tid);
    const end = this.tracee.end!;
    this.exitEvent = end.signal !== undefined ? { kind: 'killed', pid: this.pid, signal: end.signal } : { kind: 'exited', pid: this.pid, code: end.code };
    this.running = false;
    if (!this.stopping) this.report(this.exitEvent);
  }

  /** During a stop-all, events wait; otherwise they are reported now. */
  private reportOrHold(tid: number, event: StopEvent): void {
    if (this.stopping) this.held.push(event);
    else this.reportStop(tid, event);
  }

  /** Resumes a thread as its mode says, after an event gdb need not see. */
  private carryOn(t: Thread | undefined, mode: Mode, signal: number): void {
    if (!t || t.state !== 'stopped' || this.stopping || !this.running) return;
    if (this.ctrlC && signal === 0) {
      // gdb asked for a stop and here is one. A thread that entered another trap (a false
      // condition) just as it was interrupted never reports the interrupt: entering any ptrace
      // trap clears a pending one (kernel/signal.c, ptrace_stop).
      this.ctrlC = false;
      return this.reportStop(t.tid, { kind: 'signal', tid: t.tid, signal: SIGINT });
    }
    switch (mode.type) {
      case 'continue':
        return this.go(t, signal);
      case 'step':
      case 'range':
      case 'step-over':
        return t.step(signal);
      case 'stopped':
        return;
    }
  }

  private onStep(t: Thread, tid: number, mode: Mode): void {
    if (mode.type === 'range' && !this.stopping) {
      const pc = t.getPc();
      if (pc >= mode.start && pc < mode.end && !this.tracee.breakpoints.has(pc)) {
        this.stepThrough(t, mode);
        return;
      }
    }
    if (this.stopping) return;
    this.reportStop(tid, { kind: 'signal', tid, signal: SIGTRAP });
  }

  /** Range stepping (vCont;r): steps in native code until the pc leaves the range or lands on a breakpoint. */
  private stepThrough(t: Thread, range: { start: bigint; end: bigint }): void {
    const inside = this.tracee.breakpoints.addresses.filter((a) => a >= range.start && a < range.end);
    t.stepWhileIn(range.start, range.end, inside.length ? BigUint64Array.from(inside) : NO_ADDRESSES, 0);
  }

  private onBreakpoint(t: Thread, tid: number, address: bigint, mode: Mode): void {
    if (this.stopping) return; // the pc is rewound: it hits again when resumed (see reportedHits)
    const conditions = this.softwareBreakpoints.get(address);
    if (conditions && !this.anyTrue(tid, conditions)) {
      // False condition: step off it and carry on, without a word to gdb.
      this.tracee.breakpoints.remove(address);
      this.modes.set(tid, { type: 'step-over', address, then: mode });
      t.step(0);
      t.nextEvent().then((next) => {
        if (next.type === 'step' && t.state === 'stopped' && this.running && !this.stopping) {
          this.modes.set(tid, mode);
          this.carryOn(t, mode, 0);
        }
      });
      return;
    }
    this.reportedHits.set(tid, address);
    this.reportStop(tid, { kind: 'signal', tid, signal: SIGTRAP, reason: { type: 'swbreak' } });
  }


  private anyTrue(tid: number, conditions: Condition[]): boolean {
    const ctx = {
      // General registers are views of one raw GETREGSET per stop: nothing decoded at each hit.
      register: (regno: number) => {
        const bytes = this.readRegister(tid, regno);
        return bytes.length >= 8 ? bytes.readBigUInt64LE(0) : BigInt(bytes.readUIntLE(0, bytes.length));
      },
      memory: (address: bigint, size: number) => {
        const bytes = this.tracee.breakpoints.unshadow(address, this.tracee.memory.read(address, size));
        if (bytes.length < size) throw new RangeError('unreadable');
        return BigInt(bytes.readUIntLE(0, size));
      },
    };
    for (const code of conditions) {
      try {
        if (evaluate(code, ctx) !== 0n) return true;
      } catch {
        return true; // gdb decides when we cannot
      }
    }
    return false;
  }

  // ---- ending ----

  async detach(): Promise<void> {
    this.running = false;
    this.lifted.clear(); // the detach takes every breakpoint out
    for (const tid of [...this.commFds.keys()]) this.forgetThread(tid);
    this.debugRegisters.clear();
    if (this.tracee.state !== 'traced') return;
    // Every thread stopped first (gdbsock told to quit while they run), so none keeps a trap queued or a debug register set.
    await this.tracee.stopAll();
    await this.drainStepTraps();
    if (this.tracee.state !== 'traced') return;
    for (const t of this.tracee.threads.values()) if (t.state === 'stopped') this.debugRegisters.applyTo(t);
    // gdb already said what to deliver; drop what the bridge remembers, except real pending signals.
    await this.tracee.detach();
  }

  async kill(): Promise<void> {
    if (this.tracee.state !== 'traced') return;
    this.tracee.kill();
    await this.tracee.ended();
  }
}


const NO_ADDRESSES = new BigUint64Array(0);

/**
 * The siginfo of a Ctrl-C stop, as if gdbsock had sent the SIGINT with kill(2)
 * (it stops the thread with PTRACE_INTERRUPT instead): what gdb shows with
 * gdbserver, which does send one. x86_64 layout: si_signo, si_errno, si_code
 * (SI_USER, 0), then si_pid and si_uid at offset 16 (asm-generic/siginfo.h).
 */
function ctrlCSiginfo(): Buffer {
  const info = Buffer.alloc(SIGINFO_SIZE);
  info.writeInt32LE(SIGINT, 0);
  info.writeInt32LE(process.pid, 16);
  info.writeUInt32LE(process.getuid?.() ?? 0, 20);
  return info;
}

/** Stops whose resume delivers the signal it is given: signal-delivery stops (SIGTRAP ones included) and syscall stops. */
const SIGNAL_STOPS = new Set<TraceEvent['type']>(['signal', 'step', 'breakpoint', 'hardware-trap', 'syscall-entry', 'syscall-exit']);

function takesSignal(event: TraceEvent | undefined): boolean {
  return event !== undefined && SIGNAL_STOPS.has(event.type);
}

function watchKind(type: BreakpointType): 'watch' | 'rwatch' | 'awatch' {
  return type === 'write' ? 'watch' : type === 'read' ? 'rwatch' : 'awatch';
}
