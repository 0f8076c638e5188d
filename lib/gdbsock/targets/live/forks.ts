/**
 * Fork following. Every fork is traced so that a child never runs into our
 * breakpoints (launch.ts, FOLLOW_FORKS). A child gdb did not ask about is
 * released: its copy of memory gets the program's bytes back and it is
 * detached. One gdb asked about is kept stopped for gdb (GDB manual, "Stop
 * Reply Packets", fork/vfork), which then detaches it (`D;PID`), follows it,
 * or keeps both. A vfork child shares our memory, so nothing is written to it.
 */
import { hasCode } from '../../../errors';
import type { Tracee } from '../../../ptrace';

/** The child died before we were done with it: nothing left to do for it. */
function gone(err: unknown): boolean {
  return hasCode(err, 'ESRCH', 'EIO');
}

export class Forks<Target> {
  /** Children of traced forks, from the 'child' event until the parent's fork event says what they are. */
  private readonly newChildren = new Map<number, Tracee>();
  /** Children reported to gdb in a fork stop, waiting for the owner of the parent's target to take them. */
  private readonly reported = new Map<number, Target>();

  constructor(private readonly parent: Tracee) {
    parent.on('child', (child: Tracee) => this.newChildren.set(child.pid, child));
  }

  /** The child of the fork event for `pid`, once. */
  takeNew(pid: number): Tracee | undefined {
    const child = this.newChildren.get(pid);
    this.newChildren.delete(pid);
    return child;
  }

  /** A child gdb need not see: waits for its first stop, takes our breakpoints out of its copy of memory, detaches. */
  async release(child: Tracee, sharesMemory: boolean): Promise<void> {
    try {
      await child.leader?.stopped();
      if (child.state !== 'traced') return;
      if (!sharesMemory) this.cleanCopy(child);
      child.dropPendingSignals();
      await child.detach();
    } catch (err) {
      if (!gone(err)) throw err;
    }
  }

  /**
   * A child to report: waits for its first stop and, for a fork, cleans its
   * memory; false if it died meanwhile. A fork child starts with no
   * breakpoints of ours: gdb's z packets for it are then no-ops and its Z
   * packets start afresh.
   */
  async prepare(child: Tracee, kind: 'fork' | 'vfork'): Promise<boolean> {
    await child.leader?.stopped();
    if (child.state !== 'traced') return false;
    try {
      if (kind === 'fork') this.cleanCopy(child);
    } catch (err) {
      if (!gone(err)) throw err; // killed meanwhile: gdb will see it exit
    }
    child.dropPendingSignals();
    return true;
  }

  keep(pid: number, target: Target): void {
    this.reported.set(pid, target);
  }

  /** The child of a fork reported in a stop, as a target of its own (once: the caller keeps it). */
  take(pid: number): Target | undefined {
    const child = this.reported.get(pid);
    this.reported.delete(pid);
    return child;
  }

  /** A fork child's memory is a copy of ours, int3s included: put the program's bytes back there. */
  private cleanCopy(child: Tracee): void {
    const ours = this.parent.breakpoints;
    for (const address of ours.addresses) {
      child.memory.writeForced(address, ours.unshadow(address, Buffer.alloc(this.parent.arch.breakpoint.length)));
    }
  }
}
