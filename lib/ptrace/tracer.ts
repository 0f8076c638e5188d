/**
 * The one tracer of this Node process: the JS main thread. ptrace requests for
 * a tracee must come from the thread that attached it, so every request is a
 * synchronous call made here; stops are learnt from SIGCHLD (a libuv signal
 * handle in the addon) and reaped with waitpid(tid, WNOHANG | __WALL) for the
 * tids we trace and no others, so Node's own child processes keep working.
 *
 * Why not a dedicated native tracer thread: every ptrace request would then
 * cross threads twice (JS -> tracer thread -> JS), on top of the one wake-up
 * this design pays. Measured here (`npm run bench -- bridge`, 2 vCPUs, under
 * load): a single-step stop->event->continue round trip costs ~48 us from JS
 * against ~12 us for the same loop in C; the same step with a blocking
 * waitpid from JS costs ~19 us, so most of the gap is waking the event loop
 * (SIGCHLD -> libuv's signal pipe -> epoll), which a native thread waking the
 * loop through uv_async would pay as well. What we do pay per stop is kept to
 * one native call per reap pass (addon.reap), not one per thread.
 *
 * Where latency matters (a debugger waiting for a single step), settle() skips
 * the event loop altogether: it blocks the JS thread in poll() until SIGCHLD
 * interrupts it, then reaps. That is the same wake-up a C tracer pays.
 */
import { monotonicMs } from '../clock';
import { addon } from '../native';

/** The status native reap() gives a tid that is gone without one (ECHILD). */
const VANISHED = -1;
/** Reap passes settle() makes before it sleeps (one pass is a waitpid per traced tid). */
const SETTLE_SPINS = 20;
/** The longest settle() keeps the event loop waiting while events keep coming. */
const SETTLE_BUDGET_MS = 50;
/**
 * The longest one reap() goes on while handlers keep resuming threads that
 * stop again at once (a breakpoint whose condition is always false): then the
 * rest waits for the event loop's next turn, so a Ctrl-C from gdb is read.
 */
const REAP_BUDGET_MS = 10;

/** A thread as the reaper sees it. */
export interface ReapedThread {
  readonly tid: number;
  /** A waitpid status for this tid. */
  onWaitStatus(status: number): void;
  /** waitpid said ECHILD: the tid is gone without a word (the thread that called exec, for one). */
  onVanished(): void;
  /** A single-step stop, already known to be one (SIGTRAP, TRAP_TRACE), with its general regset. */
  onStepped(registers: Buffer): void;
}

/** Something to tidy synchronously when Node exits (breakpoints, stopped threads). */
export interface ExitHook {
  onNodeExit(): void;
}

class Tracer {
  private readonly threads = new Map<number, ReapedThread>();
  private readonly running = new Set<number>();
  private readonly exitHooks = new Set<ExitHook>();
  private started = false;
  private tids = new Int32Array(0);
  private tidsStale = false;
  /** (tid, status) pairs from one native pass. */
  private readonly statuses = new Int32Array(2 * 64);
  private readonly quietListeners = new Set<() => void>();
  private reaping = false;
  private again = false;
  private reapQueued = false;
  private sigchldQueued = false;

  add(thread: ReapedThread): void {
    this.start();
    this.threads.set(thread.tid, thread);
    this.tidsStale = true;
  }

  remove(tid: number): void {
    if (this.threads.delete(tid)) this.tidsStale = true;
    this.setRunning(tid, false);
  }

  isTraced(tid: number): boolean {
    return this.threads.has(tid);
  }

  /**
   * Running tracees keep Node alive, like running child processes do. The
   * watcher is let go only once the event loop comes round with none running:
   * a debugger stops and resumes a thread thousands of times a second, and
   * the watcher's ref count need not follow each one.
   */
  setRunning(tid: number, running: boolean): void {
    if (running) this.running.add(tid);
    else this.running.delete(tid);
    if (this.running.size > 0 && !this.referenced) {
      this.referenced = true;
      addon.sigchldRef(true);
    } else if (this.running.size === 0 && this.referenced && !this.unrefQueued) {
      this.unrefQueued = true;
      setImmediate(this.unrefIfIdle);
    }
  }

  private referenced = false;
  private unrefQueued = false;

  private readonly unrefIfIdle = (): void => {
    this.unrefQueued = false;
    if (this.running.size > 0 || !this.referenced) return;
    this.referenced = false;
    addon.sigchldRef(false);
  };

  /**
   * `listener` runs after each SIGCHLD that left no status to reap. A traced
   * leader that exits while its other threads live on turns zombie and tells
   * its tracer with SIGCHLD (kernel/exit.c, exit_notify), yet waitpid reports
   * nothing of it until they are gone (delay_group_leader). A SIGCHLD whose
   * stop settle() reaped already comes here too. Returns the way to stop.
   */
  onQuietSigchld(listener: () => void): () => void {
    this.start();
    this.quietListeners.add(listener);
    return () => this.quietListeners.delete(listener);
  }

  addExitHook(hook: ExitHook): void {
    this.start();
    this.exitHooks.add(hook);
  }

