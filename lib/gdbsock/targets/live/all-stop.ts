/**
 * The all-stop state of a live process, as one value (lldb-server keeps one
 * StateType per process, NativeProcessProtocol.h) rather than flags that
 * must agree. Every change of it goes through allStopAfter.
 *
 *   stopped ──resumed──▶ running ──interrupted──▶ interrupting
 *      ▲                    │                          │
 *      │                reporting                  reporting
 *   settled                 ▼                          │
 *      └──────────────── stopping ◀────────────────────┘
 *
 * `reporting` from any state but stopping (a stop to report: the other
 * threads are being stopped), `settled` once they are; `ended` from any state
 * but stopping, which settles first (the end is then what it reports);
 * `detached` leaves a running process stopped as far as gdb is concerned.
 */
export type AllStop =
  /** gdb has every thread stopped (or has not resumed any yet). */
  | 'stopped'
  /** gdb resumed threads; nothing to report yet. */
  | 'running'
  /** Running, and gdb asked for a stop (Ctrl-C): the next stop not worth reporting becomes a SIGINT. */
  | 'interrupting'
  /** A stop is to be reported: the other threads are being stopped, and their events held for later. */
  | 'stopping'
  /** The process is gone; every resume reports its end (and threads' exits held before it). */
  | 'ended';

export type AllStopEvent = 'resumed' | 'interrupted' | 'reporting' | 'settled' | 'ended' | 'detached';

export function allStopAfter(state: AllStop, event: AllStopEvent): AllStop {
  switch (event) {
    case 'resumed':
      return state === 'stopped' ? 'running' : state;
    case 'interrupted':
      return state === 'running' ? 'interrupting' : state;
    case 'reporting':
      return 'stopping';
    case 'settled':
      return state === 'stopping' ? 'stopped' : state;
    case 'ended':
      return state === 'stopping' ? state : 'ended';
    case 'detached':
      return isRunning(state) ? 'stopped' : state;
  }
}

/** Threads run for gdb and no stop is being reported: events are handled (or reported) as they come. */
export function isRunning(state: AllStop): boolean {
  return state === 'running' || state === 'interrupting';
}

/** What a thread is doing between gdb's resume and the next report. */
export type Mode =
  | { type: 'stopped' }
  | { type: 'continue' }
  | { type: 'step' }
  | { type: 'range'; start: bigint; end: bigint }
  /**
   * Stepping off breakpoint `address` (lifted meanwhile); then carry on as
   * `after`. `stepped`: what to do once the step is done, called from the
   * event's handler (a promise continuation would wait for the end of the
   * settle() that reaped it, up to its idle time: 10 ms a hit).
   */
  | { type: 'step-over'; address: bigint; after: Mode; stepped?: () => void }
  /** Continued only to take a SIGTRAP still queued after an interrupt (see Execution.drainQueuedTraps). */
  | { type: 'drain' };
