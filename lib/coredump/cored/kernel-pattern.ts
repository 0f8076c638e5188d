/**
 * Installing cored as the kernel's core_pattern (core(5)): the coredump
 * socket and the resident daemon where the kernel has them, the pipe handler
 * otherwise; core_pipe_limit; and a state file that remembers what was there
 * before so `uninstall` can put it back.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HostkitError, fromNodeError, hasCode } from '../../errors';
import { loadConfig } from './config';
import { type InstallMode, chooseMode } from './core-modes';
import { DEFAULT_SOCKET, type DaemonHandle, startDaemon, stopDaemon } from './daemon-control';
import { cliScript } from './tools';
import { SPECIFIERS } from './crash-args';

export const CORE_PATTERN = '/proc/sys/kernel/core_pattern';
export const CORE_PIPE_LIMIT = '/proc/sys/kernel/core_pipe_limit';
export const DEFAULT_STATE_DIR = '/var/lib/cored';
const STATE_FILE = 'installed.json';
const LAUNCHER = 'cored-handler';
/** CORENAME_MAX_SIZE in fs/coredump.c: longer patterns are cut short. */
const PATTERN_MAX = 127;
/**
 * 0: the kernel never skips a dump for want of a helper slot. systemd ships 16
 * (sysctl.d/50-coredump.conf), and every crash past 16 at once is lost
 * ("over core_pipe_limit, skipping core dump"). The price of 0: the kernel
 * does not wait for the handler, so /proc/PID lasts only while the kernel
 * is still writing; the handler reads /proc before it drains the pipe, and
 * the kernel cannot finish a core bigger than the pipe (64 KiB) before that.
 */
export const DEFAULT_PIPE_LIMIT = 0;

export interface InstallState {
  mode: InstallMode;
  /** Why this mode, for `cored status`. */
  why: string;
  pattern: string;
  previousPattern: string;
  previousPipeLimit: number;
  config?: string;
  /** Socket mode: where the daemon listens, and how it runs. */
  socket?: string;
  daemon?: DaemonHandle;
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
    // The kernel's core settings belong to root in the initial user namespace (a container's root gets EACCES or EPERM).
    const refused = hasCode(err, 'EACCES', 'EPERM', 'EROFS');
    throw fromNodeError(err, {
      path: file,
      hint: refused ? 'only root in the initial namespace may set it: run cored install as root on the host, not in a container' : undefined,
    });
  }
  const back = readSysctl(file);
  if (back !== value) throw new HostkitError('ERR_HOSTKIT_SYSCTL', `${file}: wrote ${JSON.stringify(value)} but the kernel kept ${JSON.stringify(back)}`);
}

/** The kernel passes a pidfd for %F since Linux 6.16. */
export function kernelHasPidfd(release = os.release()): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return !!m && (Number(m[1]) > 6 || (Number(m[1]) === 6 && Number(m[2]) >= 16));
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
    throw new RangeError(
      `the core_pattern would be ${pattern.length} bytes, more than the kernel's ${PATTERN_MAX}: use a shorter state directory (${pattern})`,
    );
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
  if (!path.isAbsolute(node) || /\s/.test(node))
    throw new RangeError(`node path ${JSON.stringify(node)} must be absolute and without spaces (it is a #! line)`);
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

export function isCoredPattern(pattern: string, state?: InstallState): boolean {
  if (state?.mode === 'socket' && state.socket && (pattern === `@@${state.socket}` || pattern === `@${state.socket}`)) return true;
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
  /** auto (default): the socket where the kernel has it, else the pipe. */
  mode?: InstallMode | 'auto';
  /** Socket mode: where the daemon listens (default /run/cored/coredump.socket). */
  socket?: string;
  /** Pipe mode: core_pipe_limit (default 0, never skip). */
  pipeLimit?: number;
  /** The cli.js the kernel or the daemon runs (default: this package's dist/coredump/cli.js). */
  script?: string;
}

export function install(options: InstallOptions = {}): InstallState {
  const stateDir = path.resolve(options.stateDir ?? DEFAULT_STATE_DIR);
  const config = options.config ? path.resolve(options.config) : undefined;
  if (config) loadConfig(config); // refuse to install a config the handler would reject
  const choice = chooseMode(options.mode ?? 'auto'); // refuses an impossible mode before anything changes
  const current = readSysctl(CORE_PATTERN);
  const old = readState(stateDir);
  // Reinstalling keeps the pattern from before the first install, and stops the old daemon.
  const ours = old !== undefined && isCoredPattern(current, old);
  const previous = ours ? old : { previousPattern: current, previousPipeLimit: Number(readSysctl(CORE_PIPE_LIMIT)) };
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  if (ours && old.daemon) {
    writeSysctl(CORE_PATTERN, old.previousPattern); // no crash goes to a socket nobody serves meanwhile
    stopDaemon(old.daemon);
  }
  const state: InstallState = {
    mode: choice.mode,
    why: choice.why,
    pattern: '',
    previousPattern: previous.previousPattern,
    previousPipeLimit: previous.previousPipeLimit,
    config,
    installedAt: new Date().toISOString(),
  };
  if (choice.mode === 'socket') {
    const socket = path.resolve(options.socket ?? DEFAULT_SOCKET);
    state.socket = socket;
    state.daemon = startDaemon({ socket, config, stateDir, script: options.script }); // listening before the kernel is told
    try {
      state.pattern = writeSocketPattern(socket);
    } catch (err) {
      stopDaemon(state.daemon);
      throw err;
    }
    // core_pipe_limit means nothing to the socket; put back what the admin had.
    writeSysctl(CORE_PIPE_LIMIT, String(previous.previousPipeLimit));
  } else {
    writeLauncher(stateDir, { script: options.script, config });
    state.pattern = buildPattern({ handler: launcherPath(stateDir) });
    writeSysctl(CORE_PATTERN, state.pattern);
    writeSysctl(CORE_PIPE_LIMIT, String(options.pipeLimit ?? DEFAULT_PIPE_LIMIT));
  }
  writeState(stateDir, state);
  return state;
}

/**
 * `@@SOCKET` (the request protocol, 6.17+), or `@SOCKET` where the kernel
 * refuses that (6.16 reads "@@/x" as the relative path "@/x"): the probe is
 * the write itself. The daemon serves both.
 */
function writeSocketPattern(socket: string): string {
  for (const pattern of [`@@${socket}`, `@${socket}`]) {
    if (pattern.length > PATTERN_MAX) throw new RangeError(`the core_pattern ${pattern} is longer than the kernel's ${PATTERN_MAX} bytes`);
    try {
      writeSysctl(CORE_PATTERN, pattern);
      return pattern;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
    }
  }
  throw new HostkitError('ERR_HOSTKIT_UNSUPPORTED', `the kernel refused both @@${socket} and @${socket} as core_pattern`);
}

function writeState(stateDir: string, state: InstallState): void {
  const tmp = `${stateFile(stateDir)}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, stateFile(stateDir));
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
  if (current !== state.pattern && !isCoredPattern(current, state)) {
    throw new HostkitError('ERR_HOSTKIT_NOT_INSTALLED', `core_pattern is ${JSON.stringify(current)}, not cored's: leaving it alone`);
  }
  // The pattern first: from here on no crash is sent to the daemon being stopped.
  writeSysctl(CORE_PATTERN, state.previousPattern);
  writeSysctl(CORE_PIPE_LIMIT, String(state.previousPipeLimit));
  if (state.daemon) stopDaemon(state.daemon);
  fs.unlinkSync(stateFile(stateDir));
  fs.rmSync(launcherPath(stateDir), { force: true });
  return state;
}
