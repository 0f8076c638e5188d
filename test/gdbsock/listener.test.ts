/**
 * Where gdb reaches gdbsock (transport.ts): a socket made and accepted on in
 * C, each connection a net.Socket. The oracles are the kernel's: the
 * descriptors /proc lists for a program gdb runs, and the sockets /proc/net
 * lists; for a host that does not resolve, gdbserver's own message.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { fixture } from '../helpers';
import { cleanEnv, requireTool, rspClient, startGdbsock, startGdbsockAsGdbserver } from './gdb';

const CLI = path.join(__dirname, '..', '..', 'dist', 'gdbsock', 'cli.js');
const binary = fixture('gdbsock');

/** What each of `pid`'s descriptors past stdin, stdout and stderr is (readlink of /proc/PID/fd/N). */
function descriptors(pid: number): string[] {
  return fs
    .readdirSync(`/proc/${pid}/fd`)
    .filter((fd) => Number(fd) > 2)
    .map((fd) => `${fd}:${fs.readlinkSync(`/proc/${pid}/fd/${fd}`)}`);
}

t.test('a program gdb runs holds neither the listening socket nor the connections', async (t) => {
  const server = await startGdbsockAsGdbserver(['--multi', '127.0.0.1:0']);
  t.teardown(() => void server.proc.kill('SIGKILL'));
  const rsp = await rspClient(server.target);
  t.teardown(rsp.close);
  t.equal(await rsp.ask('QStartNoAckMode'), 'OK');
  const held = descriptors(server.proc.pid!).filter((d) => d.includes(':socket:'));
  t.ok(held.length >= 2, `gdbsock holds the listening socket and gdb's connection (${held.join(' ')})`);
  await rsp.ask('qSupported:multiprocess+');
  t.equal(await rsp.ask('QStartupWithShell:0'), 'OK');
  const hex = (s: string) => Buffer.from(s).toString('hex');
  const stop = await rsp.ask(`vRun;${[binary, 'count', '31'].map(hex).join(';')}`);
  const pid = Number.parseInt(/thread:p([0-9a-f]+)\./.exec(stop)?.[1] ?? '', 16);
  t.ok(pid > 0, `started, stopped at its first instruction: ${stop.slice(0, 40)}`);
  const inherited = descriptors(pid);
  t.same(
    inherited.filter((d) => d.includes(':socket:')),
    [],
    `no socket among the program's descriptors (${inherited.join(' ')})`,
  );
  await rsp.ask(`vKill;${pid.toString(16)}`);
});

t.test('one gdb at a time: a second connection is turned away, the first served on', async (t) => {
  const server = await startGdbsock(['--listen', '127.0.0.1:0', '--', binary, 'count', '31']);
  t.teardown(() => server.stop());
  const first = await rspClient(server.target);
  t.teardown(first.close);
  t.equal(await first.ask('QStartNoAckMode'), 'OK');
  const [host, port] = server.target.split(':');
  const second = net.connect(Number(port), host);
  const ended = await new Promise<string>((resolve) => {
    second.once('end', () => resolve('end'));
    second.once('close', () => resolve('close'));
    second.once('error', (err) => resolve(`error ${err.message}`));
  });
  t.match(ended, /end|close/, 'the second connection is closed by gdbsock');
  t.match(await first.ask('?'), /^T/, 'the first is still served');
});

t.test('an IPv6 loopback address: listening there, and gdb served', async (t) => {
  requireTool('gdb');
  const server = await startGdbsockAsGdbserver(['--once', '[::1]:0', binary, 'count', '31']);
  t.teardown(() => void server.proc.kill('SIGKILL'));
  const port = Number(server.target.split(':').pop());
  const listening = fs.readFileSync('/proc/net/tcp6', 'utf8');
  t.match(listening, new RegExp(`0{24}01000000:${port.toString(16).toUpperCase().padStart(4, '0')} 0{32}:0000 0A`), '::1 listens on the port (/proc/net/tcp6)');
  const reply = await new Promise<string>((resolve, reject) => {
    const socket = net.connect(port, '::1', () => socket.write('$?#3f'));
    let got = '';
    socket.on('data', (d) => {
      got += d.toString('latin1');
      if (/\$T[^#]*#/.test(got)) {
        socket.destroy();
        resolve(got);
      }
    });
    socket.once('error', reject);
  });
  t.match(reply, /\$T05/, 'the stop reply, over IPv6');
});

t.test("a host that does not resolve: gdbserver's message and status", async (t) => {
  requireTool('gdbserver');
  const comm = 'no-such-host.invalid:0';
  const ours = spawnSync(process.execPath, [CLI, comm, binary], { encoding: 'utf8', env: cleanEnv() });
  const theirs = spawnSync('gdbserver', [comm, binary], { encoding: 'utf8', env: cleanEnv() });
  t.equal(ours.status, theirs.status, 'exit status');
  t.match(theirs.stderr, /cannot resolve name/, `gdbserver says why: ${theirs.stderr.trim()}`);
  // Beyond loopback, gdbsock warns first (on its own log line); after that, gdbserver's lines, and no program created.
  const lines = ours.stderr.split('\n').filter((l) => !l.startsWith('gdbsock: WARNING'));
  t.equal(lines.join('\n'), theirs.stderr, 'the same lines as gdbserver');
});
