/**
 * A live process as a gdbsock Target, over the ptrace bridge (Tracee).
 *
 * All-stop: the first event worth reporting stops every other thread before
 * wait() returns it (all-stop.ts). Work gdb need not see stays here: range
 * stepping, stepping a thread off a breakpoint it sits on, breakpoint
 * conditions that are false (breakpoint-table.ts), signals gdb asked to pass,
 * threads starting, forks gdb did not ask about (forks.ts). Every resume uses
 * the signal gdb gave (never the one the bridge remembers), so gdb alone
 * decides signals' fate (signal-injection.ts).
 */
import fs from 'node:fs';
import { hasCode } from '../../../errors';
import type { Thread, Tracee } from '../../../ptrace';
import type { ExecString } from '../../../ptrace/launch';
import { hostXsaveLayout } from '../../../ptrace/cpu';
import { type RegisterLayout, x86_64Layout } from '../../registers';
import type { TargetProvider } from '../../launch-settings';
import type { SessionOptions } from '../../session-options';
import type {
  BreakpointCommand,
  BreakpointType,
  Capabilities,
  Condition,
  ForkEvents,
  MemoryInto,
  NonStop,
  PartialRegisters,
  RegisterHex,
  StopEvent,
  Target,
  ThreadInfo,
  TracepointSites,
  TracepointStepping,
} from '../../target';
import { StopRegisters } from '../stop-registers';
import { killedMeanwhile } from '../pending-signals';
import { type LibraryListStart, readLibraryList } from '../svr4';
import { allStopAfter, isRunning } from './all-stop';
import { TraceEvents } from './events';
import { type LiveLaunchOptions, attachTracee, launchTracee } from './launch';
import { SIGINT, ctrlCSiginfo } from './signal-injection';

export class LiveTarget extends TraceEvents<LiveTarget> implements Target, ForkEvents, MemoryInto, PartialRegisters, RegisterHex, NonStop, TracepointSites {
  readonly capabilities: Capabilities = {
    forkEvents: this,
    partialRegisters: this,
    registerHex: this,
    runningProcess: this,
    nonStop: this,
    tracepoints: this,
    memoryInto: this,
  };
  /** Described from the CPU's XSAVE layout: its registers at its offsets (AVX-512 and PKRU where it has them). */
  readonly registers: RegisterLayout;
  /** Every register number, for threads whose registers are gone. */
  private endingSeen = false;

  private constructor(tracee: Tracee, attached: boolean, registers = x86_64Layout(hostXsaveLayout())) {
    super(tracee, attached, new StopRegisters(registers, tracee.arch.gprNames, (tid) => tracee.thread(tid)));
    this.registers = registers;
  }

  /** Attaches to every thread of `pid`, leaving them stopped. */
  static async attach(pid: number): Promise<LiveTarget> {
    return new LiveTarget(await attachTracee(pid), true);
  }

  /** Starts a program stopped at its first instruction (see launchTracee). */
  static async launch(file: ExecString, args: readonly ExecString[], options: LiveLaunchOptions = {}): Promise<LiveTarget> {
    return new LiveTarget(await launchTracee(file, args, options), false);
  }

  protected forkTarget(child: Tracee): LiveTarget {
    const target = new LiveTarget(child, this.attached);
    target.last = { kind: 'signal', tid: child.pid, signal: 0 };
    target.options = this.options; // the same object: what gdb changes later reaches both
    return target;
  }

  /** The child of a fork reported in a stop, as a target of its own (once: the caller keeps it). */
  takeForkedChild(pid: number): LiveTarget | undefined {
    return this.forks.take(pid);
  }

  threads(): ThreadInfo[] {
    // A leader gone ahead of its threads is left out, as gdbserver drops it (linux-low.cc, check_zombie_leaders).
    const gone = this.tracee.leaderExited() ? this.pid : undefined;
    const list = [...this.tracee.threads.values()]
      .filter((t) => t.tid !== gone)
      .map((t) => {
        const info: ThreadInfo = { tid: t.tid };
        const name = this.names.name(t.tid);
        if (name !== undefined) info.name = name;
        return info;
      });
    for (const [tid, { name }] of this.departed) list.push(name === undefined ? { tid } : { tid, name });
    return list;
  }

