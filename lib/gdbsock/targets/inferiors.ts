/**
 * Several live processes as one gdbsock Target: the one gdb started or
 * attached to, and the children of forks gdb keeps (fork-events with
 * follow-fork-mode child, or detach-on-fork off). gdb's "inferiors".
 *
 * gdb names every thread with its process (multiprocess thread ids,
 * `pPID.TID`); memory, breakpoint and qXfer requests go to the process of
 * gdb's general thread (Hg); gdb detaches or kills one process at a time
 * (`D;PID`, `vKill;PID`, GDB manual "Packets"). All-stop across processes:
 * the first process to stop stops the others, and what they had to report
 * waits for a later resume.
 */
import type { RegisterLayout } from '../registers';
import type { SessionOptions } from '../session-options';
import type { LibraryListStart } from './svr4';
import type {
  BreakpointType,
  Capabilities,
  BreakpointCommand,
  Condition,
  ForkEvents,
  MemoryInto,
  MultiProcess,
  NonStop,
  PartialRegisters,
  RegisterHex,
  ResumeAction,
  StopEvent,
  Target,
  ThreadInfo,
  TracepointSites,
  TracepointStepping,
} from '../target';
import { ProtocolError } from '../wire';
import { LiveTarget } from './live';

const SIGINT = 2;
/** How often a process that has not stopped yet is asked again (it may have been between two resumes). */
const INTERRUPT_RETRY_MS = 50;

/** gdb asked for fork or vfork events: a target that can report them becomes a set of processes that can grow. */
export function followForks(target: Target, options: SessionOptions): Target {
  if (!(options.forkEvents || options.vforkEvents) || target.capabilities.forkEvents === undefined || target instanceof Inferiors) return target;
  // The one target with fork events is a live process.
  return new Inferiors(target as LiveTarget, options);
}

export class Inferiors implements Target, MultiProcess, ForkEvents, MemoryInto, PartialRegisters, RegisterHex, NonStop, TracepointSites {
  readonly capabilities: Capabilities = {
    multiProcess: this,
    forkEvents: this,
    partialRegisters: this,
    registerHex: this,
    runningProcess: this,
    nonStop: this,
    tracepoints: this,
    memoryInto: this,
  };
  /**
   * Non-stop: every process runs and stops on its own, each thread as gdb
   * says; their stops go to one listener (onStop) as they come. All-stop
   * across processes here waits for the first stop of any instead.
   */
  private nonStopOn = false;
  /** Non-stop: who takes every process's stops (NonStop.onStop). */
  private stopListener: ((event: StopEvent) => void) | undefined;
  /** By pid, the first one first. */
  private readonly members = new Map<number, LiveTarget>();
  private selected: number;
  private readonly first: LiveTarget;
  /** The stop to come of each process resumed and not yet heard from. */
  private readonly waits = new Map<LiveTarget, Promise<StopEvent>>();
  private readonly held: StopEvent[] = [];
  private last: StopEvent;

  constructor(
    root: LiveTarget,
    private options: SessionOptions,
  ) {
    root.useSession(options);
    this.first = root;
    this.members.set(root.pid, root);
    this.selected = root.pid;
    this.last = root.lastStop();
  }

  get pid(): number {
    return this.current().pid;
  }

  get registers(): RegisterLayout {
    return this.first.registers;
  }

  get attached(): boolean {
    return this.current().attached;
  }

  /** The processes, first the one gdb started with. */
  get pids(): number[] {
    return [...this.members.keys()];
  }

  private current(): LiveTarget {
    return this.members.get(this.selected) ?? this.members.values().next().value ?? this.first;
  }

  private owner(tid: number): LiveTarget | undefined {
    // Asked for every register of every stop reply: the one process, nearly always, without an iterator.
    if (this.members.size === 1 && this.members.get(this.first.pid) === this.first) return this.first.isAlive(tid) ? this.first : undefined;
    for (const m of this.members.values()) if (m.isAlive(tid)) return m;
    return undefined;
  }

  private ownerOrCurrent(tid: number): LiveTarget {
    return this.owner(tid) ?? this.current();
  }

  pidOf(tid: number): number | undefined {
    return this.owner(tid)?.pid;
  }

  /** Never one: the set takes each child in as it reports its fork. */
  takeForkedChild(): undefined {
    return undefined;
  }

  /** In the process gdb has selected, as gdbserver traces its current process. */
  insertTracepoint(address: bigint, hit: (tid: number) => TracepointStepping | undefined): () => void {
    return this.current().insertTracepoint(address, hit);
  }

  selectProcess(pid: number): void {
    if (this.members.has(pid)) this.selected = pid;
  }

  threads(): ThreadInfo[] {
    return [...this.members.values()].flatMap((m) => m.threads());
  }

  isAlive(tid: number): boolean {
    return this.owner(tid) !== undefined;
  }

  readRegisters(tid: number): Buffer {
    return this.ownerOrCurrent(tid).readRegisters(tid);
  }

  readRegister(tid: number, regno: number): Buffer {
    return this.ownerOrCurrent(tid).readRegister(tid, regno);
  }

