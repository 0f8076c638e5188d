/** hostkit/veriexec's enforcement engine: fanotify permission events decided against a table. */
export { type AccessEvent, DENY_ERRNOS, type DenyErrno, type EventKind, type Mark, type Verdict } from './fanotify';
export { type DecisionRecord, type Decider, denialLine, type FailMode, Guard, type GuardOptions, type GuardRecord, type GuardStats, guard } from './guard';
