import fs from 'node:fs';
import path from 'node:path';
import { SystemError } from '../errors';

export type StdioSpec = 'inherit' | number;

export interface LaunchOptions {
  /** Environment of the new program; defaults to this process's. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** argv[0]; defaults to `file` as given. */
  argv0?: string;
  /** stdin, stdout, stderr: 'inherit' or a file descriptor of this process. */
  stdio?: [StdioSpec, StdioSpec, StdioSpec];
  /** Extra PTRACE_O_* options (clone, exec and exit-kill are always on). */
  options?: number;
  /** Put the program in a process group of its own (so a terminal's Ctrl-C spares it). */
  newProcessGroup?: boolean;
}

/** What addon.launch takes, worked out from a user's request. */
export interface LaunchPlan {
  path: string;
  argv: string[];
  envp: string[];
  cwd: string | null;
  stdio: (number | null)[];
  newProcessGroup: boolean;
}

export function planLaunch(file: string, args: readonly string[], options: LaunchOptions): LaunchPlan {
  if (typeof file !== 'string' || file.length === 0) throw new TypeError('file must be a non-empty string');
  if (!Array.isArray(args) || args.some((a) => typeof a !== 'string')) throw new TypeError('args must be strings');
  const env = options.env ?? process.env;
  // Every argument is checked before the PATH search, which may fail with ENOENT.
  const stdio = (options.stdio ?? ['inherit', 'inherit', 'inherit']).map(checkStdio);
  return {
    path: resolveExecutable(file, env.PATH),
    argv: [options.argv0 ?? file, ...args],
    envp: Object.entries(env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`])),
    cwd: options.cwd ?? null,
    stdio,
    newProcessGroup: options.newProcessGroup ?? false,
  };
}

function checkStdio(spec: StdioSpec): number | null {
  if (spec === 'inherit') return null;
  if (Number.isInteger(spec) && spec >= 0) return spec;
  throw new TypeError(`stdio entries must be 'inherit' or a file descriptor, got ${String(spec)}`);
}

/** execvp's search: a name without a slash is looked up in PATH. */
export function resolveExecutable(file: string, searchPath = '/usr/local/bin:/usr/bin:/bin'): string {
  if (file.includes('/')) return file;
  for (const dir of searchPath.split(':')) {
    const candidate = path.join(dir || '.', file);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here: keep looking
    }
  }
  throw new SystemError(2, 'execve', { path: file });
}
