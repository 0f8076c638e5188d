/**
 * What each event of the bridge means to gdb: a stop to report (held during
 * a stop-all), or something to carry on from without a word (execution.ts).
 * The base of LiveTarget right below its facade (index.ts).
 */
import { hasCode } from '../../../errors';
import { Signal, type Thread, type TraceEvent, type Tracee } from '../../../ptrace';
import { tracer } from '../../../ptrace/tracer';
import { SIGTRAP } from '../../signals';
import { THREAD_OPTION_CLONE, THREAD_OPTION_EXIT } from '../../thread-options';
import type { BreakpointType, StopEvent } from '../../target';
import type { StopRegisters } from '../stop-registers';
import { killedMeanwhile, trapQueued } from '../pending-signals';
import { type Mode, isRunning } from './all-stop';
import { Execution } from './execution';
import { SIGINT, SIGSTOP } from './signal-injection';

const BREAKPOINT_LIKE: ReadonlySet<number> = new Set([Signal.SIGTRAP, Signal.SIGILL, Signal.SIGSEGV]);

const STOPPED: Mode = { type: 'stopped' };
const CONTINUE: Mode = { type: 'continue' };

export abstract class TraceEvents<Self> extends Execution<Self> {
  private readonly syscallEntry = new Map<number, number>();
  /** New threads whose clone was reported (QThreadOptions): they stay stopped at their first stop. */
  private readonly cloneReported = new Set<number>();
  /** Clone stops to tell once the new thread (the key) has had its first stop. */
  private readonly cloneReportsWaiting = new Map<number, () => void>();
  private readonly stopQuietWatch: () => void;

  constructor(tracee: Tracee, attached: boolean, threadRegisters: StopRegisters) {
    super(tracee, attached, threadRegisters);
    tracee.on('event', (e: TraceEvent, ended?: Thread) => this.onEvent(e, ended));
    tracee.on('exit', () => this.onProcessEnd());
    this.stopQuietWatch = tracer.onQuietSigchld(this.onQuietSigchld);
    tracee.once('exit', this.stopQuietWatch);
  }

  /** The process is gone or every thread of it is on its way out (a SIGKILL from outside, say). */
  protected abstract ending(): boolean;
  abstract execFile(): string | undefined;
  /** A target for the child of a fork reported to gdb, with this one's settings. */
  protected abstract forkTarget(child: Tracee): Self;

  private onEvent(e: TraceEvent, ended?: Thread): void {
    try {
      this.handleEvent(e, ended);
    } catch (err) {
      // A thread killed under us (SIGKILL ends its stop): its exit event follows.
      if (!hasCode(err, 'ESRCH')) throw err;
      this.tracee.threads.get(e.tid)?.dying();
    }
    this.settleSoon();
  }

