/** Runs a Node child that locks itself (escape-runner.js), and parses what it says. */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const RUNNER = path.join(__dirname, 'escape-runner.js');
export const CLI = path.join(__dirname, '..', '..', 'dist', 'forkexec', 'cli.js');

export interface RunnerSpec {
  lock: Record<string, unknown> | null;
  order?: 'before' | 'after';
  attempts: [string, string][];
  noCore?: boolean;
  sigsys?: boolean;
}

export interface RunnerResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  lines: Record<string, any>[];
  results: Map<string, string>;
  reports: Record<string, any>[];
  stderr: string;
}

export function runLocked(spec: RunnerSpec): Promise<RunnerResult> {
  return new Promise((resolve, reject) => {
    // A clean environment: tap's NODE_OPTIONS loaders install signal handlers (SIGSYS among them).
    const child = spawn(process.execPath, [RUNNER, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv() });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    // Never hang the suite: a stuck runner is killed, with where its threads were stuck.
    const timer = setTimeout(() => {
      err += `\nrunner timed out; threads: ${threadStates(child.pid!)}`;
      child.kill('SIGKILL');
    }, 15000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const lines = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);
      const results = new Map<string, string>();
      for (const l of lines) if (l.attempt) results.set(`${l.attempt}@${l.where}`, l.result);
      const reports = lines.find((l) => l.reports)?.reports ?? [];
      resolve({ code, signal, lines, results, reports, stderr: err });
    });
  });
}

/** Runs `tasks` with at most `limit` at a time (2 cores: keep the machine breathing). */
export async function pooled<T>(tasks: (() => Promise<T>)[], limit = 4): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

export function dmesg(): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('dmesg', [], { maxBuffer: 64 << 20 }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
  );
}

/** PATH and nothing else: no NODE_OPTIONS from the test runner leaks into the locked child. */
export function cleanEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin' };
}

function threadStates(pid: number): string {
  try {
    return fs
      .readdirSync(`/proc/${pid}/task`)
      .map((tid) => {
        const read = (f: string) => fs.readFileSync(`/proc/${pid}/task/${tid}/${f}`, 'utf8').trim();
        return `${tid} ${read('comm')} ${read('wchan')} [${read('syscall').split(' ')[0]}]`;
      })
      .join('; ');
  } catch (e) {
    return String(e);
  }
}

/** Runs `code` in a fresh Node (CommonJS, `forkexec` and `native` from dist/ in scope) and collects its output. */
export function runScript(code: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const dist = path.join(__dirname, '..', '..', 'dist');
  const prelude = `const forkexec = require(${JSON.stringify(path.join(dist, 'forkexec'))});
const native = require(${JSON.stringify(path.join(dist, 'native'))});
const LIBESCAPE = ${JSON.stringify(path.join(__dirname, '..', 'fixtures', 'bin', 'libescape.so'))};
`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', prelude + code], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...cleanEnv(), ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
