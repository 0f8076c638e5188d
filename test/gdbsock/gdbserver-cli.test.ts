/**
 * gdbsock started with gdbserver's command line (gdbserver-args.ts, cli.ts),
 * its lifecycle there (a process kept for the next gdb, --multi) and the
 * monitor commands gdb's testsuite uses, against a real gdb and gdbserver.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { UsageError } from '../../lib/cli-args';
import { CommError, isGdbserverCommandLine, parseComm, parseGdbserverCommandLine } from '../../lib/gdbsock/gdbserver-args';
import { defaultDebugSettings, monitorCommand } from '../../lib/gdbsock/monitor';
import { liveStartTime } from '../../lib/procfs/stat';
import { eventually, fixture, startDetached } from '../helpers';
import { type Listening, cleanEnv, requireTool, runGdb, startGdbsockAsGdbserver } from './gdb';

const CLI = path.join(__dirname, '..', '..', 'dist', 'gdbsock', 'cli.js');
const binary = fixture('gdbsock');
requireTool('gdb');
requireTool('gdbserver');

/** gdbsock as the testsuite starts gdbserver: waits for "Listening on port N" on stderr. */
async function startAsGdbserver(args: string[]): Promise<Listening> {
  const started = await startGdbsockAsGdbserver(args);
  const { proc } = started;
  t.teardown(() => void (proc.exitCode === null && proc.signalCode === null && proc.kill('SIGTERM')));
  return started;
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), ms))]);
}

t.test('which command lines are gdbserver form', async (t) => {
  for (const argv of [
    [':1234', 'prog'],
    ['--once', 'localhost:0', 'prog', 'a'],
    ['--multi', ':0'],
    ['-', 'prog'],
    ['stdio', 'prog'],
    ['--wrapper', 'env', '--', ':1', 'p'],
    ['--attach', ':1', '12'],
  ]) {
    t.ok(isGdbserverCommandLine(argv), argv.join(' '));
  }
  for (const argv of [['1234'], ['--once', '1234'], ['--listen', ':1234', '1234'], ['--', 'prog', ':1'], ['0'], ['--core', 'x:y'], ['--stdio', '12']]) {
    t.notOk(isGdbserverCommandLine(argv), argv.join(' '));
  }
});

t.test('gdbserver form parsed: options end at COMM, --wrapper at --', async (t) => {
  const line = parseGdbserverCommandLine(['--once', '--no-startup-with-shell', '--wrapper', 'env', 'A=1', '--', 'localhost:2345', 'prog', '--once', 'x']);
  t.same(line.comm, { kind: 'tcp', host: 'localhost', port: 2345 });
  t.same(line.program, ['prog', '--once', 'x'], "the program's arguments are its own");
  t.same(line.wrapper, ['env', 'A=1']);
  t.equal(line.once, true);
  t.equal(line.startupWithShell, false);
  t.same(parseGdbserverCommandLine(['--multi', ':0']).program, undefined, '--multi needs no program');
  t.equal(parseGdbserverCommandLine(['--attach', ':0', '42']).pid, 42);
  t.equal(parseGdbserverCommandLine(['--once', ':0', '--attach', '42']).pid, 42, 'COMM --attach PID, the older order');
  t.same(parseComm(':7'), { kind: 'tcp', host: '127.0.0.1', port: 7 }, ':PORT stays on loopback');
  t.same(parseComm('[::1]:7'), { kind: 'tcp', host: '::1', port: 7 });
  t.throws(() => parseGdbserverCommandLine([':0']), UsageError, 'no program, no --multi');
  t.throws(() => parseGdbserverCommandLine(['--attach', ':0', 'prog']), UsageError);
  t.throws(() => parseGdbserverCommandLine(['--wrapper', 'env', ':0', 'prog']), UsageError, '--wrapper without --');
  t.throws(() => parseComm(':http-alt'), CommError);
  t.throws(() => parseComm('/dev/ttyS0'), CommError);
});

