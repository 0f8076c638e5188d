/**
 * Reporting stops in all-stop mode: a stop to report first stops every other
 * thread (their events are held for the resumes that follow), then answers
 * gdb's wait(). In non-stop mode (GDB manual, "Remote Non-Stop") a stop
 * stops its own thread only and joins a queue that wait() hands out one at
 * a time. The base of LiveTarget (see execution.ts and index.ts).
 */
import { hasCode } from '../../../errors';
import type { Tracee } from '../../../ptrace';
import { addon } from '../../../native';
import { tracer } from '../../../ptrace/tracer';
import { SIGTRAP } from '../../signals';
import { SIGINT } from './signal-injection';
import type { StopEvent } from '../../target';
import type { StopRegisters } from '../stop-registers';
import { type AllStop, type Mode, allStopAfter, isRunning } from './all-stop';

/** How long wait() blocks the JS thread for the next stop before leaving it to the event loop. */
export const WAIT_SETTLE_MS = 10;

/** What gdb may still ask of a thread the kernel has reaped (see StopReports.departed). */
export interface DepartedThread {
  /** Its name when last read. */
  readonly name?: string;
  /** The general regset of the stop it was killed out of (Thread.lastRegisters). */
  readonly registers?: Buffer;
}

const STOPPED: Mode = { type: 'stopped' };

export abstract class StopReports {
  protected state: AllStop = 'stopped';
  protected readonly modes = new Map<number, Mode>();
  /** Events that wait to be reported (found while stopping the other threads). */
  protected readonly held: StopEvent[] = [];
  protected last: StopEvent;
  protected exitEvent: StopEvent | undefined;
  protected pendingReport: StopEvent | undefined;
  /**
   * Threads the kernel has reaped that gdb still takes for alive: their `w`
   * stop is still to come (QThreadEvents), or they died with their process,
   * whose end gdb has not been told yet. Until then gdb may name them (Hg, g,
   * T, qXfer:threads: after a SIGKILL from outside, or resuming the others
   * after a `w`), and an error there strands it short of the resume that
   * would report the end (gdb 16: "Could not read registers"). gdbserver
   * keeps such threads until it reports their exit, too.
   */
  protected readonly departed = new Map<number, DepartedThread>();
  private waiter: ((event: StopEvent) => void) | undefined;
  /** Non-stop: who takes each stop as it happens (NonStop.onStop), instead of wait(). */
  private stopListener: ((event: StopEvent) => void) | undefined;
  /** QNonStop:1: stops are per thread (see reportStop) and queue in `reports`. */
  protected nonStop = false;
  /** Non-stop: stops reported and not yet handed to wait(), in order. */
  private readonly reports: StopEvent[] = [];
  /** Non-stop: the stop gdb was last told of for each thread it has stopped (`?` lists them again). */
  protected readonly threadStops = new Map<number, StopEvent>();
  /** Non-stop: threads gdb asked to stop (vCont;t, vCtrlC), and the signal their stop is reported with. */
  protected readonly stopRequests = new Map<number, number>();
  /**
   * Non-stop: threads stopped that gdb has not been told of yet (those of a
   * process just attached to): a vCont;t for one is answered with its stop,
   * as for a running thread; `?` tells of them too.
   */
  protected readonly unannounced = new Set<number>();
  /**
   * gdb's Ctrl-C came while nothing ran (it crossed a stop reply), or while a thread was stepping
   * and the stop reported was the step's (its trap cleared the interrupt: kernel/signal.c,
   * ptrace_stop). The next resume answers SIGINT at once, as gdbserver's SIGINT, still queued,
   * stops the program before it runs an instruction.
   */
  protected interruptOwed = false;
  /**
   * The interrupt under way ('interrupting') is gdb's Ctrl-C, not interruptRunning's for another
   * process's stop: only gdb's is owed when another stop comes first.
   */
  protected interruptIsGdbs = false;
  /** A settleWaiter is already scheduled for the next turn of the loop. */
  private settleQueued = false;

  constructor(
    readonly tracee: Tracee,
    readonly attached: boolean,
    protected readonly threadRegisters: StopRegisters,
  ) {
    this.last = { kind: 'signal', tid: tracee.pid, signal: attached ? 0 : SIGTRAP };
    for (const t of tracee.threads.values()) this.modes.set(t.tid, STOPPED);
  }

  get pid(): number {
    return this.tracee.pid;
  }

  lastStop(): StopEvent {
    return this.last;
  }

