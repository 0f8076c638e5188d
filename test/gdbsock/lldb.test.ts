/**
 * LLDB (Debian's lldb-19) as gdbsock's client, `gdb-remote HOST:PORT` in
 * batch mode: what it needs beyond gdb's packets is in LLDB's "GDB Remote
 * Protocol Extensions" (lldbgdbremote.md): qShlibInfoAddr to find libraries,
 * qHostInfo and qProcessInfo, qMemoryRegionInfo, thread-suffixed register
 * packets, a reply to k, pids padded to 16 hex digits in D;PID.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { fixture, procState, startDetached } from '../helpers';
import { cleanEnv, requireTool, rspClient, startGdbsock } from './gdb';

// A real peer: missing means the machine is not set up (.ci/run installs it), so fail loudly.
requireTool('lldb-19');
const binary = fixture('gdbsock');

/** lldb-19 -b: connects, runs each command, returns everything it printed. */
function runLldb(target: string, commands: string[], timeout = 60000): Promise<string> {
  const args = ['-b', '-x', '-o', 'settings set auto-confirm true', '-o', `gdb-remote ${target}`];
  for (const c of commands) args.push('-o', c);
  return new Promise((resolve, reject) => {
    execFile('lldb-19', args, { timeout, encoding: 'utf8', env: cleanEnv() }, (error, stdout, stderr) => {
      const out = stdout + stderr;
      if (error && (error as { killed?: boolean }).killed) reject(new Error(`lldb timed out; it said:\n${out}`));
      else resolve(out);
    });
  });
}

t.test('attached: threads, backtraces through libc, registers, an expression calling libc, memory regions, detach', async (t) => {
  const target = await startDetached(binary, ['threads', '2']);
  t.teardown(() => target.kill());
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', String(target.pid)]);
  t.teardown(() => server.stop());
  const out = await runLldb(server.target, [
    'thread list',
    'bt all',
    'image list',
    'register write rbx 0x1234abcd',
    'register read rbx',
    'expression (long)getpid()',
    'memory region $pc',
    'memory region 0',
    'process detach',
  ]);
  t.equal((out.match(/thread #\d+: tid = \d+/g) ?? []).length, 3, `three threads listed:\n${out}`);
  t.match(out, /libc\.so\.6`\S*sigsuspend/, 'the main thread waits in libc');
  t.equal((out.match(/libc\.so\.6`start_thread/g) ?? []).length, 2, 'both workers backtrace through libc to start_thread');
  t.match(out, /gdbsock`main/, 'and the main thread to main');
  t.match(out, /\/libc\.so\.6/, 'libc is in the image list (qShlibInfoAddr)');
  t.match(out, /rbx = 0x000000001234abcd/, 'a register written and read back');
  t.match(out, new RegExp(`\\(long\\) \\$0 = ${target.pid}\\b`), 'getpid() called in the process (from sigsuspend(): no syscall restart over the call)');
  t.match(out, /\[0x[0-9a-f]+-0x[0-9a-f]+\) r-x \S*libc\.so\.6/, 'memory region: the pc in libc text');
  t.match(out, /\[0x0000000000000000-0x[0-9a-f]+\) ---/, 'memory region: address 0 unmapped');
  t.match(out, /Process \d+ detached/);
  t.notMatch(out, /error:/, 'no command failed');
  t.equal(await server.exited, 0);
  t.not(procState(target.pid), 't', 'not left in a tracing stop');
  process.kill(target.pid, 'SIGUSR1');
  t.equal(await target.nextLine(), 'alive 1', 'the process ran on after the detach');
});

t.test('launched: breakpoint, step, continue, kill', async (t) => {
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', binary, 'count', '3']);
  t.teardown(() => server.stop());
  const started = Date.now();
  const out = await runLldb(server.target, [
    'breakpoint set -n step_me',
    'continue',
    'frame variable i',
    'thread step-inst',
    'register read rip',
    'continue',
    'frame variable i',
    'process kill',
  ]);
  t.match(out, /stop reason = breakpoint 1\.1[\s\S]*step_me/, 'stops at the breakpoint');
  t.match(out, /\(long\) i = 0[\s\S]*\(long\) i = 1/, 'the first and second calls');
  t.match(out, /stop reason = instruction step into/, 'stepi');
  t.match(out, /Process \d+ exited with status = 9/, 'killed, and LLDB heard so (k gets X09)');
  t.notMatch(out, /error:/, 'no command failed');
  t.equal(await server.exited, 0);
  t.ok(Date.now() - started < 20000, 'no packet waited for a timeout');
});

t.test('D;PID with the pid padded to 16 hex digits, as LLDB sends it', async (t) => {
  const target = await startDetached(binary, ['sleep']);
  t.teardown(() => target.kill());
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', String(target.pid)]);
  t.teardown(() => server.stop());
  const c = await rspClient(server.target);
  t.teardown(c.close);
  await c.ask('QStartNoAckMode');
  await c.ask('qSupported:multiprocess+');
  t.equal(await c.ask(`D;${target.pid.toString(16).padStart(16, '0')}`), 'OK');
  c.close();
  t.equal(await server.exited, 0);
  process.kill(target.pid, 'SIGUSR1');
  t.equal(await target.nextLine(), 'alive 1');
});

t.test('64 MiB read by LLDB: x in its own form (no b before the bytes), the bytes the program holds', async (t) => {
  // Oracle: the process's own memory, read through /proc/PID/mem after LLDB detached.
  const program = await startDetached(fixture('bigbuffer'), ['64']);
  t.teardown(() => program.kill());
  const [, address, size] = /^buffer (0x[0-9a-f]+) (\d+)$/.exec(await program.nextLine()) ?? [];
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', String(program.pid)]);
  t.teardown(() => server.stop());
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'hostkit-lldb-'));
  t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));
  const out = await runLldb(server.target, [
    `log enable -f ${work}/packets.log gdb-remote packets`,
    `memory read --force --binary --outfile ${work}/read.bin ${address} ${address}+${size}`,
    'log disable gdb-remote packets',
    'process detach',
  ]);
  t.match(out, new RegExp(`${size} bytes written`), out);
  await server.exited;
  const fd = fs.openSync(`/proc/${program.pid}/mem`, 'r');
  const expected = Buffer.alloc(Number(size));
  fs.readSync(fd, expected, 0, expected.length, Number(BigInt(address!)));
  fs.closeSync(fd);
  t.ok(fs.readFileSync(`${work}/read.bin`).equals(expected), 'every byte as the program holds it');
  const log = fs.readFileSync(`${work}/packets.log`, 'latin1');
  t.match(log, /read packet: \$OK#9a[\s\S]*send packet: \$x[0-9a-f]+,[0-9a-f]+#/, 'x0,0 answered OK, then the read went by x');
  t.notMatch(log, /send packet: \$m[0-9a-f]+,[0-9a-f]{4,}#/, 'no big hex m reads');
});
