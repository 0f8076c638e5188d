/**
 * Running a live process for gdb: resuming threads as gdb's vCont says,
 * stepping them off breakpoints they sit on, range stepping, and carrying on
 * after events gdb need not see. The base of LiveTarget, above the all-stop
 * reporting of reporting.ts; events.ts decides what each event means.
 */
import { hasCode } from '../../../errors';
import type { Thread, Tracee } from '../../../ptrace';
import { nextEvents } from '../../../ptrace/thread';
import { SessionOptions } from '../../session-options';
import { SIGTRAP } from '../../signals';
import type { ResumeAction, StopEvent, TracepointStepping } from '../../target';
import type { StopRegisters } from '../stop-registers';
import type { SteppedWatchpoints } from '../stepped-watchpoints';
import { killedMeanwhile, trapQueued } from '../pending-signals';
import { type Mode, allStopAfter, isRunning } from './all-stop';
import { BreakpointTable } from './breakpoint-table';
import { Forks } from './forks';
import { StopReports, WAIT_SETTLE_MS } from './reporting';
import { SIGINT, SignalInjection } from './signal-injection';
import { ThreadNames } from './thread-names';

const NO_ADDRESSES = new BigUint64Array(0);
/** A range no pc leaves: stepping through it is running, one instruction at a time. */
const EVERYWHERE = { start: 0n, end: 0xffff_ffff_ffff_ffffn };

/** gdb's action for thread `tid` in a vCont: its own, or the default one. */
function actionFor(tid: number, actions: ResumeAction[]): ResumeAction | undefined {
  return actions.find((a) => a.tid === tid) ?? actions.find((a) => a.tid === undefined);
}

/** The action runs its thread (a vCont;t or no action at all leaves it stopped). */
function resumes(action: ResumeAction | undefined): action is ResumeAction {
  return action !== undefined && action.type !== 'stop';
}

export abstract class Execution<Self> extends StopReports {
  /** What gdb negotiated, shared with the server and every process of the session (session-options.ts). */
  protected options = new SessionOptions();

  protected inputFd(): number {
    return this.options.inputFd;
  }

  protected readonly breakpoints: BreakpointTable;
  protected readonly forks: Forks<Self>;
  protected readonly signals: SignalInjection;
  protected readonly names: ThreadNames;
  /**
   * Threads whose interrupt stop came before a SIGTRAP still queued (pending-signals.ts): a step
   * into a system call that blocked, or a breakpoint or debug-register trap raised just as the
   * interrupt came. Taken before the threads run on (drainQueuedTraps).
   */
  protected readonly queuedTraps = new Set<number>();
  /** Signals gdb passed in a resume that ran no thread (a held event answered it): see oweSignals. */
  protected readonly owedSignals = new Map<number, number>();
  /** A vfork child runs in our memory (until vfork-done): what gdb removes must come out at once. */
  protected vforkChildRunning = false;
  /**
   * Threads stopped at a fork whose report waits for the child's first stop
   * (events.ts, reportFork), and when that wait ends. Non-stop: a vCont;t for
   * one is answered by that report, not by a stop of its own (gdb would hear
   * of the thread twice). All-stop: a resume waits for them, so that a fork
   * caught up in a stop-all is held like any event, not resumed past.
   */
  protected readonly forksInFlight = new Map<number, Promise<unknown>>();

  constructor(tracee: Tracee, attached: boolean, threadRegisters: StopRegisters) {
    super(tracee, attached, threadRegisters);
    tracee.holdNewThreads();
    this.breakpoints = new BreakpointTable(tracee, (tid, regno) => this.readRegister(tid, regno));
    this.forks = new Forks<Self>(tracee);
    this.signals = new SignalInjection(tracee.pid);
    this.names = new ThreadNames(tracee.pid);
  }

  abstract readRegister(tid: number, regno: number): Buffer;

