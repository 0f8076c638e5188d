/**
 * The protocol extensions gdb and gdbsock agreed on for one connection, in
 * one place (GDB manual, "General Query Packets", qSupported and
 * QThreadEvents): they decide how thread ids and stops are spelled and which
 * events a target reports.
 */
import * as reply from './replies';
import type { Target } from './target';
import { followForks } from './targets/inferiors';

export class Extensions {
  /** Thread ids as pPID.TID, and stop replies naming their process. */
  multiprocess = false;
  threadEvents = false;
  execEvents = false;
  forkEvents = false;
  vforkEvents = false;

  /**
   * qSupported: takes what gdb offers and gdbsock can give. Returns the
   * target (wrapped to hold forks if gdb wants fork events) and the reply.
   */
  negotiate(features: Set<string>, target: Target | undefined): { target: Target | undefined; reply: string } {
    this.multiprocess = features.has('multiprocess+');
    target?.setExecEvents(features.has('exec-events+'));
    this.execEvents = features.has('exec-events+');
    // Fork events name the child as pPID.TID: only with multiprocess ids (gdb asks for both).
    const forks = this.multiprocess && (target === undefined || target.setForkEvents !== undefined);
    this.forkEvents = forks && features.has('fork-events+');
    this.vforkEvents = forks && features.has('vfork-events+');
    return {
      target: followForks(target, this.forkEvents, this.vforkEvents),
      reply: reply.supported({
        packetSize: reply.PACKET_SIZE,
        multiprocess: this.multiprocess,
        noResumed: features.has('no-resumed+'),
        execEvents: this.execEvents,
        forkEvents: this.forkEvents,
        vforkEvents: this.vforkEvents,
      }),
    };
  }

  /** A new target (vRun, vAttach) with the events gdb asked for; with fork events, one that can hold the forks gdb keeps. */
  apply(target: Target): Target {
    target.setExecEvents(this.execEvents);
    target.setThreadEvents?.(this.threadEvents);
    return followForks(target, this.forkEvents, this.vforkEvents)!;
  }
}