t.test("a bad COMM: gdbserver's message and status", async (t) => {
  const ours = spawnSync(process.execPath, [CLI, ':abc', binary], { encoding: 'utf8', env: cleanEnv() });
  const theirs = spawnSync('gdbserver', [':abc', binary], { encoding: 'utf8', env: cleanEnv() });
  t.equal(ours.status, theirs.status, 'exit status');
  t.equal(ours.stderr.split('\n')[0], theirs.stderr.split('\n')[0], 'the same first line');
  const used = await startAsGdbserver(['--multi', '127.0.0.1:0']);
  const port = used.target.split(':')[1]!;
  // gdbserver binds before it creates the program (remote_prepare): on a busy port it creates none and
  // says only why (gdb's testsuite retries on another port). The same program, both servers, one port.
  const busyArgs = [`127.0.0.1:${port}`, binary, 'threads', '2'];
  const busy = spawnSync(process.execPath, [CLI, ...busyArgs], { encoding: 'utf8', env: cleanEnv() });
  const anchor = spawnSync('gdbserver', busyArgs, { encoding: 'utf8', env: cleanEnv() });
  t.equal(busy.status, anchor.status, `exit status ${anchor.status}`);
  t.equal(busy.stderr, anchor.stderr, `gdbserver's lines and nothing else: ${JSON.stringify(anchor.stderr)}`);
  t.match(busy.stderr, /Can't bind address: Address already in use\.\n/, 'the line the testsuite retries on');
  t.notMatch(busy.stderr, /created/, 'no program was created');
  // gdbsock's own form: the same.
  const copy = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'busy-port-')), 'busy-port-program');
  fs.copyFileSync(binary, copy);
  t.teardown(() => fs.rmSync(path.dirname(copy), { recursive: true, force: true }));
  const native = spawnSync(process.execPath, [CLI, '--listen', `127.0.0.1:${port}`, '--', copy, 'threads', '2'], { encoding: 'utf8', env: cleanEnv() });
  t.equal(native.status, 1, `gdbsock --listen on a busy port fails: ${native.stderr.trim()}`);
  await eventually(() => runningFrom(copy).length === 0, 'no process running the program');
  used.proc.kill('SIGTERM');
  await used.exited;
});

/** `pid` exists and is not a zombie. */
const alive = (pid: number): boolean => liveStartTime(pid) !== undefined;

/** Live processes whose executable is `file`. */
function runningFrom(file: string): number[] {
  return fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return fs.readlinkSync(`/proc/${d}/exe`) === file && alive(Number(d));
      } catch {
        return false;
      }
    })
    .map(Number);
}

t.test('monitor commands as gdbserver answers them', async (t) => {
  const debug = defaultDebugSettings();
  t.match(monitorCommand('help', debug).output, /^gdbsock monitor commands.*\nThe following monitor commands are supported:\n/);
  t.same(monitorCommand('set debug 1', debug, undefined, 'gdbserver-13'), { output: 'Debug output enabled.\n', ok: true, exit: false });
  t.equal(debug.debug, true);
  t.equal(monitorCommand('set remote-debug 1', debug).output, 'Protocol debug output enabled.\n');
  t.equal(monitorCommand('set debug-format all', debug).output, 'All extra debug format options enabled.\n');
  t.equal(debug.timestamps, true);
  t.equal(monitorCommand('set debug-format none', debug).output, 'All extra debug format options disabled.\n');
  t.equal(monitorCommand('', debug).ok, false, 'an empty command is an error, as in gdbserver');
  t.same(monitorCommand('exit', debug), { output: '', ok: true, exit: true });
});

