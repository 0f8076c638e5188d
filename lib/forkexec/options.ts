/** lock() and launcher options, checked before any syscall and turned into a filter spec. */
import os from 'node:os';
import type { FilterSpec, Verdict } from './filter';

export type Action = 'errno' | 'kill' | 'trap' | 'log' | 'report';
export const ACTIONS: readonly Action[] = ['errno', 'kill', 'trap', 'log', 'report'];

export interface LockOptions {
  /** Deny fork, vfork, clone without CLONE_THREAD (clone3 answers ENOSYS). */
  fork?: boolean;
  /** Deny execve and execveat; or, with `allow`, permit exec only beneath those paths (Landlock). */
  exec?: boolean | { allow: string[] };
  /** Deny ptrace, process_vm_readv and process_vm_writev. */
  ptrace?: boolean;
  /** What a denied call does; 'errno' by default. */
  action?: Action;
  /** The error a denied call fails with under 'errno' and 'report': 'EACCES' by default. */
  errno?: string;
}

/** Checked options: which families, how, and the errno number. */
export interface Policy {
  fork: boolean;
  exec: boolean;
  ptrace: boolean;
  execAllow: string[] | null;
  action: Action;
  errnoName: string;
  errno: number;
}

export function parseOptions(options: unknown): Policy {
  if (options === null || typeof options !== 'object') throw new TypeError('lock(options): options must be an object');
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!['fork', 'exec', 'ptrace', 'action', 'errno'].includes(key)) throw new TypeError(`unknown lock option '${key}'`);
  }
  const flag = (key: string): boolean => {
    if (o[key] === undefined) return false;
    if (typeof o[key] !== 'boolean') throw new TypeError(`lock option '${key}' must be a boolean`);
    return o[key] as boolean;
  };
  let exec = false;
  let execAllow: string[] | null = null;
  if (o.exec !== undefined && typeof o.exec === 'object' && o.exec !== null) {
    const allow = (o.exec as { allow?: unknown }).allow;
    if (!Array.isArray(allow) || allow.some((p) => typeof p !== 'string' || p === '' || p.includes('\0'))) {
      throw new TypeError("lock option 'exec.allow' must be an array of non-empty paths");
    }
    execAllow = allow.slice();
  } else {
    exec = flag('exec');
  }
  const action = o.action === undefined ? 'errno' : o.action;
  if (typeof action !== 'string' || !ACTIONS.includes(action as Action)) {
    throw new RangeError(`lock option 'action' must be one of ${ACTIONS.join(', ')}, got ${String(action)}`);
  }
  const errnoName = o.errno === undefined ? 'EACCES' : o.errno;
  if (typeof errnoName !== 'string') throw new TypeError("lock option 'errno' must be a string such as 'EPERM'");
  const errno = (os.constants.errno as Record<string, number>)[errnoName];
  if (errno === undefined || errno <= 0) throw new RangeError(`unknown errno '${errnoName}'`);
  if (o.errno !== undefined && action !== 'errno' && action !== 'report') {
    throw new RangeError(`lock option 'errno' applies to the 'errno' and 'report' actions, not '${action}'`);
  }
  const policy: Policy = { fork: flag('fork'), exec, ptrace: flag('ptrace'), execAllow, action: action as Action, errnoName, errno };
  if (!policy.fork && !policy.exec && !policy.ptrace && !policy.execAllow) {
    throw new RangeError('lock(options) needs at least one of fork, exec or ptrace');
  }
  return policy;
}

/** The verdict a denied call gets in-process; 'report' becomes a user notification. */
export function actionVerdict(policy: Policy): Verdict {
  switch (policy.action) {
    case 'errno':
      return { kind: 'errno', errno: policy.errno };
    case 'kill':
      return { kind: 'kill' };
    case 'trap':
      return { kind: 'trap' };
    case 'log':
      return { kind: 'log' };
    case 'report':
      return { kind: 'notify' };
  }
}

export function filterSpec(policy: Policy, verdict: Verdict = actionVerdict(policy)): FilterSpec {
  return {
    fork: policy.fork ? verdict : undefined,
    exec: policy.exec ? verdict : undefined,
    ptrace: policy.ptrace ? verdict : undefined,
    foreignArch: verdict,
  };
}