  removeExitHook(hook: ExitHook): void {
    this.exitHooks.delete(hook);
  }

  /**
   * Reaps every pending status. SIGCHLD coalesces, so one signal may stand for
   * many stops: poll every traced tid (one native pass), again and again,
   * until a pass finds nothing (handlers may resume threads that stop again at
   * once, or add tids), or until REAP_BUDGET_MS is spent: the rest is then
   * reaped on the event loop's next turn.
   */
  reap(): number {
    if (this.reaping) {
      this.again = true; // a handler resumed a thread: the outer loop polls again
      return 0;
    }
    this.reaping = true;
    let handled = 0;
    const start = monotonicMs();
    try {
      do {
        if (handled > 0 && monotonicMs() - start > REAP_BUDGET_MS) {
          this.reapSoon();
          break;
        }
        this.again = false;
        const pairs = addon.reap(this.tidArray(), this.statuses);
        for (let i = 0; i < pairs; i++) {
          const thread = this.threads.get(this.statuses[2 * i]!);
          if (!thread) continue;
          this.again = true;
          handled++;
          handleStatus(thread, this.statuses[2 * i + 1]!);
        }
      } while (this.again);
    } finally {
      this.reaping = false;
    }
    return handled;
  }

  private reapSoon(): void {
    if (this.reapQueued) return;
    this.reapQueued = true;
    setImmediate(() => {
      this.reapQueued = false;
      this.reap();
    });
  }

  /** A status waited for outside reap() (Thread.stepWhileIn): handled as if reaped. */
  deliver(tid: number, status: number): void {
    const thread = this.threads.get(tid);
    if (thread) handleStatus(thread, status);
  }

  /** A plain single-step stop waited for outside reap(), with the registers read there. */
  deliverStep(tid: number, registers: Buffer): void {
    this.threads.get(tid)?.onStepped(registers);
  }

  /** A tid waited for outside reap() is gone without a status (ECHILD). */
  deliverVanished(tid: number): void {
    this.deliver(tid, VANISHED);
  }

  /**
   * Blocks the JS thread, reaping as stops come, until `done()` holds
   * ('done'), nothing was reaped for `idleMs` ('idle'), SETTLE_BUDGET_MS
   * went by while events kept coming ('busy': let the event loop have a turn,
   * then settle again), or `inputFd` (if given) has something to read
   * ('input'). With `spin` false it sleeps from the first pass: the stop it
   * waits for needs this CPU more than a few spins save. Handlers run synchronously here but promise
   * continuations only after the caller returns, so `done` must be something
   * handlers make true. Returns 'idle' at once when called from a handler.
   */
  settle(idleMs: number, done: () => boolean, inputFd = -1, spin = true): 'done' | 'idle' | 'busy' | 'input' {
    if (this.reaping || this.threads.size === 0) return 'idle';
    const start = monotonicMs();
    let deadline = start + idleMs;
    let spins = 0;
    for (;;) {
      const handled = this.reap();
      if (done()) return 'done';
      const now = monotonicMs();
      if (handled > 0) {
        if (now - start > SETTLE_BUDGET_MS) return 'busy';
        deadline = now + idleMs;
        spins = 0;
      }
      if (now >= deadline) return 'idle';
      // A stop usually follows within microseconds (a step): a few more passes
      // are cheaper than sleeping. After that, sleep until SIGCHLD; 1 ms slices
      // bound the cost of a signal that lands between the pass and the poll.
      if (spin && ++spins < SETTLE_SPINS) continue;
      if (addon.waitReady(inputFd, Math.min(Math.ceil(deadline - now), 1), false) === 1) return 'input';
    }
  }

  /**
   * SIGCHLD reaps on the loop's next check phase, not in the signal's own
   * callback. libuv reads its signal pipe until a read comes back short
   * (unix/signal.c, uv__signal_event), calling back for each signal: a reap
   * there resumes threads that stop again at once (a false condition), whose
   * SIGCHLDs refill the pipe, and the loop never got back to polling gdb's
   * socket (seen: non-stop vCont;t unanswered while five threads hit a false
   * condition). One reap after the burst serves every signal of it.
   */
  private readonly onSigchld = (): void => {
    if (this.sigchldQueued) return;
    this.sigchldQueued = true;
    setImmediate(this.afterSigchld);
  };

  private readonly afterSigchld = (): void => {
    this.sigchldQueued = false;
    if (this.reap() === 0) for (const listener of [...this.quietListeners]) listener();
  };

  /** The traced tids as the native pass wants them, rebuilt only when the set changed. */
  private tidArray(): Int32Array {
    if (this.tids.length !== this.threads.size || this.tidsStale) {
      this.tids = Int32Array.from(this.threads.keys());
      this.tidsStale = false;
    }
    return this.tids;
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    addon.sigchldStart(this.onSigchld);
    process.once('exit', () => {
      for (const hook of [...this.exitHooks]) hook.onNodeExit();
    });
  }
}

/** One reaped status, or VANISHED, to its thread. */
function handleStatus(thread: ReapedThread, status: number): void {
  if (status === VANISHED) thread.onVanished();
  else thread.onWaitStatus(status);
}

export const tracer = new Tracer();