t.test('monitor exit: gdbsock is gone right after OK, gdb still connected', async (t) => {
  const g = await startAsGdbserver(['--once', '127.0.0.1:0', binary, 'sleep']);
  t.match(g.output(), /^Process .* created; pid = \d+$/m);
  const gdb = runGdb(`target remote ${g.target}`, [
    'monitor help',
    'monitor set remote-debug 1',
    'monitor set remote-debug 0',
    'monitor exit',
    'shell sleep 3',
  ]);
  const code = await within(g.exited, 2500, 'gdbsock to exit after monitor exit');
  t.equal(code, 0);
  const out = await gdb;
  t.match(out, /The following monitor commands are supported/);
  t.match(out, /Protocol debug output enabled\./);
  t.match(g.output(), /getpkt \("qRcmd,/, 'packets on stderr while remote-debug was on');
  const pid = Number(/pid = (\d+)/.exec(g.output())![1]);
  await eventually(() => !fs.existsSync(`/proc/${pid}`), 'the launched process to be killed, as gdbserver does');
});

t.test('without --once: the launched process is kept, stopped, for the next gdb; serving ends with it', async (t) => {
  const g = await startAsGdbserver(['127.0.0.1:0', binary, 'count', '3']);
  const first = await runGdb(`target remote ${g.target}`, ['stepi', 'stepi', 'p/x $pc', 'disconnect']);
  const pc = /\$1 = (0x[0-9a-f]+)/.exec(first)?.[1];
  t.ok(pc, `a pc from the first gdb: ${first}`);
  const second = await runGdb(`target remote ${g.target}`, ['p/x $pc', 'continue'], { file: binary });
  t.match(second, new RegExp(`\\$1 = ${pc}`), 'the second gdb finds the process where the first left it');
  t.match(second, /exited normally/);
  t.equal(await within(g.exited, 5000, 'gdbsock to end with its process'), 0);
});

t.test('--multi with no program: gdb runs one, then the next gdb finds gdbsock still serving', async (t) => {
  const g = await startAsGdbserver(['--multi', '127.0.0.1:0']);
  const first = await runGdb(`target extended-remote ${g.target}`, [`set remote exec-file ${binary}`, 'run'], { file: binary });
  t.match(g.output(), /total 45/, "the program ran (its output goes to gdbsock's)");
  t.match(first, /exited normally/);
  t.equal(g.proc.exitCode, null, 'still serving');
  const second = await runGdb(`target extended-remote ${g.target}`, ['info threads', 'monitor exit']);
  t.match(second, /No threads/);
  t.equal(await within(g.exited, 3000, 'gdbsock to exit'), 0);
});

t.test('--wrapper WRAPPER -- starts the program through the wrapper', async (t) => {
  const g = await startAsGdbserver(['--once', '--wrapper', 'env', 'GDBSOCK_WRAPPED=yes', '--', '127.0.0.1:0', '/usr/bin/printenv', 'GDBSOCK_WRAPPED']);
  const out = await runGdb(`target remote ${g.target}`, ['continue']);
  t.match(out, /exited normally/);
  await within(g.exited, 3000, 'gdbsock to exit');
  t.match(g.output(), /^yes$/m, 'the program saw what the wrapper set');
});

t.test('--attach COMM PID: attached, and let go running when gdb detaches', async (t) => {
  const target = await startDetached(binary, ['sleep']);
  t.teardown(() => target.kill());
  const g = await startAsGdbserver(['--once', '--attach', '127.0.0.1:0', String(target.pid)]);
  t.match(g.output(), new RegExp(`^Attached; pid = ${target.pid}$`, 'm'));
  const out = await runGdb(`target remote ${g.target}`, ['info threads', 'detach']);
  t.match(out, /Thread|process/, 'gdb sees the process');
  t.equal(await within(g.exited, 3000, 'gdbsock to exit after the one gdb (--once)'), 0);
  t.match(fs.readFileSync(`/proc/${target.pid}/status`, 'utf8'), /^TracerPid:\s+0$/m, 'untraced');
  t.match(fs.readFileSync(`/proc/${target.pid}/stat`, 'utf8'), /\) [SR] /, 'running (or sleeping in usleep), not stopped');
});