  isAlive(tid: number): boolean {
    return this.tracee.threads.has(tid) || this.departed.has(tid);
  }

  // ---- registers ----

  readRegisters(tid: number): Buffer {
    if (this.registersGone(tid)) return this.threadRegisters.readKept(this.keptRegisters(tid));
    try {
      return this.threadRegisters.readAll(tid);
    } catch (err) {
      if (!this.killedInStop(tid, err)) throw err;
      return this.readRegisters(tid);
    }
  }

  readRegister(tid: number, regno: number): Buffer {
    if (this.registersGone(tid)) return this.threadRegisters.readKeptOne(this.keptRegisters(tid), regno);
    try {
      return this.threadRegisters.read(tid, regno);
    } catch (err) {
      if (!this.killedInStop(tid, err)) throw err;
      return this.readRegister(tid, regno);
    }
  }

  /**
   * The registers of a thread that has none to read any more: reaped, or
   * killed out of its stop (see killedInStop). gdbserver, which reaps only
   * when gdb resumes, answers from what it cached; gdbsock keeps the general
   * registers of that stop (so gdb still shows where it was, as through
   * gdbserver) and says the rest are <unavailable>.
   */
  unavailableRegisters(tid: number): ReadonlySet<number> | undefined {
    if (!this.registersGone(tid)) return undefined;
    return this.threadRegisters.unavailableWith(this.keptRegisters(tid));
  }

