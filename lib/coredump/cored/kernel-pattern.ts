/**
 * Installing cored as the kernel's core_pattern pipe (core(5)): the pattern,
 * core_pipe_limit, and a state file that remembers what was there before so
 * `uninstall` can put it back.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HostkitError, fromNodeError } from '../../errors';
import { loadConfig } from './config';
import { SPECIFIERS } from './crash-args';

export const CORE_PATTERN = '/proc/sys/kernel/core_pattern';
export const CORE_PIPE_LIMIT = '/proc/sys/kernel/core_pipe_limit';
export const DEFAULT_STATE_DIR = '/var/lib/cored';
const STATE_FILE = 'installed.json';
const LAUNCHER = 'cored-handler';
/** CORENAME_MAX_SIZE in fs/coredump.c: longer patterns are cut short. */
const PATTERN_MAX = 127;
/** As systemd ships it (sysctl.d/50-coredump.conf): the kernel waits for up to 16 handlers, keeping /proc/PID for them. */
export const DEFAULT_PIPE_LIMIT = 16;

export interface InstallState {
  pattern: string;
  previousPattern: string;
  previousPipeLimit: number;
  config?: string;
  installedAt: string;
}

export function readSysctl(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').replace(/\n$/, '');
  } catch (err) {
    throw fromNodeError(err, { path: file });
  }
}

export function writeSysctl(file: string, value: string): void {
  try {
    fs.writeFileSync(file, `${value}\n`);
  } catch (err) {
    throw fromNodeError(err, { path: file });
  }
  const back = readSysctl(file);
  if (back !== value) throw new HostkitError('ERR_HOSTKIT_SYSCTL', `${file}: wrote ${JSON.stringify(value)} but the kernel kept ${JSON.stringify(back)}`);
}

/** The kernel passes a pidfd for %F since Linux 6.16. */
export function kernelHasPidfd(release = os.release()): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return !!m && (Number(m[1]) > 6 || (Number(m[1]) === 6 && Number(m[2]) >= 16));
}

/** The entry point cored runs from (dist/coredump/cli.js). */
export function cliScript(): string {
  return path.resolve(__dirname, '..', 'cli.js');
}

/**
 * The pattern names a launcher in the state directory, not node, cli.js and
 * the config: CORENAME_MAX_SIZE leaves 127 bytes, which a package installed
 * under a deep path would overflow. The kernel splits the pattern at spaces,
 * so the launcher's own path may hold none.
 */
export function buildPattern(options: { handler: string; pidfd?: boolean }): string {
  const { handler } = options;
  if (!path.isAbsolute(handler)) throw new RangeError(`handler path ${handler} must be absolute`);
  if (/[\s%]/.test(handler)) throw new RangeError(`handler path ${JSON.stringify(handler)} contains a space or '%': the kernel would split or expand it`);
  const specifiers = SPECIFIERS.filter((s) => s !== '%F' || (options.pidfd ?? kernelHasPidfd()));
  const pattern = `|${handler} ${specifiers.join(' ')}`;
  if (pattern.length > PATTERN_MAX) {
    throw new RangeError(`the core_pattern would be ${pattern.length} bytes, more than the kernel's ${PATTERN_MAX}: use a shorter state directory (${pattern})`);
  }
  return pattern;
}

export interface LauncherTarget {
  node?: string;
  script?: string;
  config?: string;
}

/**
 * The launcher the kernel runs for every core: a node script (no shell) that
 * puts `handle [-c CONFIG]` before the kernel's arguments and loads cli.js.
 */
export function launcherSource(target: LauncherTarget = {}): string {
  const node = target.node ?? process.execPath;
  if (!path.isAbsolute(node) || /\s/.test(node)) throw new RangeError(`node path ${JSON.stringify(node)} must be absolute and without spaces (it is a #! line)`);
  const script = target.script ?? cliScript();
  const prefix = ['handle', ...(target.config ? ['-c', target.config] : [])];
  return [
    `#!${node}`,
    '// Written by `cored install`: the kernel runs this for every core dump (core_pattern).',
    `process.argv.splice(2, 0, ...${JSON.stringify(prefix)});`,
    `require(${JSON.stringify(script)});`,
    '',
  ].join('\n');
}

export function launcherPath(stateDir: string): string {
  return path.join(stateDir, LAUNCHER);
}

export function isCoredPattern(pattern: string): boolean {
  return new RegExp(`^\\|\\S*/${LAUNCHER} %P `).test(pattern);
}

function stateFile(stateDir: string): string {
  return path.join(stateDir, STATE_FILE);
}

export function readState(stateDir: string): InstallState | undefined {
  try {
    return JSON.parse(fs.readFileSync(stateFile(stateDir), 'utf8')) as InstallState;
  } catch {
    return undefined;
  }
}

export interface InstallOptions {
  config?: string;
  stateDir?: string;
  pipeLimit?: number;
  /** The cli.js the kernel should run (default: this package's dist/coredump/cli.js). */
  script?: string;
}

export function install(options: InstallOptions = {}): InstallState {
  const stateDir = options.stateDir ?? DEFAULT_STATE_DIR;
  const config = options.config ? path.resolve(options.config) : undefined;
  if (config) loadConfig(config); // refuse to install a config the handler would reject
  const pattern = buildPattern({ handler: launcherPath(path.resolve(stateDir)) });
  const current = readSysctl(CORE_PATTERN);
  const old = readState(stateDir);
  // Reinstalling keeps the pattern from before the first install.
  const previous = isCoredPattern(current) && old ? old : { previousPattern: current, previousPipeLimit: Number(readSysctl(CORE_PIPE_LIMIT)) };
  const state: InstallState = {
    pattern,
    previousPattern: previous.previousPattern,
    previousPipeLimit: previous.previousPipeLimit,
    config,
    installedAt: new Date().toISOString(),
  };
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const tmp = `${stateFile(stateDir)}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, stateFile(stateDir));
  writeLauncher(stateDir, { script: options.script, config });
  writeSysctl(CORE_PATTERN, pattern);
  writeSysctl(CORE_PIPE_LIMIT, String(options.pipeLimit ?? DEFAULT_PIPE_LIMIT));
  return state;
}

/** Root-owned, 0700, replaced atomically: the kernel runs it as root. */
function writeLauncher(stateDir: string, target: LauncherTarget): void {
  const file = launcherPath(stateDir);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, launcherSource(target), { mode: 0o700, flag: 'wx' });
  fs.renameSync(tmp, file);
}

export function uninstall(stateDir = DEFAULT_STATE_DIR): InstallState {
  const state = readState(stateDir);
  if (!state) throw new HostkitError('ERR_HOSTKIT_NOT_INSTALLED', `no ${stateFile(stateDir)}: cored was not installed with this state directory`);
  const current = readSysctl(CORE_PATTERN);
  if (current !== state.pattern && isCoredPattern(current) === false) {
    throw new HostkitError('ERR_HOSTKIT_NOT_INSTALLED', `core_pattern is ${JSON.stringify(current)}, not cored's: leaving it alone`);
  }
  writeSysctl(CORE_PATTERN, state.previousPattern);
  writeSysctl(CORE_PIPE_LIMIT, String(state.previousPipeLimit));
  fs.unlinkSync(stateFile(stateDir));
  fs.rmSync(launcherPath(stateDir), { force: true });
  return state;
}
