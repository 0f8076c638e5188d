/**
 * Which thread a request means (GDB manual, "Packets", H and "thread-id
 * syntax"): 0 is any thread, -1 all of them, pPID.0 and pPID.-1 any thread of
 * PID. A dead thread, or a thread of another process, is no thread.
 */
import type { Target } from './target';
import { ProtocolError } from './wire';

/** The process a thread here belongs to (one process unless forks are kept). */
export function processOf(t: Target, tid: number): number {
  return t.capabilities.multiProcess?.pidOf(tid) ?? t.pid;
}

/** `tid` is a live thread here, and one of process `pid` if the thread-id named one (pPID.TID; 0 and -1 are any). */
export function isThreadOf(t: Target, tid: number, pid: number | undefined): boolean {
  if (!t.isAlive(tid)) return false;
  return pid === undefined || pid <= 0 || processOf(t, tid) === pid;
}

/** The thread H names: 0 for any, or undefined if there is no such thread here. */
export function chooseThread(t: Target, pid: number | undefined, tid: number): number | undefined {
  if (tid > 0) return isThreadOf(t, tid, pid) ? tid : undefined;
  if (pid === undefined || pid <= 0) return 0;
  // Any thread of that process: the one that stopped last if it is one of them.
  const last = t.lastStop();
  if (last.kind === 'signal' && isThreadOf(t, last.tid, pid)) return last.tid;
  return t.threads().find((th) => processOf(t, th.tid) === pid)?.tid;
}

/** The thread g, p, m and the like act on: the one Hg chose (`general` > 0), else the last stop's, else the first. */
export function currentThread(t: Target, general: number): number {
  if (general > 0) {
    if (!t.isAlive(general)) throw new ProtocolError(`thread ${general} is gone`);
    return general;
  }
  const last = t.lastStop();
  if (last.kind === 'signal' && t.isAlive(last.tid)) return last.tid;
  const first = t.threads()[0];
  if (!first) throw new ProtocolError('no threads');
  return first.tid;
}
