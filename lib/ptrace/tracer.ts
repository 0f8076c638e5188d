/**
 * The one tracer of this Node process: the JS main thread. ptrace requests for
 * a tracee must come from the thread that attached it, so every request is a
 * synchronous call made here; stops are learnt from SIGCHLD (a libuv signal
 * handle in the addon) and reaped with waitpid(tid, WNOHANG | __WALL) for the
 * tids we trace and no others, so Node's own child processes keep working.
 *
 * Why not a dedicated native tracer thread: `npm run bench -- bridge` measures
 * this design's stop->event->continue round trip against the same loop in C;
 * the gap is a few microseconds on top of the kernel's own ~80 us, which a
 * second thread could only widen (it must still wake the JS thread).
 */
import { hasCode } from '../errors';
import { addon } from '../native';
import { Wait } from './constants';

/** A thread as the reaper sees it. */
export interface ReapedThread {
  readonly tid: number;
  /** A waitpid status for this tid. */
  onWaitStatus(status: number): void;
  /** waitpid said ECHILD: the tid is gone without a word (the thread that called exec, for one). */
  onVanished(): void;
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
  private reaping = false;
  private again = false;

  add(thread: ReapedThread): void {
    this.start();
    this.threads.set(thread.tid, thread);
  }

  remove(tid: number): void {
    this.threads.delete(tid);
    this.setRunning(tid, false);
  }

  isTraced(tid: number): boolean {
    return this.threads.has(tid);
  }

  /** Running tracees keep Node alive, like running child processes do. */
  setRunning(tid: number, running: boolean): void {
    const before = this.running.size;
    if (running) this.running.add(tid);
    else this.running.delete(tid);
    if ((before === 0) !== (this.running.size === 0)) addon.sigchldRef(this.running.size > 0);
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
   * many stops: poll every traced tid, again and again, until a full pass finds
   * nothing (handlers may resume threads that stop again at once, or add tids).
   */
  reap(): void {
    if (this.reaping) {
      this.again = true; // a handler resumed a thread: the outer loop polls again
      return;
    }
    this.reaping = true;
    try {
      do {
        this.again = false;
        for (const thread of [...this.threads.values()]) {
          if (this.threads.get(thread.tid) !== thread) continue;
          const status = this.poll(thread);
          if (status === undefined) continue;
          this.again = true;
          if (status === null) thread.onVanished();
          else thread.onWaitStatus(status);
        }
      } while (this.again);
    } finally {
      this.reaping = false;
    }
  }

  /** A status, null when the tid vanished, undefined when it has nothing to say. */
  private poll(thread: ReapedThread): number | null | undefined {
    try {
      return addon.waitpid(thread.tid, Wait.WNOHANG | Wait.WALL) ?? undefined;
    } catch (err) {
      if (hasCode(err, 'ECHILD')) return null;
      throw err;
    }
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    addon.sigchldStart(() => this.reap());
    process.once('exit', () => {
      for (const hook of [...this.exitHooks]) hook.onNodeExit();
    });
  }
}

export const tracer = new Tracer();