  protected invalidate(tid?: number): void {
    this.threadRegisters.forget(tid);
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
   * and a long run of false conditions gives the loop a turn now and then.
   * gdb's Ctrl-C is taken during the wait and the program interrupted at once,
   * as gdbserver would: gdb's testsuite interrupts a `continue&` and types its
   * next command a fraction of a millisecond later, expecting the stop first
   * (gdb.base/bg-execution-repeat.exp). Anything else gdb sends ends the wait,
   * for the event loop to read.
   */
  private readonly settleWaiter = (spinFirst = true): void => {
    this.settleQueued = false;
    if (this.settling) return;
    this.settling = true;
    try {
      const fd = this.inputFd();
      // After an interrupt, no spinning: the program must wake to stop, likely on this CPU.
      for (let spin = spinFirst; ; spin = false) {
        if (!this.waiter || !isRunning(this.state) || this.nonStop) return;
        const outcome = tracer.settle(WAIT_SETTLE_MS, () => !this.waiter || this.state === 'stopping', fd, spin);
        if (outcome === 'busy') this.settleSoon();
        if (outcome !== 'input' || addon.takeInterrupt(fd) !== 1) return;
        this.interrupt();
      }
    } finally {
      this.settling = false;
    }
  };

  /** settleWaiter is on the stack: what calls back into it from there leaves the wait to it. */
  private settling = false;

  /**
   * After a Ctrl-C that came through the event loop (the wait had ended):
   * the stop follows within microseconds, so wait for it here and now, not a
   * turn of the loop later (setImmediate cost a few hundred microseconds of
   * the few hundred gdb's testsuite allows: gdb.base/bg-execution-repeat.exp).
   */
  protected settleNow(): void {
    this.settleWaiter(false);
  }

  /** gdb's Ctrl-C (Execution.interrupt). */
  abstract interrupt(): void;

  /** The descriptor gdb's packets come on, -1 if none is known. */
  protected abstract inputFd(): number;

  /** After an event that was not worth reporting: the next one likely follows soon (a loop hitting a false condition). */
  protected settleSoon(): void {
    if (this.settleQueued || !this.waiter || !isRunning(this.state) || this.nonStop) return;
    this.settleQueued = true;
    setImmediate(this.settleWaiter);
  }

  protected report(event: StopEvent): void {
    if (this.nonStop) this.reports.push(event);
    else this.pendingReport = event;
    this.flush();
  }

  /**
   * Non-stop: each stop goes to `listener` the moment it is reported, its
   * thread still stopped (stops reported before come at once). Through
   * wait()'s promise the stop would reach the server a turn later, while it
   * may already be answering a vCont that resumes that very thread (it reads
   * gdb's next packets at once: connection.ts, pumpSoon), and the stop reply
   * would find no registers.
   */
  onStop(listener: ((event: StopEvent) => void) | undefined): void {
    this.stopListener = listener;
    this.flush();
  }

  private flush(): void {
    if (this.nonStop && this.stopListener) {
      while (this.reports.length && this.stopListener) this.handOut(this.reports.shift()!, this.stopListener);
      return;
    }
    if (!this.waiter || (!this.pendingReport && !this.reports.length)) return;
    const event = this.pendingReport ?? this.reports.shift()!;
    const resolve = this.waiter;
    this.pendingReport = undefined;
    this.waiter = undefined;
    this.handOut(event, resolve);
  }

  private handOut(event: StopEvent, resolve: (event: StopEvent) => void): void {
    this.last = event;
    // gdb now knows: the thread, or every thread of the process, is gone.
    if (event.kind === 'thread-exited') this.departed.delete(event.tid);
    else if (event.kind === 'exited' || event.kind === 'killed') this.departed.clear();
    resolve(event);
  }

  /** Stops every other thread, then reports `event`. */
  protected reportStop(tid: number, event: StopEvent): void {
    if (this.nonStop) return this.reportThreadStop(tid, event);
    if (this.state === 'stopping') {
      this.held.push(event);
      return;
    }
    // gdb's Ctrl-C is on its way and this stop came first (a breakpoint hit just before it; the
    // trap cleared the interrupt: kernel/signal.c, ptrace_stop): gdb hears of this stop, and of the
    // Ctrl-C at the next resume, as gdbserver's SIGINT stays queued. Lost, gdb's next `continue`
    // ran on (gdb.base/bp-cmds-continue-ctrl-c.exp: breakpoint commands that continue).
    if (this.state === 'interrupting' && this.interruptIsGdbs && !(event.kind === 'signal' && event.signal === SIGINT && !event.reason)) {
      this.interruptOwed = true;
    }
    this.state = allStopAfter(this.state, 'reporting');
    this.modes.set(tid, STOPPED);
    const settled = () => {
      this.state = allStopAfter(this.state, 'settled');
      if (this.exitEvent) this.state = allStopAfter(this.state, 'ended');
      for (const t of this.tracee.threads.values()) this.modes.set(t.tid, STOPPED);
      this.invalidate();
      // A thread's exit (QThreadEvents) comes before its process's, which the next resume reports,
      // unless a signal killed the process (see endFirst).
      this.report(this.exitEvent && (event.kind !== 'thread-exited' || this.endFirst()) ? this.exitEvent : this.watchFirst(event));
    };
    // Nothing else running (one thread, or a step with the others held): report at once.
    if (!this.anyRunning()) return settled();
    // Not from inside this handler: stopAll can then wait for the stops synchronously (tracer.settle).
    queueMicrotask(() => {
      this.tracee
        .stopAll()
        .catch((err: unknown) => {
          // A thread killed under us (stopAll interrupts quietly, but a PTRACE_INTERRUPT may still race its death).
          if (!hasCode(err, 'ESRCH')) throw err;
        })
        .then(() => this.takeQueuedTraps())
        .then(settled);
    });
  }

  /**
   * After a stop-all, before its stop is reported: the SIGTRAPs left queued
   * behind the interrupts are taken (Execution.drainQueuedTraps), so a
   * watchpoint's among them joins the held events and watchFirst sees it.
   * Left for the next resume, it came after gdb had re-read the watched value
   * at the reported stop, and the change was lost.
   */
  protected abstract takeQueuedTraps(): Promise<void>;

  /**
   * Of a breakpoint's stop and a watchpoint's caught by the same stop-all,
   * the watchpoint's goes first. Told second, its change is lost: gdb reads
   * watched values again at the breakpoint's stop (a shared-library event
   * when a thread exits, say) and then finds nothing changed
   * (gdb.threads/watchthreads2.exp; gdb/10116). The breakpoint's stop waits
   * with the other held ones for the next resume.
   */
  private watchFirst(event: StopEvent): StopEvent {
    if (event.kind !== 'signal' || (event.reason?.type !== 'swbreak' && event.reason?.type !== 'hwbreak')) return event;
    const at = this.held.findIndex((e) => e.kind === 'signal' && (e.reason?.type === 'watch' || e.reason?.type === 'rwatch' || e.reason?.type === 'awatch'));
    if (at < 0) return event;
    const watch = this.held.splice(at, 1)[0]!;
    this.held.unshift(event);
    return watch;
  }

  /** Non-stop: `tid` stays stopped and its stop is news at once; every other thread runs on. */
  private reportThreadStop(tid: number, event: StopEvent): void {
    this.stopRequests.delete(tid);
    this.unannounced.delete(tid);
    if (event.kind === 'signal') {
      this.modes.set(tid, STOPPED);
      this.threadStops.set(tid, event);
    }
    this.report(event);
  }

  /** Stops gdb has not been told of (held for a resume, or queued in non-stop); they go, and are returned. */
  protected takeUntold(): StopEvent[] {
    const untold = [...this.held, ...this.reports];
    if (this.pendingReport) untold.push(this.pendingReport);
    this.held.length = 0;
    this.reports.length = 0;
    this.pendingReport = undefined;
    return untold;
  }

  /** Non-stop: `tid` stopped and wait() has not handed its stop out yet. */
  protected stopQueued(tid: number): boolean {
    return this.reports.some((e) => e.kind === 'signal' && e.tid === tid);
  }

  private anyRunning(): boolean {
    for (const t of this.tracee.threads.values()) if (t.state === 'running') return true;
    return false;
  }

  /** During a stop-all, events wait; otherwise they are reported now. */
  protected reportOrHold(tid: number, event: StopEvent): void {
    if (this.state === 'stopping') this.held.push(event);
    else this.reportStop(tid, event);
  }

  /**
   * QThreadEvents: every thread's birth and death is news, even one that
   * happens while the others are being stopped or gdb has them stopped: it is
   * then reported at the next resume, so none is lost.
   */
  protected reportThreadEvent(tid: number, event: StopEvent): void {
    if (this.nonStop) this.reportThreadStop(tid, event);
    else if (!isRunning(this.state)) this.held.push(event);
    else this.reportStop(tid, event);
  }

  /**
   * The process was killed by a signal: its end is reported before thread exits held back, which
   * add nothing gdb can act on. gdb would resume the threads it still believes in, which are gone.
   */
  protected endFirst(): boolean {
    return this.exitEvent?.kind === 'killed';
  }

  protected onProcessEnd(): void {
    const end = this.tracee.end!;
    this.exitEvent = end.signal !== undefined ? { kind: 'killed', pid: this.pid, signal: end.signal } : { kind: 'exited', pid: this.pid, code: end.code };
    this.state = allStopAfter(this.state, 'ended');
    if (this.state !== 'stopping') this.report(this.exitEvent);
  }
}