  /** `ended`: the thread whose end `e` is, gone from the tracee's threads. */
  private handleEvent(e: TraceEvent, ended?: Thread): void {
    const t = this.tracee.threads.get(e.tid);
    if (t?.state === 'stopped') this.breakpoints.refresh(t);
    let mode: Mode = this.modes.get(e.tid) ?? CONTINUE;
    this.invalidate(e.tid);
    // A step that wrote (or read) watched data is the watchpoint's stop: DR6 is read only while gdb watches something.
    const watch = e.type === 'step' && this.breakpoints.debugRegisters.watching ? this.watchedByStep(t!) : undefined;
    if (mode.type === 'step-over') {
      // Whatever ended the step, the lifted breakpoint goes back (if gdb still wants it).
      if (this.breakpoints.wantsTrap(mode.address) && this.tracee.state === 'traced') this.tracee.breakpoints.insert(mode.address);
      if (e.type === 'step' && !watch) return mode.stepped?.(); // the one who started the step-over carries on
      mode = mode.after;
      this.modes.set(e.tid, mode);
    }
    if (mode.type === 'drain') {
      mode = STOPPED;
      this.modes.set(e.tid, mode);
      if (this.drained(t!, e)) return;
    }
    const stopping = this.state === 'stopping';
    switch (e.type) {
      case 'exited':
      case 'killed': {
        this.modes.delete(e.tid); // the process's end comes through onProcessEnd
        // A new thread gone before its first stop: its parent's clone stop waits no longer.
        this.cloneReported.delete(e.tid);
        const cloneReport = this.cloneReportsWaiting.get(e.tid);
        this.cloneReportsWaiting.delete(e.tid);
        cloneReport?.();
        this.threadStops.delete(e.tid);
        this.stopRequests.delete(e.tid);
        this.owedSignals.delete(e.tid);
        const name = this.names.name(e.tid); // the last one read: it is reaped
        this.names.forget(e.tid);
        // The leader is reaped last, as the process's end (kernel/exit.c, delay_group_leader). A thread
        // killed by a signal died of its process's death (a fatal signal kills the whole group:
        // kernel/signal.c, complete_signal), when every other thread is dying too: no `w` for it,
        // which would stand in for that end (gdb, told only that the thread it stepped is gone,
        // resumes the others, gone too). gdb hears of all of them with the end.
        const withProcess = e.tid === this.pid || (e.type === 'killed' && this.ending());
        // A non-leader that called execve lives on as the leader, whose exec stop gdb hears of: its
        // old tid is no thread exit (gdbserver sends no `w` for it, whatever gdb's QThreadOptions).
        const execed = e.type === 'exited' && e.execed === true;
        // Any other thread's exit is a `w` stop, if gdb wants them; else gdb finds it gone from the thread list.
        const exitOption = this.threadOption(e.tid, THREAD_OPTION_EXIT);
        this.options.threadOptions.delete(e.tid);
        const wStop = (this.options.threadEvents || exitOption) && !withProcess && !execed && this.tracee.threads.size > 0;
        if (withProcess || wStop) this.departed.set(e.tid, { name, registers: ended?.lastRegisters });
        if (wStop) this.reportThreadEvent(e.tid, { kind: 'thread-exited', tid: e.tid, code: e.type === 'exited' ? e.code : 0, pid: this.pid });
        // The last thread gdb resumed is gone and it holds the others (scheduler-locking): nothing
        // is left to wait for, as gdbserver says with N (gdb: "No unwaited-for children left").
        else if (!withProcess && !execed && !this.nonStop && isRunning(this.state) && this.noneResumed()) this.reportStop(e.tid, { kind: 'no-resumed' });
        // Non-stop: the same news, queued after the `w` if there was one, as gdbserver queues N
        // (gdb with `maint set target-non-stop on`: step-over-thread-exit.exp).
        if (!withProcess && !execed && this.nonStop && this.tracee.threads.size > 0 && this.noneResumed()) this.reportStop(e.tid, { kind: 'no-resumed' });
        return;
      }
      case 'thread-start':
        this.modes.set(e.tid, STOPPED);
        if (t) this.breakpoints.applyTo(t);
        // Its clone was reported (QThreadOptions): it waits, stopped, for gdb to resume it.
        if (this.cloneReported.delete(e.tid)) {
          // Its parent's clone stop waited for this first stop: gdb reads the new thread's registers at once.
          const report = this.cloneReportsWaiting.get(e.tid);
          this.cloneReportsWaiting.delete(e.tid);
          report?.();
          return;
        }
        if (this.options.threadEvents && t) return this.reportThreadEvent(e.tid, { kind: 'signal', tid: e.tid, signal: SIGTRAP, reason: { type: 'create' } });
        // Non-stop: gdb asked it to stop before its first stop came (vCont;t as it was born): this is that stop.
        if (this.nonStop && this.stopRequests.has(e.tid)) return this.reportStop(e.tid, { kind: 'signal', tid: e.tid, signal: this.stopRequests.get(e.tid)! });
        if (isRunning(this.state) && t) {
          this.modes.set(e.tid, CONTINUE);
          this.go(t, 0);
        }
        return;
      case 'fork':
      case 'vfork': {
        const child = this.forks.takeNew(e.newPid);
        if (e.type === 'vfork') this.vforkChildRunning = true;
        if (child && t && (e.type === 'fork' ? this.options.forkEvents : this.options.vforkEvents)) return this.startForkReport(t, e.type, child, mode);
        if (child) void this.forks.release(child, e.type === 'vfork');
        return this.carryOn(t, mode, 0);
      }
      case 'vfork-done':
        this.vforkChildRunning = false;
        if (this.options.vforkEvents && !stopping)
          return this.reportOrHold(e.tid, { kind: 'signal', tid: e.tid, signal: SIGTRAP, reason: { type: 'vforkdone' } });
        return this.carryOn(t, mode, 0);
      case 'clone':
        if (t && this.threadOption(e.tid, THREAD_OPTION_CLONE)) {
          this.cloneReported.add(e.newTid);
          const report = () =>
            this.reportOrHold(e.tid, { kind: 'signal', tid: e.tid, signal: SIGTRAP, reason: { type: 'clone', childPid: this.pid, childTid: e.newTid } });
          // As gdbserver: the clone is told once the new thread has stopped too (its registers readable).
          if (this.tracee.threads.get(e.newTid)?.starting) return void this.cloneReportsWaiting.set(e.newTid, report);
          return report();
        }
        return this.carryOn(t, mode, 0);
      case 'seccomp':
      case 'exiting':
      case 'group-stop':
        return this.carryOn(t, mode, 0);
      case 'exec':
        // The old address space, and every breakpoint in it, is gone; gdb inserts its own again.
        this.breakpoints.forgetAll();
        if (!this.options.execEvents) return this.carryOn(t, mode, 0);
        return this.reportOrHold(e.tid, { kind: 'signal', tid: e.tid, signal: SIGTRAP, reason: { type: 'exec', path: this.execFile() ?? '' } });
      case 'interrupted':
        if (trapQueued(e.tid)) this.queuedTraps.add(e.tid);
        if (stopping) return; // stopAll's own
        if (this.nonStop && this.stopRequests.has(e.tid)) return this.reportStop(e.tid, { kind: 'signal', tid: e.tid, signal: this.stopRequests.get(e.tid)! });
        if (this.state === 'interrupting') return this.reportStop(e.tid, { kind: 'signal', tid: e.tid, signal: SIGINT });
        return this.carryOn(t, mode, 0);
      case 'step':
        if (watch) return this.reportOrHold(e.tid, { kind: 'signal', tid: e.tid, signal: SIGTRAP, reason: watch });
        return this.onStep(t!, e.tid, mode);
      case 'breakpoint':
        return this.onBreakpoint(t!, e.tid, e.address, mode);
      case 'removed-breakpoint':
        // The thread trapped on a breakpoint that went before its stop was reaped: lifted for
        // another thread's step off a false condition (gdb still wants it: judge this hit too),
        // or removed by gdb (z0). The pc is back on the original instruction; a stop that gdb
        // never asked for must not reach it (gdb would take a bare SIGTRAP for the program's).
        if (this.breakpoints.wantsTrap(e.address)) return this.onBreakpoint(t!, e.tid, e.address, mode);
        if (stopping) return;
        return this.carryOn(t, mode, 0);
      case 'hardware-trap': {
        // No need to clear DR6: the kernel resets its ptrace view at every #DB (arch/x86/kernel/traps.c, exc_debug_user).
        const hit = this.breakpoints.debugRegisters.hit(e.dr6 ?? 0n);
        if (hit && hit.owner === 'tracepoint') {
          // A tracepoint's: collect, and run on unreported (the trap came before the instruction, EFLAGS.RF set).
          const stepping = this.breakpoints.sites.get(hit.address)?.(e.tid);
          if (stepping && mode.type === 'continue') return this.stepQuietly(t!, e.tid, hit.address, mode, stepping);
          return this.carryOn(t, mode, 0);
        }
        if (hit && hit.owner === 'condition') {
          const conditions = this.breakpoints.hardwareConditions.get(hit.address);
          // False for this thread: never news, whatever it was doing. The trap came before the
          // instruction and the kernel set EFLAGS.RF, so a step or a continue now runs it, and a
          // thread caught in a stop-all just stays stopped there.
          if (conditions && !this.breakpoints.anyTrue(e.tid, conditions)) return this.carryOn(t, mode, 0);
          return this.reportOrHold(e.tid, { kind: 'signal', tid: e.tid, signal: SIGTRAP, reason: { type: 'swbreak' } });
        }
        if (hit?.type === 'hardware') {
          // gdb's own hardware breakpoint, with the conditions it gave (target-side evaluation).
          const conditions = this.breakpoints.hwbreakConditions.get(hit.address);
          if (conditions && !this.breakpoints.anyTrue(e.tid, conditions)) return this.carryOn(t, mode, 0);
        }
        if (hit) {
          const reason = hit.type === 'hardware' ? { type: 'hwbreak' as const } : this.watchReason(e.dr6 ?? 0n);
          if (reason) return this.reportOrHold(e.tid, { kind: 'signal', tid: e.tid, signal: SIGTRAP, reason });
        }
        if (staleDebugTrap(e.dr6)) {
          // A debug register gdb has since cleared fired before the removal and was reaped after it
          // (the race of 'removed-breakpoint'): news of nothing gdb still asks for.
          if (stopping) return;
          return this.carryOn(t, mode, 0);
        }
        if (mode.type === 'step' || mode.type === 'range' || mode.type === 'step-over') return this.onStep(t!, e.tid, mode);
        return this.reportOrHold(e.tid, { kind: 'signal', tid: e.tid, signal: SIGTRAP });
      }
      case 'syscall-entry':
      case 'syscall-exit': {
        const entry = e.type === 'syscall-entry';
        // An exit whose entry came before gdb caught syscalls (the vfork gdb was told of, resumed with
        // PTRACE_SYSCALL only after): the number is still in orig_rax, as gdbserver reads it.
        const nr = entry ? e.nr : (this.syscallEntry.get(e.tid) ?? this.syscallOfStop(t!));
        if (entry) this.syscallEntry.set(e.tid, e.nr);
        const catching = this.options.catchSyscalls;
        const wanted = catching && (catching.size === 0 || catching.has(nr));
        if (!wanted || stopping) return this.carryOn(t, mode, 0);
        return this.reportOrHold(e.tid, {
          kind: 'signal',
          tid: e.tid,
          signal: SIGTRAP,
          // gdb reads the number as hex digits only: a negative one (syscall(-1)) goes as gdbserver's unsigned int does.
          reason: { type: entry ? 'syscall_entry' : 'syscall_return', nr: nr >>> 0 },
        });
      }
      case 'signal': {
        if (stopping && e.signal === SIGSTOP) return;
        if (e.trapAt !== undefined) return this.onProgramTrap(t!, e.tid, e.trapAt, stopping);
        // gdb asked for it (see SignalInjection); caught up in a stop-all, it is reported instead, so never lost.
        if (this.signals.take(e.tid, e.signal) && isRunning(this.state)) return this.carryOn(t, mode, e.signal);
        if (this.passesSilently(e.signal, mode) && !stopping) return this.carryOn(t, mode, e.signal);
        return this.reportOrHold(e.tid, { kind: 'signal', tid: e.tid, signal: e.signal });
      }
    }
  }