  readRegisterHex(tid: number, regno: number): string {
    return this.ownerOrCurrent(tid).readRegisterHex(tid, regno);
  }

  writeRegister(tid: number, regno: number, value: Buffer): void {
    this.ownerOrCurrent(tid).writeRegister(tid, regno, value);
  }

  writeRegisters(tid: number, data: Buffer): void {
    this.ownerOrCurrent(tid).writeRegisters(tid, data);
  }

  unavailableRegisters(tid: number): ReadonlySet<number> | undefined {
    return this.ownerOrCurrent(tid).unavailableRegisters(tid);
  }

  readMemory(address: bigint, length: number): Buffer | Promise<Buffer> {
    return this.current().readMemory(address, length);
  }

  readMemoryInto(address: bigint, buffer: Buffer): number {
    return this.current().readMemoryInto(address, buffer);
  }

  writeMemory(address: bigint, data: Buffer): number {
    return this.current().writeMemory(address, data);
  }

  insertBreakpoint(type: BreakpointType, address: bigint, length: number, conditions?: Condition[], commands?: BreakpointCommand[]): void {
    this.current().insertBreakpoint(type, address, length, conditions, commands);
  }

  removeBreakpoint(type: BreakpointType, address: bigint, length: number): void {
    this.current().removeBreakpoint(type, address, length);
  }

  // ---- execution ----

  /** Each process gets the actions meant for it (its threads, its pid, or everyone); the others stay stopped. */
  resume(actions: ResumeAction[]): Promise<void> {
    if (this.nonStopOn) return this.resumeNonStop(actions);
    if (this.held.length) return Promise.resolve(); // wait() reports it without running anything
    // One process (nearly always): straight through, no race to set up at every step.
    if (this.members.size === 1 && this.waits.size === 0) {
      this.alone = this.current();
      return this.alone.resume(actions.some((a) => a.pid !== undefined) ? actions.map(({ pid: _pid, ...a }) => a as ResumeAction) : actions);
    }
    return this.resumeEach(actions);
  }

  /** The single process resumed through the fast path, whose wait() is the next stop. */
  private alone: LiveTarget | undefined;

  /** The actions meant for `m`: those for its threads, its pid, or everyone. */
  private actionsOf(m: LiveTarget, actions: ResumeAction[]): ResumeAction[] {
    return actions
      .filter((a) => (a.tid !== undefined ? m.isAlive(a.tid) : a.pid === undefined || a.pid === m.pid))
      .map(({ pid: _pid, ...a }) => a as ResumeAction);
  }

  /** Non-stop: each process does what is meant for it, `stop` included; the others go on as they are. */
  private async resumeNonStop(actions: ResumeAction[]): Promise<void> {
    for (const m of [...this.members.values()]) {
      const mine = this.actionsOf(m, actions);
      if (mine.length) await m.resume(mine);
    }
  }

  private async resumeEach(actions: ResumeAction[]): Promise<void> {
    for (const m of this.members.values()) {
      if (this.waits.has(m)) continue;
      const mine = this.actionsOf(m, actions);
      if (!mine.some((a) => a.type !== 'stop')) continue;
      await m.resume(mine);
      this.waits.set(m, m.wait());
    }
    if (this.waits.size === 0) this.held.push({ kind: 'no-resumed' });
  }

  wait(): Promise<StopEvent> {
    if (this.nonStopOn) return this.first.wait().then((event) => this.reported(event));
    const alone = this.alone;
    if (alone) {
      // Still `alone` while it runs: a Ctrl-C meanwhile goes to it.
      return alone.wait().then((event) => {
        if (this.alone === alone) this.alone = undefined;
        return this.reported(event);
      });
    }
    return this.waitEach();
  }

  private reported(event: StopEvent): StopEvent {
    this.account(event);
    this.last = event;
    return event;
  }

  private async waitEach(): Promise<StopEvent> {
    return this.reported(this.held.shift() ?? (await this.firstStop()));
  }

  /** The first stop of any resumed process, once every other one is stopped as well. */
  private async firstStop(): Promise<StopEvent> {
    if (this.waits.size === 0) return { kind: 'no-resumed' };
    const [first, event] = await Promise.race([...this.waits].map(([m, p]) => p.then((e) => [m, e] as const)));
    this.waits.delete(first);
    const others = [...this.waits];
    this.waits.clear();
    for (const [m, pending] of others) {
      const stop = await this.stopQuietly(m, pending);
      // Our own interrupt is no news; anything else is, later.
      if (!(stop.kind === 'signal' && stop.signal === SIGINT && !stop.reason) && stop.kind !== 'no-resumed') this.held.push(stop);
    }
    return event;
  }

  private async stopQuietly(m: LiveTarget, pending: Promise<StopEvent>): Promise<StopEvent> {
    let stop: StopEvent | undefined;
    void pending.then((e) => (stop = e));
    while (!stop) {
      m.interruptRunning();
      await Promise.race([pending, new Promise((r) => setTimeout(r, INTERRUPT_RETRY_MS))]);
    }
    return stop;
  }

