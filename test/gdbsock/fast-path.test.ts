/**
 * The paths that keep gdbsock off Node's event loop while gdb talks to it
 * (Connection.pumpSoon, tracer.settle, replies written on the JS thread)
 * must never cost correctness: Ctrl-C still gets through while false
 * conditions keep the target busy, and big replies arrive whole over a
 * socket and over a pipe, where they do not fit in the kernel's buffer.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { fixture, startDetached } from '../helpers';
import { cleanEnv, requireTool, runGdb, startGdbsock } from './gdb';

requireTool('gdb');
const binary = fixture('gdbsock');
const CLI = `${__dirname}/../../dist/gdbsock/cli.js`;

t.test('Ctrl-C gets through while a false target-side condition is hit in a tight loop', async (t) => {
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', binary, 'count', '2000000000']);
  t.teardown(() => server.stop());
  const gdb = spawn(
    'gdb',
    [
      '-q',
      '-batch',
      '-nx',
      '-ex',
      `target extended-remote ${server.target}`,
      '-ex',
      'set breakpoint condition-evaluation target',
      '-ex',
      'break step_me if i == -1',
      '-ex',
      'continue',
      '-ex',
      'print i > 0',
      '-ex',
      'kill',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv() },
  );
  let out = '';
  gdb.stdout.on('data', (d: Buffer) => (out += d.toString()));
  gdb.stderr.on('data', (d: Buffer) => (out += d.toString()));
  for (let i = 0; i < 200 && !/Continuing/.test(out); i++) await new Promise((r) => setTimeout(r, 25));
  await new Promise((r) => setTimeout(r, 500)); // thousands of false hits by now
  const sent = Date.now();
  gdb.kill('SIGINT');
  const code = await new Promise((r) => gdb.on('exit', r));
  t.match(out, /received signal SIGINT/);
  t.match(out, /\$1 = 1/, 'stopped with step_me on the stack, well into the loop');
  t.ok(Date.now() - sent < 5000, 'the interrupt was answered promptly');
  t.equal(code, 0);
});

/** The first executable mapping of libc in `pid`: a few MiB of known bytes. */
function libcText(pid: number): { start: bigint; end: bigint } {
  for (const line of fs.readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')) {
    const [range, perms, , , , file] = line.split(/\s+/);
    if (perms === 'r-xp' && file && /\/libc[.-]/.test(file)) {
      const [start, end] = range!.split('-').map((h) => BigInt(`0x${h}`));
      return { start: start!, end: end! };
    }
  }
  throw new Error(`no libc text in /proc/${pid}/maps`);
}

function readMem(pid: number, start: bigint, length: number): Buffer {
  const fd = fs.openSync(`/proc/${pid}/mem`, 'r');
  try {
    const out = Buffer.alloc(length);
    fs.readSync(fd, out, 0, length, start);
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

for (const transport of ['unix socket', 'stdio pipe'] as const) {
  t.test(`a memory dump over a ${transport} arrives whole`, async (t) => {
    const target = await startDetached(binary, ['sleep']);
    t.teardown(() => target.kill());
    const { start, end } = libcText(target.pid);
    const expected = readMem(target.pid, start, Number(end - start));
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gdbsock-dump-')), 'libc.bin');
    t.teardown(() => fs.rmSync(path.dirname(file), { recursive: true, force: true }));
    let connect: string;
    if (transport === 'unix socket') {
      const server = await startGdbsock(['--once', String(target.pid)]);
      t.teardown(() => server.stop());
      connect = `target extended-remote ${server.target}`;
    } else {
      connect = `target remote | ${process.execPath} ${CLI} --stdio ${target.pid}`;
    }
    const out = await runGdb(connect, [`dump binary memory ${file} 0x${start.toString(16)} 0x${end.toString(16)}`, 'detach'], { timeout: 60000 });
    t.match(out, /detached/, out);
    const dumped = fs.readFileSync(file);
    t.equal(dumped.length, expected.length, `${expected.length} bytes`);
    t.ok(dumped.equals(expected), 'the same bytes as /proc/PID/mem');
  });
}