  /**
   * A queued trap taken before the thread runs on (drainQueuedTraps): true when
   * it is dropped. The kernel's own SIGTRAP (a positive si_code) goes; one a
   * program sent is news like any signal. A software breakpoint's trap goes
   * too, its pc already back on the breakpoint: if gdb still has it there, the
   * thread hits it again when it runs and is judged then. A debug register's
   * trap is judged now, unless the register has since been cleared: an
   * instruction breakpoint does not trap twice (EFLAGS.RF), and a watchpoint's
   * write is done.
   */
  private drained(t: Thread, e: TraceEvent): boolean {
    switch (e.type) {
      case 'signal':
        if (e.signal !== SIGTRAP || e.siginfo.code <= 0) return false;
        if (e.trapAt !== undefined) t.setPc(e.trapAt); // the program's own int3 traps again when it runs
        t.dropPendingSignal();
        return true;
      case 'breakpoint':
      case 'removed-breakpoint':
        return true;
      case 'hardware-trap':
        return this.breakpoints.debugRegisters.hit(e.dr6 ?? 0n) === undefined && staleDebugTrap(e.dr6);
      default:
        return false;
    }
  }

  /**
   * A trap instruction in the program's own code (gdb's "permanent
   * breakpoint"): the pc goes back onto it and the stop is a software
   * breakpoint's, as gdbserver reports any int3 trap (linux-low.cc,
   * save_stop_reason); gdb finds its breakpoint there, judges its condition,
   * and steps past the instruction itself. Caught in a stop-all, it is not
   * news: back on the instruction, the thread traps again when resumed.
   */
  private onProgramTrap(t: Thread, tid: number, at: bigint, stopping: boolean): void {
    t.setPc(at);
    t.dropPendingSignal();
    if (stopping) return;
    this.reportOrHold(tid, { kind: 'signal', tid, signal: SIGTRAP, reason: { type: 'swbreak' } });
  }