  async resume(actions: ResumeAction[]): Promise<void> {
    try {
      if (this.nonStop) await this.resumeSome(actions);
      else await this.resumeThreads(actions);
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
    if (!this.exitEvent) this.state = allStopAfter(this.state, 'resumed');
  }

  /**
   * Non-stop: each thread gdb names does as told, the others go on as they
   * are (GDB manual, "Remote Non-Stop"). `stop` stops a running thread, whose
   * stop is then reported with signal 0; a thread gdb has stopped already is
   * left alone, as gdbserver does.
   */
  private async resumeSome(actions: ResumeAction[]): Promise<void> {
    if (this.exitEvent) return;
    const go: ResumeAction[] = [];
    for (const t of this.tracee.threads.values()) {
      const action = actionFor(t.tid, actions);
      if (!action) continue;
      const stoppedForGdb = this.modes.get(t.tid)?.type === 'stopped';
      if (action.type !== 'stop') {
        // One whose stop gdb has not heard of yet stays stopped (server.ts, queuedThreads).
        if (stoppedForGdb && !this.stopQueued(t.tid)) go.push({ ...action, tid: t.tid });
        continue;
      }
      if ((stoppedForGdb && !this.unannounced.has(t.tid)) || this.stopRequests.has(t.tid)) continue;
      this.stopRequests.set(t.tid, 0);
      if (this.forksInFlight.has(t.tid)) continue; // the fork's report is its stop
      if (t.state === 'stopped') {
        // Between two of our own steps (a step off a breakpoint): it stops right here.
        this.reportStop(t.tid, { kind: 'signal', tid: t.tid, signal: 0 });
        continue;
      }
      try {
        t.interrupt();
      } catch (err) {
        if (!hasCode(err, 'ESRCH')) throw err; // exiting: its exit is the news
      }
    }
    for (const { tid } of go) {
      this.threadStops.delete(tid!);
      this.unannounced.delete(tid!);
    }
    if (go.length) await this.resumeThreads(go);
  }

  private async resumeThreads(actions: ResumeAction[]): Promise<void> {
    this.last = { kind: 'no-resumed' };
    if (!this.nonStop) while (this.forksInFlight.size > 0) await Promise.allSettled(this.forksInFlight.values());
    if (this.exitEvent) {
      // Threads that exited before the process did are reported first (QThreadEvents), unless a
      // signal killed it (see endFirst).
      const threadExit = this.endFirst() ? -1 : this.held.findIndex((e) => e.kind === 'thread-exited');
      return this.report(threadExit >= 0 ? this.held.splice(threadExit, 1)[0]! : this.exitEvent);
    }
    const held = this.takeHeld(actions);
    if (held) {
      this.oweSignals(actions);
      return this.report(held);
    }
    if (this.interruptOwed) {
      this.interruptOwed = false;
      const resumed = [...this.tracee.threads.values()].find((t) => {
        const action = actionFor(t.tid, actions);
        return t.state === 'stopped' && resumes(action);
      });
      if (resumed) {
        this.oweSignals(actions);
        return this.report({ kind: 'signal', tid: resumed.tid, signal: SIGINT });
      }
    }
    if (this.queuedTraps.size > 0) {
      await this.drainQueuedTraps((tid) => resumes(actionFor(tid, actions)));
      if (this.pendingReport) return; // a drained stop was a real signal after all: gdb hears of it first
    }
    this.breakpoints.beforeRun();
    const plan: [Thread, ResumeAction][] = [];
    for (const t of this.tracee.threads.values()) {
      if (t.state !== 'stopped' || (this.nonStop && this.modes.get(t.tid)?.type !== 'stopped')) continue;
      const action = actionFor(t.tid, actions);
      if (resumes(action)) plan.push([t, this.withOwedSignal(t.tid, action)]);
    }
    if (plan.length === 0) {
      if (this.nonStop) return; // nothing of gdb's to run, and the others run on
      // The threads gdb resumed were killed from outside and are gone, or dying (see resume): the
      // process's end is the news, not "no-resumed", even while a thread left is still marked stopped.
      const threads = [...this.tracee.threads.values()];
      if (threads.some((t) => (t.state === 'running' && !t.starting) || killedMeanwhile(this.pid, t.tid))) return this.waitForDeath();
      return this.report({ kind: 'no-resumed' });
    }
    // The pcs come from the registers cached at the stop (the stop reply read them); then the cache goes.
    const pcs = new Map(plan.map(([t]) => [t.tid, t.getPc()]));
    this.invalidate();
    this.state = allStopAfter(this.state, 'resumed');
    // Threads sitting on a breakpoint step off it first, alone, so that no other thread runs past it while lifted.
    const rest: [Thread, ResumeAction][] = [];
    for (const [t, action] of plan) {
      const pc = pcs.get(t.tid)!;
      const reported = this.breakpoints.takeReportedHit(t.tid, pc);
      if (action.type !== 'stop' && this.tracee.breakpoints.has(pc) && reported) {
        const then: Mode = action.type === 'range' ? { type: 'range', start: action.start, end: action.end } : { type: action.type };
        const signal = action.type === 'range' ? 0 : this.signals.deliverable(t, action.signal);
        const ok = await this.stepOff(t, pc, signal, then);
        if (!ok && this.nonStop) continue; // its stop is reported; the others go on
        if (!ok) return; // the step is the stop to report, or something else happened during it
        if (then.type === 'range' && !this.inRange(t, then)) continue;
        rest.push([t, action.type === 'range' ? action : { ...action, signal: 0 }]);
      } else rest.push([t, action]);
    }
    if (this.state === 'stopping' || this.pendingReport) return;
    // Steppers last: a step's stop may be handled before stepWhileIn returns, and then everyone else must be running.
    rest.sort(([, a], [, b]) => Number(a.type !== 'continue') - Number(b.type !== 'continue'));
    for (const [t, action] of rest) {
      if (t.state !== 'stopped') continue;
      switch (action.type) {
        case 'continue':
          this.modes.set(t.tid, { type: 'continue' });
          this.go(t, this.signals.deliverable(t, action.signal));
          break;
        case 'step':
          this.modes.set(t.tid, { type: 'step' });
          t.stepWhileIn(0n, 0n, NO_ADDRESSES, this.signals.deliverable(t, action.signal), this.steppedWatch);
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
   * A resume answered with a held event runs no thread, yet gdb takes the
   * signals it passed in it as delivered (it resumes those threads with none
   * next time): they are kept for each thread's next resume, as gdbserver
   * queues them (linux-low.cc, linux_resume_one_thread: "enqueue the signal").
   */
  private oweSignals(actions: ResumeAction[]): void {
    for (const t of this.tracee.threads.values()) {
      if (t.state !== 'stopped') continue;
      const action = actionFor(t.tid, actions);
      if (action && (action.type === 'continue' || action.type === 'step') && action.signal !== 0) this.owedSignals.set(t.tid, action.signal);
    }
  }

  /** `action` with the signal owed to `tid` (see oweSignals), when gdb gives none now. */
  private withOwedSignal(tid: number, action: ResumeAction): ResumeAction {
    const owed = this.owedSignals.get(tid);
    if (owed === undefined) return action;
    this.owedSignals.delete(tid);
    if ((action.type === 'continue' || action.type === 'step') && action.signal === 0) return { ...action, signal: owed };
    return action;
  }

  /**
   * The first held event gdb may hear of at this resume. An event of a thread
   * gdb leaves stopped stays held until gdb resumes that thread: with
   * scheduler locking gdb steps one thread, and a stop of another would be
   * news it cannot place (gdb: "finish_step_over: trap_expected"). gdbserver
   * keeps such a status pending per thread too (linux-low.cc, resume_status_pending).
   * A held breakpoint hit whose breakpoint gdb has since removed is dropped,
   * as gdbserver discards a pending hit that no longer explains the stop:
   * the thread's pc is still at the breakpoint (a debug register traps before
   * the instruction), so it simply runs on from there. Births and exits of
   * threads are news whichever threads resume.
   */
  private takeHeld(actions: ResumeAction[]): StopEvent | undefined {
    for (let i = 0; i < this.held.length; i++) {
      const event = this.held[i]!;
      if (event.kind === 'signal' && event.reason?.type !== 'create') {
        const action = actionFor(event.tid, actions);
        if (!resumes(action)) continue;
        const reason = event.reason?.type;
        if ((reason === 'swbreak' || reason === 'hwbreak') && !this.breakpointStillAt(event.tid, reason)) {
          this.held.splice(i--, 1);
          continue;
        }
      }
      return this.held.splice(i, 1)[0];
    }
    return undefined;
  }

  private breakpointStillAt(tid: number, reason: 'swbreak' | 'hwbreak'): boolean {
    const t = this.tracee.threads.get(tid);
    if (t?.state !== 'stopped') return true; // gone or dying: let the event stand, its end follows
    return this.breakpoints.hasAt(reason === 'swbreak' ? 'software' : 'hardware', t.getPc());
  }

  /**
   * Steps `t` off the breakpoint at `address` while every other thread stays
   * stopped. Returns false if the step ended in something to report (which
   * then is reported); true if the thread is now past it, still stopped.
   */
  private async stepOff(t: Thread, address: bigint, signal: number, then: Mode): Promise<boolean> {
    this.modes.set(t.tid, { type: 'step-over', address, after: then });
    this.tracee.breakpoints.remove(address);
    this.stepOne(t, signal);
    const [event] = await nextEvents([t], WAIT_SETTLE_MS);
    // handleEvent saw the event first and put the breakpoint back (and reported a watchpoint the step fired).
    if (event.type !== 'step' || !isRunning(this.state)) return false;
    this.invalidate(t.tid);
    if (then.type === 'step') {
      this.reportStop(t.tid, { kind: 'signal', tid: t.tid, signal: SIGTRAP });
      return false;
    }
    this.modes.set(t.tid, { type: 'stopped' });
    return true;
  }

  /**
   * Takes the queued traps (see pending-signals.ts) before the threads run on
   * or are let go: each such thread is continued with no signal and stops at
   * once for its SIGTRAP, before running any of its code; that stop is
   * dropped (a breakpoint's pc goes back first: it traps again when the thread
   * runs, if the breakpoint is still there; see drained()). When a system call
   * was interrupted (-ERESTARTSYS), the resume after it goes back into the call
   * (arch/x86/kernel/signal.c, arch_do_signal_or_restart).
   * At a resume only the threads it runs are drained (`which`): a trap that is
   * news (a watchpoint's) must not be told of a thread gdb leaves stopped, as
   * when it steps one thread over a breakpoint with the others held (gdb:
   * "finish_step_over: trap_expected"); the rest keep theirs for later.
   */
  protected async drainQueuedTraps(which: (tid: number) => boolean = () => true): Promise<void> {
    for (const tid of this.queuedTraps) {
      if (!which(tid)) continue;
      this.queuedTraps.delete(tid);
      const t = this.tracee.threads.get(tid);
      if (t?.state !== 'stopped' || !trapQueued(tid)) continue;
      this.modes.set(tid, { type: 'drain' });
      t.deliverQueued();
      await nextEvents([t], WAIT_SETTLE_MS);
    }
  }

  /** After a stop-all, every thread's (see StopReports.takeQueuedTraps). */
  protected async takeQueuedTraps(): Promise<void> {
    try {
      await this.drainQueuedTraps();
    } catch (err) {
      if (!hasCode(err, 'ESRCH')) throw err; // killed meanwhile: its end is the news
    }
  }

  /**
   * Non-stop: threads stopped only because attaching stopped them, which gdb
   * has not heard of and never asked to stop, run on as if it had resumed
   * them, as gdbserver resumes such threads once it goes non-stop
   * (linux-low.cc, resume_stopped_resumed_lwps). Fresh from the attach, none
   * sits on a breakpoint or holds a queued trap.
   */
  protected runOn(threads: Thread[]): void {
    if (threads.length === 0) return;
    this.state = allStopAfter(this.state, 'resumed');
    for (const t of threads) {
      this.invalidate(t.tid);
      this.modes.set(t.tid, { type: 'continue' });
      this.go(t, 0);
    }
  }

  /**
   * Runs a thread gdb continues. While a write watchpoint is watched by
   * stepping (SteppedWatchpoints), it steps instead, in native code, until
   * watched bytes change or anything else stops it: caught system calls are
   * then not seen (a step runs through the call).
   */
  protected go(t: Thread, signal: number): void {
    if (this.steppedWatch) t.stepWhileIn(EVERYWHERE.start, EVERYWHERE.end, NO_ADDRESSES, signal, this.steppedWatch);
    else if (this.options.catchSyscalls) t.syscall(signal);
    else t.cont(signal);
  }

  /** What steps watch while watchpoints are watched by stepping (SteppedWatchpoints), else nothing. */
  private get steppedWatch(): SteppedWatchpoints | undefined {
    return this.breakpoints.stepped.active ? this.breakpoints.stepped : undefined;
  }

  /** One step of gdbsock's own (off a breakpoint, or gdb's stepi): the access slots it touches are found first (SteppedWatchpoints). */
  private stepOne(t: Thread, signal: number): void {
    this.breakpoints.stepped.beforeStep(t);
    t.step(signal);
  }

  private inRange(t: Thread, mode: { start: bigint; end: bigint }): boolean {
    const pc = t.getPc();
    return pc >= mode.start && pc < mode.end;
  }

  /**
   * Stops the program if it runs, for another process's stop (Inferiors: all-stop
   * over several processes); its stop is reported with SIGINT. Unlike a Ctrl-C,
   * nothing is owed, whether it has stopped already or another stop of its own
   * comes before the interrupt's: owed, the next resume would be answered with
   * a SIGINT gdb never asked for (vfork-follow-parent.exp with schedule-multiple:
   * the vfork child, stopped at its exec as the parent's vfork-done came, then
   * stopped with SIGINT at the first continue; or the parent, interrupted while
   * it waited for its vfork child, whose vfork-done came first).
   */
  interruptRunning(): void {
    if (!isRunning(this.state)) return;
    if (this.state !== 'interrupting') this.interruptIsGdbs = false; // asked again (stopQuietly's retry), or gdb's Ctrl-C under way: kept
    this.stopRunning();
  }

  /** gdb's Ctrl-C. */
  interrupt(): void {
    if (this.nonStop) return this.interruptOne();
    if (!isRunning(this.state)) {
      // Between two resumes (gdb's 0x03 crossed a stop reply: a step of a software watchpoint ends
      // within microseconds): the next resume answers it (see interruptOwed).
      if (this.state === 'stopped' || this.state === 'stopping') this.interruptOwed = true;
      return;
    }
    this.interruptIsGdbs = true;
    this.stopRunning();
  }

  /** Interrupts a running thread (the leader if it runs) and waits briefly for its stop. */
  private stopRunning(): void {
    const running = this.runningThreads();
    const victim = running.find((t) => t.tid === this.pid) ?? running[0];
    if (!victim) return;
    this.state = allStopAfter(this.state, 'interrupted');
    try {
      victim.interrupt();
    } catch (err) {
      if (!hasCode(err, 'ESRCH')) throw err; // exiting: its exit will be reported
    }
    // The stop follows within microseconds: wait for it on the JS thread, as for a step's,
    // not for the SIGCHLD to come round the event loop (gdb may send its next command first).
    this.settleNow();
  }

  /** Non-stop Ctrl-C (vCtrlC): one running thread stops, the leader if it runs, and is reported with SIGINT. */
  private interruptOne(): void {
    const running = this.runningThreads().filter((t) => this.modes.get(t.tid)?.type !== 'stopped');
    const victim = running.find((t) => t.tid === this.pid) ?? running[0];
    if (!victim) return;
    this.stopRequests.set(victim.tid, SIGINT);
    try {
      victim.interrupt();
    } catch (err) {
      if (!hasCode(err, 'ESRCH')) throw err;
    }
  }

  /** Threads running, less a leader gone ahead of its threads: an interrupt would never stop it. */
  private runningThreads(): Thread[] {
    const gone = this.tracee.leaderExited() ? this.pid : undefined;
    return [...this.tracee.threads.values()].filter((t) => t.state === 'running' && t.tid !== gone);
  }

  /** Resumes a thread as its mode says, after an event gdb need not see. */
  protected carryOn(t: Thread | undefined, mode: Mode, signal: number): void {
    if (t?.state !== 'stopped') return;
    if (this.nonStop && signal === 0 && this.stopRequests.has(t.tid)) {
      // Non-stop: gdb asked this thread to stop (vCont;t, vCtrlC), and it is. Its interrupt stop
      // will not come: a trap entered meanwhile (a step off a false condition) cleared it
      // (kernel/signal.c, ptrace_stop: any trap clears a pending STOP trap).
      return this.reportStop(t.tid, { kind: 'signal', tid: t.tid, signal: this.stopRequests.get(t.tid)! });
    }
    if (this.nonStop && this.stopRequests.has(t.tid)) {
      // It stopped for a signal gdb passes before its interrupt stop came, which that stop
      // cleared (kernel/signal.c, ptrace_stop: any trap clears a pending STOP trap), or which
      // comes now as a stray the bridge would swallow: the signal goes in, then the thread
      // is interrupted again, so gdb's stop request is answered.
      this.resumeAs(t, mode, signal);
      return t.interrupt();
    }
    if (!isRunning(this.state)) return;
    if (this.state === 'interrupting' && signal === 0) {
      // gdb asked for a stop and here is one. A thread that entered another trap (a false
      // condition) just as it was interrupted never reports the interrupt: entering any ptrace
      // trap clears a pending one (kernel/signal.c, ptrace_stop).
      return this.reportStop(t.tid, { kind: 'signal', tid: t.tid, signal: SIGINT });
    }
    this.resumeAs(t, mode, signal);
  }

  private resumeAs(t: Thread, mode: Mode, signal: number): void {
    switch (mode.type) {
      case 'continue':
        return this.go(t, signal);
      case 'step':
      case 'range':
      case 'step-over':
        return this.stepOne(t, signal);
      case 'stopped':
        return;
    }
  }

  protected onStep(t: Thread, tid: number, mode: Mode): void {
    if (this.state === 'stopping') return;
    // A continued thread stepping for a watchpoint watched by stepping (go), its watched bytes unchanged.
    if (mode.type === 'continue') return this.carryOn(t, mode, 0);
    if (mode.type === 'range') {
      // Ctrl-C during a range step: the step's trap cleared the interrupt (kernel/signal.c, ptrace_stop),
      // so this stop is the one gdb asked for, and the range ends here, as with gdbserver (T02).
      if (this.state === 'interrupting') return this.reportStop(tid, { kind: 'signal', tid, signal: SIGINT });
      const pc = t.getPc();
      if (pc >= mode.start && pc < mode.end && !this.tracee.breakpoints.has(pc)) {
        this.stepThrough(t, mode);
        return;
      }
      // A tracepoint's trap inside the range (not gdb's): collect, step over it, and range on, as
      // gdbserver collects at any stop on a tracepoint (gdb.trace/range-stepping.exp wants one vCont;r).
      const site = this.breakpoints.sites.get(pc);
      if (pc >= mode.start && pc < mode.end && site && !this.breakpoints.gdbsTrap(pc)) {
        site(tid);
        this.tracee.breakpoints.remove(pc);
        this.stepQuietly(t, tid, pc, mode, undefined);
        return;
      }
    }
    if (this.state === 'interrupting' && this.interruptIsGdbs) this.interruptOwed = true; // a step is done: gdb hears of it, and of the Ctrl-C next
    this.reportStop(tid, { kind: 'signal', tid, signal: SIGTRAP });
  }

  /** Range stepping (vCont;r): steps in native code until the pc leaves the range or lands on a breakpoint. */
  private stepThrough(t: Thread, range: { start: bigint; end: bigint }): void {
    // The native loop would step over a debug register's watchpoint hit (it stops as a plain step): one step at a time then, onStep deciding.
    if (this.breakpoints.debugRegisters.watching && !this.steppedWatch) return t.stepWhileIn(0n, 0n, NO_ADDRESSES, 0);
    const inside = this.tracee.breakpoints.addresses.filter((a) => a >= range.start && a < range.end);
    t.stepWhileIn(range.start, range.end, inside.length ? BigUint64Array.from(inside) : NO_ADDRESSES, 0, this.steppedWatch);
  }

  /**
   * One step of `t` nobody reports, off the breakpoint at `address` (taken
   * out); then, while `stepping` wants more, another; then on as `mode`
   * says. Any other event on the way (a signal, a watchpoint) goes to
   * handleEvent as usual and ends the quiet steps.
   */
  protected stepQuietly(t: Thread, tid: number, address: bigint, mode: Mode, stepping: TracepointStepping | undefined): void {
    const stepped = () => {
      if (t.state !== 'stopped' || !isRunning(this.state)) return;
      this.modes.set(tid, mode);
      if (stepping?.(tid) && this.state !== 'interrupting') return this.stepQuietly(t, tid, address, mode, stepping);
      // The step off it was an instruction of gdb's step or range too: a stepi ends here.
      if (mode.type === 'continue' || this.state === 'interrupting') this.carryOn(t, mode, 0);
      else this.onStep(t, tid, mode);
    };
    this.modes.set(tid, { type: 'step-over', address, after: mode, stepped });
    this.stepOne(t, 0);
  }

  protected onBreakpoint(t: Thread, tid: number, address: bigint, mode: Mode): void {
    if (this.state === 'stopping') return; // the pc is rewound: it hits again when resumed (see BreakpointTable.reportedHits)
    // A tracepoint collects at every hit, whatever gdb's breakpoint there decides (gdbserver: tracepoint_was_hit).
    const site = this.breakpoints.sites.get(address);
    const stepping = site?.(tid);
    const gdbs = this.breakpoints.gdbsTrap(address);
    const tracepointOnly = site !== undefined && !gdbs;
    const conditions = gdbs?.conditions;
    const commands = this.breakpoints.commands.get(address);
    const holds = !tracepointOnly && (!conditions || this.breakpoints.anyTrue(tid, conditions));
    // gdb's commands run instead of a stop (gdbserver too reports a hit only without commands).
    if (holds && commands) this.breakpoints.runCommands(tid, commands);
    if (!holds || commands) {
      // False condition, commands run, or a tracepoint's trap: step off it and carry on, without a word to gdb.
      this.tracee.breakpoints.remove(address);
      // A tracepoint's while-stepping collects after each step, while the thread runs on gdb's continue.
      this.stepQuietly(t, tid, address, mode, mode.type === 'continue' ? stepping : undefined);
      return;
    }
    this.breakpoints.noteReportedHit(tid, address);
    this.reportStop(tid, { kind: 'signal', tid, signal: SIGTRAP, reason: { type: gdbs?.reason ?? 'swbreak' } });
  }
}