  /** What a reported stop changes in the set: a fork adds the child, an exit removes the process. */
  private account(event: StopEvent): void {
    if (event.kind === 'signal' && (event.reason?.type === 'fork' || event.reason?.type === 'vfork')) {
      const child = this.owner(event.tid)?.takeForkedChild(event.reason.childPid);
      if (child) {
        child.useSession(this.options);
        this.members.set(child.pid, child);
        if (this.nonStopOn) {
          // gdb knows the child's thread from the fork event: stopped, waiting for gdb's vCont.
          child.joinNonStop();
          child.onStop(this.forward(this.stopListener));
        }
      }
    }
    if (event.kind === 'exited' || event.kind === 'killed') this.forget(event.pid);
  }

  private forget(pid: number): void {
    const m = this.members.get(pid);
    if (!m) return;
    this.members.delete(pid);
    this.waits.delete(m);
    if (this.alone === m) this.alone = undefined;
    if (this.selected === pid) this.selected = this.members.keys().next().value ?? pid;
    if (this.members.size > 0 && !this.lastStillTrue()) this.last = this.plainStop(this.current());
  }

  /** The last stop names a thread still here (a process gdb detached or killed took its own with it). */
  private lastStillTrue(): boolean {
    return this.last.kind === 'signal' && this.owner(this.last.tid) !== undefined;
  }

  /**
   * What `?` tells of a process left when the one last reported went: it is
   * stopped, with no news (signal 0), at the thread it last stopped at. Its
   * last stop itself may be an interrupt gdb never heard of (see
   * stopQuietly), and the old one names a thread gdb no longer has (gdb 16:
   * "switch_to_thread: Assertion `thr != NULL'" on reconnecting).
   */
  private plainStop(m: LiveTarget): StopEvent {
    const own = m.lastStop();
    const tid = own.kind === 'signal' && m.isAlive(own.tid) ? own.tid : (m.threads()[0]?.tid ?? m.pid);
    return { kind: 'signal', tid, signal: 0 };
  }

  setNonStop(on: boolean, untold = false): void {
    this.nonStopOn = on;
    for (const m of this.members.values()) m.setNonStop(on, untold);
  }

  stoppedThreads(): StopEvent[] {
    return [...this.members.values()].flatMap((m) => m.stoppedThreads());
  }

  onStop(listener: ((event: StopEvent) => void) | undefined): void {
    this.stopListener = listener;
    for (const m of this.members.values()) m.onStop(this.forward(listener));
  }

  /** A member's stops, taken into account (a fork adds its child) before the listener has them. */
  private forward(listener: ((event: StopEvent) => void) | undefined): ((event: StopEvent) => void) | undefined {
    return listener && ((event) => listener(this.reported(event)));
  }

  interrupt(): void {
    if (this.nonStopOn) return (this.members.get(this.first.pid) ?? this.current()).interrupt();
    if (!this.alone && this.waits.size === 0) return this.current().interrupt(); // between resumes: kept for the next
    this.alone?.interrupt();
    for (const m of this.waits.keys()) m.interrupt();
  }

  lastStop(): StopEvent {
    return this.last;
  }

  addProcess(target: Target): boolean {
    if (!(target instanceof LiveTarget) || this.members.has(target.pid)) return false;
    target.useSession(this.options);
    this.members.set(target.pid, target);
    this.selected = target.pid;
    this.last = target.lastStop();
    if (this.nonStopOn) {
      // As after vAttach of the first: every thread stopped, each answered at gdb's vCont;t.
      target.setNonStop(true);
      target.onStop(this.forward(this.stopListener));
    }
    return true;
  }

  // ---- ending ----

  detachProcess(pid: number): Promise<number> {
    return this.endProcess(pid, (m) => m.detach());
  }

  killProcess(pid: number): Promise<number> {
    return this.endProcess(pid, (m) => m.kill());
  }

  /** Detaches or kills one process; says how many are left. */
  private async endProcess(pid: number, end: (m: LiveTarget) => Promise<void>): Promise<number> {
    const m = this.members.get(pid);
    if (!m) throw new ProtocolError(`process ${pid} is not being debugged`);
    await end(m);
    this.forget(pid);
    return this.members.size;
  }

  async detach(): Promise<void> {
    for (const pid of this.pids) await this.detachProcess(pid);
  }

  async kill(): Promise<void> {
    for (const pid of this.pids) await this.killProcess(pid);
  }

  // ---- qXfer data and settings ----

  auxv(): Buffer | undefined {
    return this.current().auxv();
  }

  execFile(pid?: number): string | undefined {
    return ((pid !== undefined && this.members.get(pid)) || this.current()).execFile();
  }

  siginfo(tid: number): Buffer | undefined {
    return this.ownerOrCurrent(tid).siginfo(tid);
  }

  writeSiginfo(tid: number, data: Buffer, offset: number): void {
    this.ownerOrCurrent(tid).writeSiginfo(tid, data, offset);
  }

  librariesSvr4(from?: LibraryListStart): Promise<string | undefined> {
    return this.current().librariesSvr4(from);
  }

  /** The members share the session's options; a fork child's target already has them from its parent's. */
  useSession(options: SessionOptions): void {
    this.options = options;
    for (const m of this.members.values()) m.useSession(options);
  }
}