  /**
   * A signal gdb asked to pass (QPassSignals) goes to the program without a
   * stop, as gdbserver lets it (linux-low.cc, wait_1): never SIGTRAP, SIGILL
   * or SIGSEGV, which a breakpoint may raise (gdb's return breakpoint for a
   * function call on a non-executable stack is a SIGSEGV at that address),
   * and never while gdb steps the thread.
   */
  private passesSilently(signal: number, mode: Mode): boolean {
    if (!this.options.passSignals.has(signal) || BREAKPOINT_LIKE.has(signal)) return false;
    return mode.type !== 'step' && mode.type !== 'range';
  }

  /**
   * A SIGCHLD with nothing to reap while only the leader runs for gdb: the
   * leader may have exited ahead of its threads (pthread_exit from main), a
   * zombie that stops no more. gdb resumed it alone (scheduler-locking), so
   * nothing is left to wait for: N, as gdbserver says once its wait finds
   * the leader a zombie (linux-low.cc, check_zombie_leaders), or the leader's
   * exit if gdb asked for that thread's exits. A whole-process
   * exit makes the leader a zombie too; then the others are dying of the
   * group's SIGKILL, and their exits make the process's end.
   */
  private readonly onQuietSigchld = (): void => {
    if (this.tracee.state !== 'traced') return this.stopQuietWatch();
    if (this.nonStop || !isRunning(this.state) || this.exitEvent || this.tracee.threads.size < 2) return;
    // Cheap checks first: this runs after every SIGCHLD a settle() reaped already.
    for (const t of this.tracee.threads.values()) {
      if (t.tid !== this.pid && (t.state !== 'stopped' || this.modes.get(t.tid)?.type !== 'stopped')) return;
    }
    if (!this.tracee.leaderExited()) return;
    for (const tid of this.tracee.threads.keys()) if (tid !== this.pid && killedMeanwhile(this.pid, tid)) return;
    if (this.options.threadEvents || this.threadOption(this.pid, THREAD_OPTION_EXIT)) {
      // gdb asked to hear of this thread's exit (QThreadOptions, gdb 15 and later): that is the
      // news, a `w` as gdbserver sends it; gdb then finds nothing resumed itself. gdb 16 answered
      // N with a hang, waiting for the exit it had asked for.
      this.options.threadOptions.delete(this.pid);
      return this.reportThreadEvent(this.pid, { kind: 'thread-exited', tid: this.pid, code: 0, pid: this.pid });
    }
    this.reportStop(this.pid, { kind: 'no-resumed' });
  };

