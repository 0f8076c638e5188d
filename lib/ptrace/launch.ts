import fs from 'node:fs';
import path from 'node:path';
import { SystemError } from '../errors';

const SLASH = 0x2f;

export type StdioSpec = 'inherit' | number;

/**
 * A program path or argument: a string goes to execve as UTF-8; bytes go as
 * they are, since Linux argv and paths are bytes and need not be UTF-8
 * (gdbserver passes such arguments through, and so must we).
 */
export type ExecString = string | Uint8Array;

export interface LaunchOptions {
  /** Environment of the new program; defaults to this process's. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** argv[0]; defaults to `file` as given. */
  argv0?: ExecString;
  /** stdin, stdout, stderr: 'inherit' or a file descriptor of this process. */
  stdio?: [StdioSpec, StdioSpec, StdioSpec];
  /** Extra PTRACE_O_* options (clone, exec and exit-kill are always on). */
  options?: number;
  /** Put the program in a process group of its own (so a terminal's Ctrl-C spares it). */
  newProcessGroup?: boolean;
  /** Start it with address-space randomization off (personality ADDR_NO_RANDOMIZE, kept across exec), as gdb does by default. */
  noRandomization?: boolean;
}

/** What addon.launch takes, worked out from a user's request. */
export interface LaunchPlan {
  path: string | Buffer;
  argv: (string | Buffer)[];
  envp: string[];
  cwd: string | null;
  stdio: (number | null)[];
  newProcessGroup: boolean;
  noRandomization: boolean;
}

export function planLaunch(file: ExecString, args: readonly ExecString[], options: LaunchOptions): LaunchPlan {
  if (!isExecString(file) || file.length === 0) throw new TypeError('file must be a non-empty string or Uint8Array');
  if (!Array.isArray(args) || !args.every(isExecString)) throw new TypeError('args must be strings or Uint8Arrays');
  const env = options.env ?? process.env;
  // Every argument is checked before the PATH search, which may fail with ENOENT.
  const argv = [options.argv0 ?? file, ...args].map(toExecArg);
  const stdio = (options.stdio ?? ['inherit', 'inherit', 'inherit']).map(checkStdio);
  return {
    path: resolveExecutable(toExecArg(file), env.PATH),
    argv,
    envp: Object.entries(env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`])),
    cwd: options.cwd ?? null,
    stdio,
    newProcessGroup: options.newProcessGroup ?? false,
    noRandomization: options.noRandomization ?? false,
  };
}

function isExecString(value: unknown): value is ExecString {
  return typeof value === 'string' || value instanceof Uint8Array;
}

/**
 * A string as it is, bytes as a Buffer over the same memory (what the addon
 * reads). execve ends each argument at a NUL, so one inside would cut it short
 * without a word: refused here instead.
 */
function toExecArg(arg: ExecString): string | Buffer {
  const hasNul = typeof arg === 'string' ? arg.includes('\0') : arg.includes(0);
  if (hasNul) throw new TypeError('a program path or argument cannot contain a NUL byte');
  return typeof arg === 'string' ? arg : Buffer.from(arg.buffer, arg.byteOffset, arg.byteLength);
}

function checkStdio(spec: StdioSpec): number | null {
  if (spec === 'inherit') return null;
  if (Number.isInteger(spec) && spec >= 0) return spec;
  throw new TypeError(`stdio entries must be 'inherit' or a file descriptor, got ${String(spec)}`);
}

/** execvp's search: a name without a slash is looked up in PATH. */
export function resolveExecutable<T extends string | Buffer>(file: T, searchPath = '/usr/local/bin:/usr/bin:/bin'): T {
  if (typeof file === 'string' ? file.includes('/') : file.includes(SLASH)) return file;
  for (const dir of searchPath.split(':')) {
    // A name given as bytes is found as bytes: its candidates are Buffers too.
    const candidate = (typeof file === 'string' ? path.join(dir || '.', file) : Buffer.concat([Buffer.from(`${dir || '.'}/`), file])) as T;
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here: keep looking
    }
  }
  throw new SystemError(2, 'execve', { path: file.toString() });
}
