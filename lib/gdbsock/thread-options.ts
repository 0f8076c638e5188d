/**
 * QThreadOptions (GDB manual, "General Query Packets", gdb 15+): per-thread
 * event options. An entry without a thread-id, or with -1, matches every
 * thread; pPID.-1 every thread of PID. For each thread the last matching
 * entry wins and replaces what it had; a thread no entry matches keeps its
 * options. Threads born later start with none (gdb sets theirs itself).
 */
import type { Target } from './target';
import { processOf } from './thread-choice';

/** GDB_THREAD_OPTION_CLONE: a clone by this thread is a `clone` stop, the new thread held stopped. */
export const THREAD_OPTION_CLONE = 0x1;
/** GDB_THREAD_OPTION_EXIT: this thread's exit is a `w` stop, whatever QThreadEvents says. */
export const THREAD_OPTION_EXIT = 0x2;
/** What qSupported offers as QThreadOptions=. */
export const SUPPORTED_THREAD_OPTIONS = THREAD_OPTION_CLONE | THREAD_OPTION_EXIT;

export interface ThreadOptionsEntry {
  options: number;
  /** undefined or -1: any process. */
  pid?: number;
  /** -1: every thread (of `pid`, if given). */
  tid: number;
}

/**
 * Applies the entries to `table` (tid to options) for the threads `t` has now.
 * Returns false, changing nothing, when an entry asks for an option gdbsock lacks.
 */
export function applyThreadOptions(table: Map<number, number>, entries: ThreadOptionsEntry[], t: Target | undefined): boolean {
  if (entries.some((e) => (e.options & ~SUPPORTED_THREAD_OPTIONS) !== 0)) return false;
  if (!t) return true;
  for (const { tid } of t.threads()) {
    let chosen: number | undefined;
    for (const e of entries) if (matches(t, e, tid)) chosen = e.options;
    if (chosen === undefined) continue;
    if (chosen === 0) table.delete(tid);
    else table.set(tid, chosen);
  }
  return true;
}

function matches(t: Target, e: ThreadOptionsEntry, tid: number): boolean {
  if (e.tid > 0 && e.tid !== tid) return false;
  return e.pid === undefined || e.pid <= 0 || processOf(t, tid) === e.pid;
}
