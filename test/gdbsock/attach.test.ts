import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { fixture, procState, sourceLine, startDetached } from '../helpers';
import { cleanEnv, requireTool, runGdb, startGdbsock } from './gdb';

requireTool('gdb');
const binary = fixture('gdbsock');
const CLI = `${__dirname}/../../dist/gdbsock/cli.js`;
/** gdb runs `target remote | CMD` through sh; gdbsock's stderr goes to a file so no pipe of ours stays open. */
const STDIO_LOG = path.join(os.tmpdir(), 'gdbsock-test-stdio.log');
const stdioTarget = (pid: number) => `target remote | ${process.execPath} ${CLI} --stdio ${pid} 2>>${STDIO_LOG}`;

t.test('attach on the default unix socket: threads with names, bt in each, detach leaves it running', async (t) => {
  const target = await startDetached(binary, ['threads', '3']);
  t.teardown(() => target.kill());
  const server = await startGdbsock(['--once', String(target.pid)]);
  t.teardown(() => server.stop());
  t.equal(server.target, `/run/gdbsock/${target.pid}.sock`, 'root gets /run/gdbsock/PID.sock');
  t.equal(fs.statSync(server.target).mode & 0o777, 0o600, 'the socket is 0600');
  const out = await runGdb(`target extended-remote ${server.target}`, ['info threads', 'thread apply all bt 1', 'detach']);
  t.match(out, /\* 1 +Thread \d+\.\d+ "gdbsock"/);
  for (let i = 0; i < 3; i++) t.match(out, new RegExp(`Thread \\d+\\.\\d+ "worker-${i}"`), `worker-${i} is named`);
  t.equal((out.match(/^#0 /gm) ?? []).length, 4, 'a frame for every thread');
  t.match(out, /\[Inferior 1 \(process \d+\) detached\]/);
  t.equal(await server.exited, 0);
  t.notOk(fs.existsSync(server.target), 'socket removed on exit');
  t.not(procState(target.pid), 't', 'not left in a tracing stop');
  process.kill(target.pid, 'SIGUSR1');
  t.equal(await target.nextLine(), 'alive 1', 'the process ran on after the detach');
});

t.test('--stdio: target remote | gdbsock --stdio PID; disconnect leaves it running', async (t) => {
  const target = await startDetached(binary, ['sleep']);
  t.teardown(() => target.kill());
  const out = await runGdb(stdioTarget(target.pid), ['info registers rip', 'bt 1', 'disconnect']);
  t.match(out, /rip +0x[0-9a-f]+/);
  t.match(out, /#0 /);
  await new Promise((r) => setTimeout(r, 300));
  t.not(procState(target.pid), 't', 'not left stopped');
  process.kill(target.pid, 'SIGUSR1');
  t.equal(await target.nextLine(), 'alive 1');
});

t.test('Ctrl-C while running stops an attached process that is not a process-group leader', async (t) => {
  const target = await startDetached(binary, ['sleep']);
  t.teardown(() => target.kill());
  const pgid = Number(fs.readFileSync(`/proc/${target.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[2]);
  t.not(pgid, target.pid, 'the fixture is not its group leader (gdbserver hangs here)');
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', String(target.pid)]);
  t.teardown(() => server.stop());
  const gdb = spawn('gdb', ['-q', '-batch', '-nx', '-ex', `target extended-remote ${server.target}`, '-ex', 'continue', '-ex', 'print 1+1', '-ex', 'detach'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: cleanEnv(),
  });
  let out = '';
  gdb.stdout.on('data', (d: Buffer) => (out += d.toString()));
  gdb.stderr.on('data', (d: Buffer) => (out += d.toString()));
  // Wait until gdb has resumed the target (it is running, not traced-stopped), then interrupt gdb.
  for (let i = 0; i < 200 && !/Continuing/.test(out); i++) await new Promise((r) => setTimeout(r, 25));
  await new Promise((r) => setTimeout(r, 200));
  gdb.kill('SIGINT');
  const code = await new Promise((r) => gdb.on('exit', r));
  t.match(out, /received signal SIGINT/);
  t.match(out, /\$1 = 2/);
  t.match(out, /detached/);
  t.equal(code, 0);
  process.kill(target.pid, 'SIGUSR1');
  t.equal(await target.nextLine(), 'alive 1', 'runs on after the interrupt and detach');
});

t.test('bad input: garbage, bad checksums, oversized and unknown packets get answers, not a crash', async (t) => {
  const target = await startDetached(binary, ['sleep']);
  t.teardown(() => target.kill());
  const out = await runGdb(stdioTarget(target.pid), [
    'maint packet qNoSuchPacket',
    'maint packet m0,10',
    'maint packet Hgp0.ffffffff',
    'maint packet g',
    'maint packet Z0,zz,1',
    'maint packet vCont;q',
    'maint packet qXfer:features:read:nosuch.xml:0,100',
    'monitor help',
    `maint packet p${'f'.repeat(20)}`,
    'print 42',
    'detach',
  ]);
  t.match(out, /received: ""/, 'an unknown packet gets the empty reply');
  t.match(out, /received: "E01"/, 'unreadable memory and bad arguments get errors');
  t.match(out, /gdbsock monitor commands/);
  t.match(out, /\$1 = 42/, 'still serving after all that');
  process.kill(target.pid, 'SIGUSR1');
  t.equal(await target.nextLine(), 'alive 1');
});

t.test('without --once: a second gdb after a detach, then SIGTERM leaves the process running', async (t) => {
  const target = await startDetached(binary, ['threads', '2']);
  t.teardown(() => target.kill());
  const server = await startGdbsock(['--listen', '127.0.0.1:0', String(target.pid)]);
  t.teardown(() => server.stop());
  const first = await runGdb(`target extended-remote ${server.target}`, ['info threads', 'detach']);
  t.match(first, /detached/);
  const second = await runGdb(`target extended-remote ${server.target}`, ['info threads', 'print watched']);
  t.match(second, /"worker-1"/, 'attached again for the second gdb');
  t.match(second, /\$1 = 0/);
  server.proc.kill('SIGTERM');
  t.equal(await server.exited, 0, 'gdbsock exits on SIGTERM');
  t.not(procState(target.pid), 't', 'not left in a tracing stop');
  process.kill(target.pid, 'SIGUSR1');
  t.equal(await target.nextLine(), 'alive 1', 'the process ran on');
});

t.test('breakpoint hit by several running threads: every report is a real hit, none lost or doubled', async (t) => {
  const target = await startDetached(binary, ['threads', '4']);
  t.teardown(() => target.kill());
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', String(target.pid)]);
  t.teardown(() => server.stop());
  // The workers' loop: four threads race to it.
  const commands = [`break gdbsock.c:${sourceLine('gdbsock.c', 'for (;;) { total++;')}`, ...Array(8).fill('continue'), 'delete', 'detach'];
  const out = await runGdb(`target extended-remote ${server.target}`, commands);
  const hits = out.match(/Thread \d+ "worker-\d" hit Breakpoint 1/g) ?? [];
  t.equal(hits.length, 8, 'eight breakpoint stops, each in a worker');
  t.notMatch(out, /SIGTRAP/, 'no stray trap reached gdb');
  t.match(out, /detached/);
  process.kill(target.pid, 'SIGUSR1');
  t.equal(await target.nextLine(), 'alive 1', 'runs on');
});
