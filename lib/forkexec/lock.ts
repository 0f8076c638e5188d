/**
 * lock(): the calling process forbids itself, on every thread and for good,
 * the families it names. status(): what is locked.
 *
 * The filter goes in with SECCOMP_FILTER_FLAG_TSYNC, so libuv's threadpool,
 * Workers and native threads that exist already are covered, and threads made
 * later inherit it. NO_NEW_PRIVS comes first (native/seccomp.c). Filters only
 * stack: a second lock() adds a filter, and the kernel applies the strictest
 * verdict of all of them, so nothing can be loosened.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import { HostkitError } from '../errors';
import { addon, type SupervisorHandle } from '../native';
import { buildFilter } from './filter';
import { landlockAbi } from './landlock-support';
import { filterSpec, parseOptions, type Action, type LockOptions, type Policy } from './options';
import { toAttempt, type Attempt } from './report';
import { execCallTable } from './syscalls';

/** seccomp(2) filter flags (linux/seccomp.h). */
export const FilterFlag = {
  TSYNC: 1,
  LOG: 2,
  NEW_LISTENER: 8,
  /** With TSYNC: fail with ESRCH instead of returning a tid (needed beside NEW_LISTENER). */
  TSYNC_ESRCH: 16,
} as const;

export interface InstalledLock {
  fork: boolean;
  exec: boolean;
  ptrace: boolean;
  action: Action;
  errno: string | null;
}

export interface LockStatus {
  /** From /proc/self/status: the kernel's view. */
  seccomp: 'disabled' | 'strict' | 'filter';
  filters: number;
  noNewPrivs: boolean;
  /** What hostkit installed in this process, oldest first. */
  locks: InstalledLock[];
  /** A family counts as locked when any hostkit lock denies it (in any action but 'log'). */
  fork: boolean;
  exec: boolean;
  ptrace: boolean;
  /** A 'report' lock is installed and its supervisor is answering. */
  reporting: boolean;
}

/**
 * Emits 'attempt' (an Attempt) for each call a 'report' lock refused. The
 * emitter never keeps Node alive by itself.
 */
export const reports = new EventEmitter();

const installed: InstalledLock[] = [];
let supervisor: SupervisorHandle | null = null;
let supervisorGone = false;

export function lock(options: LockOptions): LockStatus {
  const policy = parseOptions(options);
  if (policy.execAllow) refuseInProcessLandlock(policy.execAllow);
  if (policy.action === 'log') requireLoggedAction('log');
  const report = policy.action === 'report';
  if (report && !isMainThread) {
    // The reports are delivered to one event loop; a Worker's ends before the process does.
    throw new HostkitError('ERR_HOSTKIT_REPORT_MAIN_THREAD', "a 'report' lock must be installed from the main thread");
  }
  if (report && supervisor) {
    // The kernel allows one listener per filter chain (has_duplicate_listener in kernel/seccomp.c).
    throw new HostkitError('ERR_HOSTKIT_REPORT_ONCE', "a 'report' lock is already installed: put every family in that one call, or use another action");
  }
  const flags = FilterFlag.TSYNC | FilterFlag.TSYNC_ESRCH | (report ? FilterFlag.NEW_LISTENER : 0);
  const listener = addon.seccompInstall(buildFilter(filterSpec(policy)), flags);
  installed.push(describeLock(policy));
  if (report) startSupervisor(listener, policy.errno);
  return status();
}

function startSupervisor(listener: number, denyErrno: number): void {
  try {
    supervisor = addon.supervisorStart(listener, -1, 0, denyErrno, 0, false, drain, execCallTable());
  } catch (err) {
    // The filter is in and cannot come out; with its listener closed, refused calls fail
    // with ENOSYS instead of being reported (kernel/seccomp.c): still refused.
    fs.closeSync(listener);
    throw err;
  }
}

function drain(): void {
  if (!supervisor) return;
  const { notes } = addon.supervisorDrain(supervisor);
  for (const note of notes) {
    if (note.kind !== 0) {
      supervisorGone = true;
      continue;
    }
    const attempt: Attempt = toAttempt(note);
    reports.emit('attempt', attempt);
  }
}

function describeLock(policy: Policy): InstalledLock {
  return {
    fork: policy.fork,
    exec: policy.exec,
    ptrace: policy.ptrace,
    action: policy.action,
    errno: policy.action === 'errno' || policy.action === 'report' ? policy.errnoName : null,
  };
}

/**
 * Landlock (ABI 1-7) restricts only the thread that calls landlock_restrict_self(),
 * and Node always runs several threads; Node 20's SIGUSR1 inspector thread even blocks
 * every signal, so no signal broadcast can reach it. Doing less than asked is not an
 * option, so the allow-list lives in the launcher, whose child is single-threaded.
 */
function refuseInProcessLandlock(allow: string[]): never {
  const abi = landlockAbi();
  const threads = fs.readdirSync('/proc/self/task').length;
  throw new HostkitError(
    'ERR_HOSTKIT_LANDLOCK_THREADS',
    `exec.allow needs Landlock on every thread, but Landlock ABI ${abi} restricts only the calling thread and this process has ${threads}; ` +
      `start the program with the launcher instead: forkexec --exec-allow ${allow.join(' --exec-allow ')} -- node ...`,
  );
}

/** RET_LOG is silent unless the sysctl lists it; never do less than asked. */
function requireLoggedAction(name: string): void {
  const logged = fs.readFileSync('/proc/sys/kernel/seccomp/actions_logged', 'utf8').trim().split(/\s+/);
  if (!logged.includes(name)) {
    throw new HostkitError('ERR_HOSTKIT_LOG_DISABLED', `the 'log' action would log nothing: /proc/sys/kernel/seccomp/actions_logged lacks '${name}'`);
  }
}

export function status(): LockStatus {
  const text = fs.readFileSync('/proc/self/status', 'utf8');
  const field = (name: string): string => new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(text)?.[1] ?? '0';
  const mode = Number(field('Seccomp'));
  const denies = (family: 'fork' | 'exec' | 'ptrace') => installed.some((l) => l[family] && l.action !== 'log');
  return {
    seccomp: mode === 2 ? 'filter' : mode === 1 ? 'strict' : 'disabled',
    filters: Number(field('Seccomp_filters')),
    noNewPrivs: field('NoNewPrivs') === '1',
    locks: installed.map((l) => ({ ...l })),
    fork: denies('fork'),
    exec: denies('exec'),
    ptrace: denies('ptrace'),
    reporting: supervisor !== null && !supervisorGone,
  };
}
