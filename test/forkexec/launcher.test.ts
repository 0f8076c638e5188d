/**
 * The forkexec launcher: the program's one initial exec succeeds, every later
 * one fails, and killing the launcher makes later ones fail rather than succeed.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import t from 'tap';
import { fixture } from '../helpers';
import { launch } from '../../lib/forkexec';
import { CLI, cleanEnv } from './fixtures/run';

interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string[];
  stderr: string;
}

function cli(args: string[], input?: string): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: cleanEnv() });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.stdin.end(input ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), 20000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: out.split('\n').filter(Boolean), stderr: err });
    });
  });
}

const target = () => fixture('escape_target');

t.test('the program starts; its own exec, fork and posix_spawn fail; its exit status comes back', async (t) => {
  const r = await cli(['--no-fork', '--no-exec', '--', target(), 'exec', 'fork', 'spawn', 'exit=3']);
  t.match(r.stdout[0], /^ready \d+$/, 'the one initial exec worked');
  t.same(r.stdout.slice(1), ['exec EACCES', 'fork EACCES', 'spawn EACCES']);
  t.equal(r.code, 3);
});

t.test('--no-exec alone: fork works, the forked child cannot exec either', async (t) => {
  const r = await cli(['--no-exec', '--errno', 'EPERM', '--', target(), 'fork', 'spawn', 'exec']);
  t.same(r.stdout.slice(1), ['fork ok', 'spawn EPERM', 'exec EPERM']);
  t.equal(r.code, 0);
});

t.test('--no-fork alone: exec is still allowed', async (t) => {
  const r = await cli(['--no-fork', '--', target(), 'fork', 'exec']);
  t.same(r.stdout.slice(1), ['fork EACCES', 'ESCAPED']);
});

t.test('report mode names every refused exec, from the program and its children', async (t) => {
  const r = await cli(['--no-exec', '--action', 'report', '--', target(), 'exec', 'spawn']);
  t.same(r.stdout.slice(1), ['exec EACCES', 'spawn EACCES']);
  const reports = r.stderr
    .split('\n')
    .filter((l) => l.startsWith('forkexec: refused '))
    .map((l) => JSON.parse(l.slice('forkexec: refused '.length)));
  t.equal(reports.length, 2, r.stderr);
  t.same(
    reports.map((a) => [a.syscall, a.path, a.argv]),
    [
      ['execve', '/bin/echo', ['echo', 'ESCAPED']],
      ['execve', '/bin/echo', ['echo', 'ESCAPED']],
    ],
  );
  const pid = Number(r.stdout[0]!.split(' ')[1]);
  t.equal(reports[0].pid, pid, 'the program itself');
  t.not(reports[1].pid, pid, 'then its posix_spawn child');
});

t.test('kill mode: a later exec ends the program (SIGKILL from the supervisor), a fork with SIGSYS', async (t) => {
  const exec = await cli(['--no-exec', '--action', 'kill', '--', target(), 'exec']);
  t.equal(exec.stdout.length, 1, 'nothing after ready');
  t.equal(exec.code, 128 + 9);
  const fork = await cli(['--no-fork', '--action', 'kill', '--', target(), 'fork']);
  t.equal(fork.code, 128 + 31);
});

t.test('killing the launcher makes later exec attempts fail, not succeed', async (t) => {
  const go = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hostkit-forkexec-')), 'go');
  const launcher = spawn(process.execPath, [CLI, '--no-exec', '--', target(), `wait=${go}`, 'exec', 'fork'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: cleanEnv(),
  });
  const lines = readline.createInterface({ input: launcher.stdout! });
  const it = lines[Symbol.asyncIterator]();
  const ready = (await it.next()).value as string;
  const pid = Number(ready.split(' ')[1]);
  launcher.kill('SIGKILL');
  await once(launcher, 'exit');
  t.ok(process.kill(pid, 0), 'the program outlives its launcher');
  fs.writeFileSync(go, '');
  t.equal((await it.next()).value, 'exec ENOSYS', 'with the listener gone the kernel answers ENOSYS');
  t.equal((await it.next()).value, 'fork ok', 'fork was never asked for');
});

t.test('--exec-allow: Landlock permits exec only beneath the listed paths', async (t) => {
  const allowed = await cli(['--no-fork', '--exec-allow', '/bin/echo', '--', target(), 'fork', 'exec']);
  t.same(allowed.stdout.slice(1), ['fork EACCES', 'ESCAPED'], 'echo (and its dynamic loader) may run');
  const denied = await cli(['--exec-allow', '/bin/true', '--', target(), 'spawn', 'exec']);
  t.same(denied.stdout.slice(1), ['spawn EACCES', 'exec EACCES'], 'echo is not under /bin/true');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hostkit-forkexec-'));
  const script = path.join(dir, 'job.sh');
  fs.writeFileSync(script, '#!/bin/sh\necho job ran\nexec /bin/echo escaped\n', { mode: 0o755 });
  const shebang = await cli(['--no-fork', '--exec-allow', script, '--', script]);
  t.same(shebang.stdout, ['job ran'], 'a #! script runs: its interpreter was added to the allow-list; what it execs was not');
  t.equal(shebang.code, 126);
  const missing = await cli(['--exec-allow', '/nonexistent/dir', '--', target()]);
  t.equal(missing.code, 127);
  t.match(missing.stderr, /ENOENT.*landlock_add_rule.*\/nonexistent\/dir/);
});

t.test('command-line and argument errors', async (t) => {
  const usage = await cli(['--no-exec']);
  t.equal(usage.code, 2);
  t.match(usage.stderr, /no program given/);
  const bad = await cli(['--action', 'nap', '--', target()]);
  t.equal(bad.code, 127);
  t.match(bad.stderr, /action/);
  const missing = await cli(['--no-exec', '--', 'hostkit-no-such-program']);
  t.equal(missing.code, 127);
  t.match(missing.stderr, /ENOENT.*execvp.*hostkit-no-such-program/);
  t.throws(() => launch('', []), TypeError);
  t.throws(() => launch('/bin/true', [1 as never]), TypeError);
  t.throws(() => launch('/bin/true', [], { exec: true, execAllow: ['/bin'] }), RangeError);
});

t.test('launch() from JS: exit status and attempts', async (t) => {
  const attempts: string[] = [];
  const child = launch(target(), ['exec', 'exit=5'], {
    exec: true,
    action: 'report',
    env: cleanEnv(),
    onAttempt: (a) => attempts.push(`${a.allowed ? 'allowed' : 'refused'} ${a.syscall} ${a.path}`),
  });
  t.same(await child.exited, { code: 5, signal: null });
  t.same(attempts, [`allowed execve ${target()}`, 'refused execve /bin/echo']);
});
