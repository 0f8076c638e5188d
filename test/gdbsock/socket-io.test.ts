/**
 * The native reads and writes Connection uses on gdb's socket (addon.readSoon,
 * addon.writeSome): errors are numbers, never exceptions, and a quiet peer,
 * a peer that hangs up and a peer that is gone each get their own answer.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { constants } from 'node:os';
import t, { type Test } from 'tap';
import { addon } from '../../lib/native';

const { EAGAIN, EPIPE, ECONNRESET } = constants.errno;

/** A connected TCP pair: `ours` is read and written through its descriptor, as Connection does. */
async function socketPair(t: Test): Promise<{ fd: number; ours: net.Socket; peer: net.Socket }> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const ours = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await once(ours, 'connect');
  const [peer] = (await accepted) as [net.Socket];
  // The bytes are ours to read, not libuv's; a reset peer is an answer here, not an error event.
  const handle = (ours as unknown as { _handle: { fd: number; readStop(): void } })._handle;
  handle.readStop();
  ours.on('error', () => undefined);
  peer.on('error', () => undefined);
  t.teardown(() => {
    ours.destroy();
    peer.destroy();
    server.close();
  });
  return { fd: handle.fd, ours, peer };
}

t.test('readSoon: bytes once they come, -EAGAIN when none do, 0 at the end', async (t) => {
  const { fd, peer } = await socketPair(t);
  const buffer = Buffer.alloc(64);
  const started = performance.now();
  t.equal(addon.readSoon(fd, buffer, 100, 30, false), -EAGAIN, 'a quiet peer: nothing, not an exception');
  t.ok(performance.now() - started >= 25, 'it waited (most of) the window first');

  peer.write('$qC#b4');
  await new Promise((r) => setTimeout(r, 20));
  const n = addon.readSoon(fd, buffer, 100, 1000, false);
  t.equal(buffer.toString('latin1', 0, n), '$qC#b4', 'what the peer sent');

  peer.end();
  await new Promise((r) => setTimeout(r, 20));
  t.equal(addon.readSoon(fd, buffer, 100, 1000, false), 0, 'the peer hung up: end of stream');
});

t.test('readSoon with yieldToLoop: a SIGCHLD ends the wait at once, without one it waits the window', async (t) => {
  const { fd } = await socketPair(t);
  const buffer = Buffer.alloc(64);
  // A child that exits at once: its SIGCHLD reaches libuv's signal pipe (Node watches SIGCHLD for child_process).
  const child = spawn('true');
  const exited = once(child, 'exit');
  const started = performance.now();
  t.equal(addon.readSoon(fd, buffer, 100, 5000, true), -EAGAIN, 'nothing from the peer');
  t.ok(performance.now() - started < 2500, `the event loop's work ended the wait (${Math.round(performance.now() - started)} ms of 5000)`);
  await exited;

  const quiet = performance.now();
  t.equal(addon.readSoon(fd, buffer, 100, 200, false), -EAGAIN);
  t.ok(performance.now() - quiet >= 190, 'without yieldToLoop only the window ends it');
});

t.test('writeSome: bytes taken, -errno once the peer is gone', async (t) => {
  const { fd, peer } = await socketPair(t);
  const data = Buffer.from('$OK#9a');
  t.equal(addon.writeSome(fd, data, 0, data.length), data.length);
  const [got] = (await once(peer, 'data')) as [Buffer];
  t.equal(got.toString(), '$OK#9a');

  peer.resetAndDestroy();
  await new Promise((r) => setTimeout(r, 20));
  let rc = 0;
  for (let i = 0; i < 3 && rc >= 0; i++) rc = addon.writeSome(fd, data, 0, data.length);
  t.ok(rc === -EPIPE || rc === -ECONNRESET, `a reset peer: -EPIPE or -ECONNRESET, got ${rc}`);
  t.throws(() => addon.writeSome(fd, data, 4, data.length), /writeSome/, 'a range past the buffer is refused');
});