  private keptRegisters(tid: number): Buffer | undefined {
    return this.departed.get(tid)?.registers ?? this.tracee.threads.get(tid)?.lastRegisters;
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

  writeRegisters(tid: number, data: Buffer): void {
    this.threadRegisters.writeAll(tid, data);
  }

  // ---- memory and breakpoints ----

  readMemory(address: bigint, length: number): Buffer | Promise<Buffer> {
    // Show gdb the program's own bytes, not our int3s.
    const unshadow = (data: Buffer) => this.tracee.breakpoints.unshadow(address, data);
    if (length > 65536) {
      // Big reads (memory dumps) run on libuv's pool, so Ctrl-C and other events still get through.
      return this.tracee.memory.readAsync(address, length).then(unshadow, (err) => unreadable(err));
    }
    try {
      return unshadow(this.tracee.memory.read(address, length));
    } catch (err) {
      return unreadable(err);
    }
  }

  readMemoryInto(address: bigint, buffer: Buffer): number {
    const n = this.tracee.memory.readInto(address, buffer);
    this.tracee.breakpoints.unshadow(address, buffer.subarray(0, n));
    return n;
  }

  writeMemory(address: bigint, data: Buffer): number {
    this.breakpoints.liftNow();
    return this.tracee.breakpoints.writeAround(address, data, (bytes) => this.tracee.memory.write(address, bytes));
  }

  insertBreakpoint(type: BreakpointType, address: bigint, length: number, conditions?: Condition[], commands?: BreakpointCommand[]): void {
    try {
      this.breakpoints.insert(type, address, length, conditions, commands);
    } catch (err) {
      // A process killed behind gdb's back has no memory or registers left to put it in. Its end
      // comes with the next resume; an error now would stop gdb short of that resume
      // ("Cannot insert breakpoint"), and the end would never be reported.
      if (!this.ending()) throw err;
    }
  }

  removeBreakpoint(type: BreakpointType, address: bigint, length: number): void {
    this.breakpoints.remove(type, address, length, isRunning(this.state) || this.vforkChildRunning);
  }

  insertTracepoint(address: bigint, hit: (tid: number) => TracepointStepping | undefined): () => void {
    this.breakpoints.insertSite(address, hit);
    return () => {
      if (this.tracee.state === 'traced') this.breakpoints.removeSite(address);
    };
  }

  /**
   * The process is gone or every thread of it is on its way out (a SIGKILL from outside, say).
   * Once true, true for good: asked at each killed thread's exit, it reads /proc once per thread.
   */
  protected ending(): boolean {
    if (this.endingSeen || this.tracee.state !== 'traced') return true;
    for (const t of this.tracee.threads.values()) if (!killedMeanwhile(this.pid, t.tid)) return false;
    this.endingSeen = true;
    return true;
  }

  // ---- what gdb negotiated ----

  /**
   * QNonStop (see NonStop). Each thread that stays stopped is a stop gdb may
   * ask about with `?`: the last one reported, or signal 0. Before gdb has
   * heard of any stop, only the thread of lastStop() stays (see NonStop).
   */
  setNonStop(on: boolean, untold = false): void {
    this.nonStop = on;
    this.threadStops.clear();
    this.stopRequests.clear();
    this.unannounced.clear();
    if (!on) return;
    const last = this.last;
    const keep = last.kind === 'signal' ? last.tid : this.pid;
    const runOn: Thread[] = [];
    for (const t of this.tracee.threads.values()) {
      if (t.state !== 'stopped') continue;
      if (untold && t.tid !== keep) {
        runOn.push(t);
        continue;
      }
      this.unannounced.add(t.tid);
      this.threadStops.set(t.tid, last.kind === 'signal' && last.tid === t.tid ? last : { kind: 'signal', tid: t.tid, signal: 0 });
    }
    this.runOn(runOn);
  }

  /** Non-stop from its start, as a fork's child: its threads stopped, and gdb told of them by the fork event. */
  joinNonStop(): void {
    this.setNonStop(true);
    this.unannounced.clear();
  }

  stoppedThreads(): StopEvent[] {
    this.unannounced.clear();
    const stops: StopEvent[] = [];
    for (const t of this.tracee.threads.values()) {
      if (this.modes.get(t.tid)?.type !== 'stopped') continue;
      stops.push(this.threadStops.get(t.tid) ?? { kind: 'signal', tid: t.tid, signal: 0 });
    }
    return stops;
  }

  useSession(options: SessionOptions): void {
    this.options = options;
  }

  // ---- /proc and siginfo ----

  auxv(): Buffer | undefined {
    try {
      return fs.readFileSync(`/proc/${this.pid}/auxv`);
    } catch (err) {
      if (!hasCode(err, ...PROCESS_GONE)) throw err;
      return undefined;
    }
  }

  execFile(): string | undefined {
    try {
      return fs.readlinkSync(`/proc/${this.pid}/exe`);
    } catch (err) {
      if (!hasCode(err, ...PROCESS_GONE)) throw err;
      return undefined;
    }
  }

  siginfo(tid: number): Buffer | undefined {
    const t = this.tracee.threads.get(tid);
    if (t?.state !== 'stopped') return undefined;
    if (this.last.kind === 'signal' && this.last.tid === tid && this.last.signal === SIGINT && t.lastEvent?.type !== 'signal') {
      return ctrlCSiginfo(); // a Ctrl-C reported at an interrupt (or other trap) stop, whose own siginfo is a SIGTRAP's
    }
    try {
      return Buffer.from(t.getSiginfo().raw);
    } catch (err) {
      // ESRCH: killed out of its stop. EINVAL: a stop with no siginfo (PTRACE_LISTEN's group-stop).
      if (!hasCode(err, 'ESRCH', 'EINVAL')) throw err;
      return undefined;
    }
  }

  writeSiginfo(tid: number, data: Buffer, offset: number): void {
    const current = this.siginfo(tid);
    if (!current) throw new RangeError('no siginfo');
    if (offset >= current.length) throw new RangeError('past the end of siginfo');
    const merged = Buffer.from(current);
    data.copy(merged, offset, 0, Math.min(data.length, merged.length - offset));
    this.tracee.thread(tid).setSiginfo(merged);
  }

  librariesSvr4(from?: LibraryListStart): Promise<string | undefined> {
    return readLibraryList(async (a, n) => this.readMemory(a, n), this.auxv(), from);
  }

  // ---- ending ----

  async detach(): Promise<void> {
    this.state = allStopAfter(this.state, 'detached');
    this.breakpoints.forDetach();
    this.names.forgetAll();
    if (this.tracee.state !== 'traced') return;
    // Stops from here on are news to no one: forks among them are let go below, not handed out.
    this.onStop(undefined);
    // Every thread stopped first (gdbsock told to quit while they run), so none keeps a trap queued or a debug register set.
    await this.tracee.stopAll();
    await this.releaseUntoldForks();
    await this.drainQueuedTraps();
    if (this.tracee.state !== 'traced') return;
    this.breakpoints.applyToThreads();
    this.withholdSignals();
    // gdb already said what to deliver; drop what the bridge remembers, except real pending signals.
    await this.tracee.detach();
  }

  /**
   * The children of forks gdb was never told of (still being prepared, held
   * for a resume, queued in non-stop) are let go with their parent, which
   * would otherwise wait for them forever, as gdbserver detaches a pending
   * fork child with its parent (server.cc, handle_detach).
   */
  private async releaseUntoldForks(): Promise<void> {
    while (this.forksInFlight.size > 0) await Promise.allSettled(this.forksInFlight.values());
    for (const event of this.takeUntold()) {
      const r = event.kind === 'signal' ? event.reason : undefined;
      if (r?.type !== 'fork' && r?.type !== 'vfork') continue;
      await this.forks.take(r.childPid)?.detach();
    }
  }

  /**
   * The signal a thread stopped for reaches the program on detach only if gdb
   * lets it (QProgramSignals; `handle SIG nopass` takes one out), as under
   * gdbserver (linux-low.cc, get_detach_signal). Before gdb says, each goes on.
   */
  private withholdSignals(): void {
    const allowed = this.options.programSignals;
    if (!allowed) return;
    for (const t of this.tracee.threads.values()) if (t.pendingSignal !== 0 && !allowed.has(t.pendingSignal)) t.dropPendingSignal();
  }

  /**
   * The end of a process gdb kills is no news: gdb has mourned it already
   * (vKill's OK, or `k`, which it does not wait on). A %Stop for it in
   * non-stop would reach a gdb with no async target left to take it (gdb 16:
   * "mark_async_event_handler: Assertion `is_async_p ()'"); gdbserver reaps
   * a killed process itself and says nothing (linux-low.cc, kill_wait_lwp).
   */
  async kill(): Promise<void> {
    if (this.tracee.state !== 'traced') return;
    this.onStop(undefined);
    this.tracee.kill();
    await this.tracee.ended();
  }
}

/** /proc files of a process that has been reaped (ENOENT) or is exiting (ESRCH, EACCES once its mm is gone). */
const PROCESS_GONE = ['ENOENT', 'ESRCH', 'EACCES'];

/**
 * gdb reads memory it cannot have (unmapped, a process gone, an address
 * past 2^64): an empty answer, which it shows as "Cannot access memory".
 */
function unreadable(err: unknown): Buffer {
  if (!(hasCode(err, 'EFAULT', 'EIO', 'ESRCH', 'EPERM', 'ENOMEM') || err instanceof RangeError || err instanceof TypeError)) throw err;
  return Buffer.alloc(0);
}

/** vRun and vAttach (extended-remote) start live processes, with the settings gdb sent for them. */
export const liveProvider: TargetProvider = {
  attach: (pid) => LiveTarget.attach(pid),
  launch: (argv, settings) =>
    LiveTarget.launch(argv[0]!, argv.slice(1), {
      env: settings.env,
      disableRandomization: settings.disableRandomization,
      startupWithShell: settings.startupWithShell,
      ...(settings.cwd ? { cwd: settings.cwd } : {}),
    }),
};
