import os from 'node:os';
import { getSystemErrorMap } from 'node:util';

/** Where a failed syscall pointed: whichever of these apply. */
export interface SystemErrorInfo {
  pid?: number;
  tid?: number;
  path?: string;
  fd?: number;
  address?: bigint;
  noteType?: number;
  /** Why, when the host's settings explain it (a Yama scope), and what to do: appended to the message. */
  hint?: string;
}

const errorMap = getSystemErrorMap();

/**
 * libuv's table, which Node's errors use, lacks some errnos the kernel gives
 * tracers and core handlers (ECHILD from waitpid, EDQUOT from a full quota):
 * name them from os.constants and describe them here (strerror's words).
 */
const extraDescriptions: Record<string, string> = {
  ECHILD: 'no child processes',
  EDQUOT: 'disk quota exceeded',
  ENOEXEC: 'exec format error',
  EDEADLK: 'resource deadlock avoided',
  EINPROGRESS: 'operation now in progress',
  ESTALE: 'stale file handle',
  EIDRM: 'identifier removed',
  ENOLCK: 'no locks available',
};
const errnoNames = new Map(Object.entries(os.constants.errno).map(([name, n]) => [n, name]));

function describeErrno(positive: number): [code: string, description: string] {
  const known = errorMap.get(-positive);
  if (known) return known;
  const name = errnoNames.get(positive);
  if (name) return [name, extraDescriptions[name] ?? `system error ${positive}`];
  return [`Unknown system error ${positive}`, 'unknown error'];
}

/** The code of an errno, either sign: 'EPERM' for 1 or -1. */
export function errnoCode(errno: number): string {
  return describeErrno(Math.abs(errno))[0];
}

/**
 * A failed syscall, shaped like Node's own fs errors: `code` ('ESRCH'),
 * `errno` (negative, as Node reports it: -3 for ESRCH), `syscall`
 * ('ptrace(PTRACE_SEIZE)'), the pid/tid/path it concerned, and a message
 * that says all of it.
 */
export class SystemError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  declare readonly pid?: number;
  declare readonly tid?: number;
  declare readonly path?: string;
  declare readonly fd?: number;
  declare readonly address?: bigint;
  declare readonly noteType?: number;
  declare readonly hint?: string;

  constructor(errno: number, syscall: string, info: SystemErrorInfo = {}) {
    const positive = Math.abs(errno);
    const [code, description] = describeErrno(positive);
    super(`${code}: ${description}, ${syscall}${describe(info)}${info.hint ? `: ${info.hint}` : ''}`);
    this.name = 'SystemError';
    this.code = code;
    this.errno = -positive;
    this.syscall = syscall;
    for (const key of ['pid', 'tid', 'path', 'fd', 'address', 'noteType', 'hint'] as const) {
      if (info[key] !== undefined) Object.defineProperty(this, key, { value: info[key], enumerable: true });
    }
  }
}

function describe(info: SystemErrorInfo): string {
  const parts: string[] = [];
  if (info.path !== undefined) parts.push(`'${info.path}'`);
  if (info.pid !== undefined) parts.push(`pid ${info.pid}`);
  if (info.tid !== undefined) parts.push(`tid ${info.tid}`);
  if (info.fd !== undefined) parts.push(`fd ${info.fd}`);
  if (info.address !== undefined) parts.push(`address 0x${info.address.toString(16)}`);
  if (info.noteType !== undefined) parts.push(`note type 0x${info.noteType.toString(16)}`);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

/**
 * A request hostkit refuses before any syscall because it could not end well,
 * with a Node-style `code` ('ERR_HOSTKIT_OWN_CHILD').
 */
export class HostkitError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HostkitError';
  }
}

/** Errno numbers the bridge reacts to (asm-generic/errno-base.h). */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ECHILD: 10,
  EAGAIN: 11,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EINVAL: 22,
  ENOSYS: 38,
} as const;

/** True for a SystemError (or a Node fs error) whose code is one of `codes`. */
export function hasCode(err: unknown, ...codes: string[]): boolean {
  return err instanceof Error && codes.includes((err as NodeJS.ErrnoException).code ?? '');
}

/** Repackages an error from Node's fs as a SystemError that names the pid it concerned. */
export function fromNodeError(err: unknown, info: SystemErrorInfo): unknown {
  const e = err as NodeJS.ErrnoException;
  if (!(err instanceof Error) || typeof e.errno !== 'number' || !e.syscall) return err;
  return new SystemError(e.errno, e.syscall, { ...info, path: e.path ?? info.path });
}

/** Argument checks that run before any syscall. */
export function checkPid(value: unknown, name = 'pid'): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new TypeError(`${name} must be an integer, got ${typeof value === 'number' ? value : typeof value}`);
  }
  if (value <= 0 || value > 0x3fffffff) throw new RangeError(`${name} must be a positive process id, got ${value}`);
  return value;
}

const MAX_U64 = (1n << 64n) - 1n;

export function checkAddress(value: unknown, name = 'address'): bigint {
  if (typeof value === 'bigint') {
    if (value < 0n || value > MAX_U64) throw new RangeError(`${name} must fit in 64 unsigned bits`);
    return value;
  }
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  throw new TypeError(`${name} must be a non-negative integer or bigint`);
}

export function checkBuffer(value: unknown, name = 'buffer'): Buffer {
  if (!Buffer.isBuffer(value)) throw new TypeError(`${name} must be a Buffer`);
  return value;
}