  /** Every thread left is stopped for gdb (a leader gone ahead of its threads counts as none). */
  private noneResumed(): boolean {
    const gone = this.tracee.leaderExited() ? this.pid : undefined;
    for (const t of this.tracee.threads.values()) {
      if (t.tid === gone) continue;
      if (t.state !== 'stopped' || this.modes.get(t.tid)?.type !== 'stopped') return false;
    }
    return true;
  }

  private threadOption(tid: number, option: number): boolean {
    return ((this.options.threadOptions.get(tid) ?? 0) & option) !== 0;
  }

  private syscallOfStop(t: Thread): number {
    const at = t.arch.gprNames.indexOf('orig_rax');
    return at < 0 ? -1 : Number(BigInt.asIntN(32, t.registersOfStop().readBigUInt64LE(at * 8)));
  }

  /** The watchpoints a step fired: DR6 as the CPU set it, or as stepping saw the watched bytes change (SteppedWatchpoints). */
  private watchedByStep(t: Thread): WatchReason | undefined {
    const stepped = this.breakpoints.stepped;
    return this.watchReason(stepped.active ? stepped.changed(t.tid) : t.getDebugRegister(6));
  }

  /** Every watchpoint DR6 says fired: the first as the reason, the rest beside it. */
  private watchReason(dr6: bigint): WatchReason | undefined {
    const [first, ...rest] = this.breakpoints.debugRegisters.watchHits(dr6).map((h) => ({ type: watchKind(h.type), address: h.address }));
    if (!first) return undefined;
    return rest.length ? { ...first, others: rest } : first;
  }

