/**
 * Threads a detach could not let go: dying of a SIGKILL that woke them from
 * their stop (a group exit racing the detach), so PTRACE_DETACH says ESRCH.
 * They stay traced by us, and a traced thread that exits stays a zombie until
 * its tracer reaps it (kernel/exit.c, exit_notify: no autoreap while
 * ptraced). Left alone, they would keep the whole process from ever being
 * reaped by its parent: the leader waits for every other thread
 * (delay_group_leader). So they are reaped here, without a word to anyone;
 * the leader's status, once reaped by us, goes on to its real parent
 * (wait_task_zombie hands a ptraced zombie back). gdbserver reaps a thread
 * it fails to detach too (linux-low.cc, linux_detach_one_lwp).
 */
import { addon } from '../native';
import { Request } from './constants';
import { type ReapedThread, tracer } from './tracer';
import { decodeWaitStatus } from './wait-status';

class Leftover implements ReapedThread {
  constructor(
    readonly tid: number,
    private readonly onGone: () => void,
  ) {}

  onWaitStatus(status: number): void {
    const s = decodeWaitStatus(status);
    if (s.kind === 'exited' || s.kind === 'killed') return this.onVanished();
    // A stop after all (it was not dying): let it go now.
    try {
      addon.ptrace(Request.DETACH, this.tid, 0, 0);
    } catch {
      return; // dying after all: its exit status follows
    }
    this.onVanished();
  }

  onVanished(): void {
    tracer.remove(this.tid);
    this.onGone();
  }

  onStepped(): void {
    this.onWaitStatus(0x57f); // a SIGTRAP stop
  }
}

/**
 * Reaps `tids` (still traced by us, and not ours any more) as their exit
 * statuses come; resolves once they are all reaped. The leader `pid` is
 * left out of that wait when `leaderMayWait`: a zombie whose status waits
 * on threads that were let go alive (it is reaped whenever they end).
 */
export function reapLeftovers(pid: number, tids: readonly number[], leaderMayWait: boolean): Promise<void> {
  const waited = tids.filter((tid) => tid !== pid || !leaderMayWait);
  let left = waited.length;
  return new Promise((resolve) => {
    if (left === 0) resolve();
    for (const tid of tids) {
      const awaited = waited.includes(tid);
      tracer.add(new Leftover(tid, () => awaited && --left === 0 && resolve()));
      if (awaited) tracer.setRunning(tid, true);
    }
    tracer.reap();
  });
}
