/**
 * hostkit/forkexec: a process forbids itself fork and exec (and optionally
 * ptrace), on every thread and irrevocably, with seccomp-bpf; and a launcher
 * that runs any program under the same rules.
 *
 *   import { lock } from 'hostkit/forkexec';
 *   lock({ fork: true, exec: true });
 */
export { lock, status, reports, type LockStatus, type InstalledLock } from './lock';
export { ACTIONS, type Action, type LockOptions } from './options';
export type { Attempt } from './report';
export { launch, type LaunchOptions, type LaunchResult } from './launcher';
export { buildFilter, type FilterSpec, type Verdict } from './filter';
export { Assembler, disassemble } from './bpf';
export { SystemError } from '../errors';