  /**
   * The fork stays in flight until reportFork has decided what becomes of it
   * (reported, held, or carried on from), not merely until the child is
   * ready: a resume waiting on it must find that decision made, and gdb's
   * next packet may be read before the microtasks in between have run.
   */
  private startForkReport(parent: Thread, kind: 'fork' | 'vfork', child: Tracee, mode: Mode): void {
    const deciding = this.reportFork(parent, kind, child, mode).finally(() => this.forksInFlight.delete(parent.tid));
    this.forksInFlight.set(parent.tid, deciding);
  }

  /** gdb asked for fork events: once the child is in its first stop, report the fork (forks.ts). */
  private async reportFork(parent: Thread, kind: 'fork' | 'vfork', child: Tracee, mode: Mode): Promise<void> {
    const prepared = await this.forks.prepare(child, kind);
    // A stop-all may have settled meanwhile: the parent is then stopped for gdb (modes), whatever it was doing.
    const now = this.modes.get(parent.tid) ?? mode;
    if (!prepared) return this.carryOn(parent, now, 0);
    this.forks.keep(child.pid, this.forkTarget(child));
    const event: StopEvent = { kind: 'signal', tid: parent.tid, signal: SIGTRAP, reason: { type: kind, childPid: child.pid, childTid: child.pid } };
    if (parent.state !== 'stopped') return; // the parent was killed meanwhile: its exit is the news
    // All-stop: gdb was told of another stop meanwhile and holds this thread; the fork waits for
    // its next resume (takeHeld), as any event found during a stop-all.
    if (!this.nonStop && now.type === 'stopped') return void this.held.push(event);
    this.reportOrHold(parent.tid, event);
  }

  protected override onProcessEnd(): void {
    this.names.forgetAll();
    super.onProcessEnd();
  }
}

/** DR6's B0..B3 (a debug register fired) without BS (not a single-step's trap). */
function staleDebugTrap(dr6: bigint | undefined): boolean {
  return dr6 !== undefined && (dr6 & 0xfn) !== 0n && (dr6 & DR6_SINGLE_STEP) === 0n;
}
const DR6_SINGLE_STEP = 1n << 14n;

type WatchReason = Extract<NonNullable<Extract<StopEvent, { kind: 'signal' }>['reason']>, { type: 'watch' | 'rwatch' | 'awatch' }>;

function watchKind(type: BreakpointType): 'watch' | 'rwatch' | 'awatch' {
  return type === 'write' ? 'watch' : type === 'read' ? 'rwatch' : 'awatch';
}
