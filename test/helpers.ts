/** Shared by the tests: built fixtures, their symbols, and targets started outside this Node's child list. */
import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import type { Test } from 'tap';
import type { Tracee } from '../lib/ptrace';

const FIXTURES = path.join(__dirname, 'fixtures', 'bin');

/** A C fixture built by `npm test`'s pretest step; missing means the build is broken: fail loudly. */
export function fixture(name: string): string {
  const file = path.join(FIXTURES, name);
  if (!fs.existsSync(file)) throw new Error(`fixture ${file} is missing: run 'node scripts/build-fixtures.js' (npm test does)`);
  return file;
}

/** The number of the first line of fixture source `file` (in test/fixtures/) holding `text`. */
export function sourceLine(file: string, text: string): number {
  const lines = fs.readFileSync(path.join(__dirname, 'fixtures', file), 'utf8').split('\n');
  const index = lines.findIndex((l) => l.includes(text));
  if (index < 0) throw new Error(`no line holding ${JSON.stringify(text)} in test/fixtures/${file}`);
  return index + 1;
}

/** The address of a symbol in a -no-pie fixture (static addresses are run-time addresses). */
export function symbol(binary: string, name: string): bigint {
  const out = execFileSync('nm', [binary], { encoding: 'utf8' });
  const match = new RegExp(`^([0-9a-f]+) [A-Za-z] ${name}$`, 'm').exec(out);
  if (!match) throw new Error(`no symbol ${name} in ${binary}`);
  return BigInt(`0x${match[1]}`);
}

export interface Detached {
  pid: number;
  /** Lines the target prints after its "ready PID" line. */
  nextLine(): Promise<string>;
  kill(): void;
}

/**
 * Starts a fixture that prints "ready PID" as a grandchild (through sh), so it
 * is not one of this Node's child processes: libuv reaps its own children with
 * waitpid(pid), which would also swallow their ptrace stops.
 */
export async function startDetached(binary: string, args: string[] = []): Promise<Detached> {
  // stderr is piped, not inherited: a fixture that outlives a failed test must
  // not hold tap's pipe open, or the runner waits for EOF forever.
  const sh = spawn('/bin/sh', ['-c', '"$@" &', 'sh', binary, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  sh.stderr!.pipe(process.stderr, { end: false });
  const shExited = once(sh, 'exit'); // sh usually exits before the program says "ready"
  const lines = readline.createInterface({ input: sh.stdout! });
  const queue: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (line) => {
    const w = waiting.shift();
    if (w) w(line);
    else queue.push(line);
  });
  const nextLine = () => new Promise<string>((resolve) => (queue.length ? resolve(queue.shift()!) : waiting.push(resolve)));
  const first = await nextLine();
  const match = /^ready (\d+)/.exec(first);
  if (!match) throw new Error(`${binary} said '${first}' instead of 'ready PID'`);
  const pid = Number(match[1]);
  await shExited;
  const kill = () => {
    detachedPids.delete(pid);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  detachedPids.add(pid);
  return { pid, nextLine, kill };
}

/** Fixtures still alive when the test process exits (a timeout skips teardowns) die with it. */
const detachedPids = new Set<number>();
process.on('exit', () => {
  for (const pid of detachedPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** The one-letter state of a process or thread from /proc (t = traced stop, T = stopped). */
export function procState(pid: number, tid = pid): string {
  const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

/** A file descriptor on a fresh temporary file, and a way to read what was written. */
export function captureFile(): { fd: number; read(): string; close(): void } {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hostkit-')), 'out');
  const fd = fs.openSync(file, 'w+');
  return { fd, read: () => fs.readFileSync(file, 'utf8'), close: () => fs.closeSync(fd) };
}

/** Polls `check` until it returns true (for state the kernel changes asynchronously). */
export async function eventually(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Lets a tracee run as if untraced: every signal stop is continued with its signal (a shell's SIGCHLD, say). */
export function passSignals(tracee: Tracee): void {
  tracee.on('signal', (event: { tid: number }) => tracee.threads.get(event.tid)?.cont());
}

const CORE_SETTINGS = ['/proc/sys/kernel/core_pattern', '/proc/sys/kernel/core_pipe_limit', '/proc/sys/fs/suid_dumpable'];
/** Shared with scripts/bench/cored.js: whoever holds it owns the kernel's core settings. */
export const CORE_SETTINGS_LOCK = '/tmp/hostkit-core-pattern.lock';

/**
 * Runs `fn` holding the machine-wide lock on the kernel's core settings
 * (core_pattern, core_pipe_limit, suid_dumpable), and puts them back as they
 * were afterwards, even when `fn` fails. Test files run in parallel: every
 * test that changes or relies on these settings goes through here.
 */
export async function withCoreSettings<T>(fn: () => Promise<T>): Promise<T> {
  const release = await lockCoreSettings();
  const saved = CORE_SETTINGS.map((file) => fs.readFileSync(file, 'utf8'));
  try {
    return await fn();
  } finally {
    for (const [i, file] of CORE_SETTINGS.entries()) fs.writeFileSync(file, saved[i]!);
    release();
  }
}

/**
 * Takes CORE_SETTINGS_LOCK with flock(1) in a child that holds it until its
 * stdin closes: released by release(), or by the kernel if this process dies.
 */
export async function lockCoreSettings(): Promise<() => void> {
  const holder = spawn('flock', [CORE_SETTINGS_LOCK, 'sh', '-c', 'echo locked; exec cat >/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [line] = (await Promise.race([once(holder.stdout!, 'data'), once(holder, 'exit')])) as [Buffer | number];
  if (!Buffer.isBuffer(line) || !line.toString().startsWith('locked')) throw new Error(`could not take ${CORE_SETTINGS_LOCK}`);
  return () => holder.stdin!.end();
}

/**
 * Runs `binary args` with RLIMIT_CORE unlimited and core_pattern pointing into
 * `dir` (under the core-settings lock, restored after), expects it to die of
 * `signal`, and returns the core the kernel wrote and the pid it had.
 */
export async function kernelCoreOf(binary: string, args: string[], signal: NodeJS.Signals, dir: string): Promise<{ core: string; pid: number }> {
  fs.mkdirSync(dir, { recursive: true });
  await withCoreSettings(async () => {
    fs.writeFileSync('/proc/sys/kernel/core_pattern', `${dir}/core.%p`);
    const r = spawnSync('/bin/sh', ['-c', 'ulimit -c unlimited && exec "$@"', 'sh', binary, ...args], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: 30_000,
    });
    if (r.signal !== signal) throw new Error(`${binary} did not die of ${signal} (${r.signal ?? r.status})`);
  });
  const name = fs.readdirSync(dir).find((f) => f.startsWith('core.'));
  if (!name) throw new Error(`the kernel wrote no core into ${dir}`);
  return { core: path.join(dir, name), pid: Number(name.slice(5)) };
}

/** A fresh tmpfs, unmounted (lazily, should something still use it) at teardown. */
export function tmpfs(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hostkit-veriexec-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'hostkit-veriexec', dir]);
  t.teardown(() => {
    try {
      execFileSync('umount', [dir]);
    } catch {
      execFileSync('umount', ['-l', dir]);
    }
    fs.rmdirSync(dir);
  });
  return dir;
}

/** Runs `sh -c script`: the exit code and what it printed (both streams). */
export function sh(script: string, args: string[] = []): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('/bin/sh', ['-c', script, 'sh', ...args], (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as NodeJS.ErrnoException).code ?? 1) : 0, out: `${stdout}${stderr}` });
    });
  });
}
