/**
 * The library's session lifecycle (session.ts), without the CLI: a user of
 * the exported API gets "detach on disconnect, attach again for the next gdb,
 * one at a time, once" by default.
 */
import fs from 'node:fs';
import { PassThrough } from 'node:stream';
import t from 'tap';
import { PacketDecoder, frame, runLengthDecode } from '../../lib/gdbsock/packet';
import { LiveTarget, Sessions, liveProvider } from '../../lib/gdbsock';
import { eventually, fixture, startDetached } from '../helpers';

const binary = fixture('gdbsock');

function tracerOf(pid: number): number {
  return Number(/^TracerPid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

/** A gdb stand-in on a pair of streams: sends packets, collects replies, hangs up. */
function client() {
  const input = new PassThrough();
  const output = new PassThrough();
  const decoder = new PacketDecoder(1 << 22);
  const replies: string[] = [];
  output.on('data', (d: Buffer) => {
    for (const f of decoder.push(d)) if (f.kind === 'packet') replies.push(runLengthDecode(f.payload).toString('latin1'));
  });
  const ask = async (body: string) => {
    const before = replies.length;
    input.write(frame(Buffer.from(body, 'latin1'), false));
    await eventually(() => replies.length > before, 'a reply');
    return replies[before]!;
  };
  return { input, output, ask, hangUp: () => input.end() };
}

t.test('gdb hangs up: the process is detached; the next gdb finds it attached again; one gdb at a time', async (t) => {
  const target = await startDetached(binary, ['sleep']);
  t.teardown(() => target.kill());
  const sessions = new Sessions({ target: await LiveTarget.attach(target.pid), provider: liveProvider });
  t.teardown(() => sessions.close());
  t.equal(tracerOf(target.pid), process.pid, 'traced while the first gdb is on');

  const first = client();
  t.ok(sessions.accept(first.input, first.output));
  t.match(await first.ask('?'), /^T/, 'a stop reply');
  const second = client();
  t.notOk(sessions.accept(second.input, second.output), 'a second gdb is turned away while one is served');
  first.hangUp();
  await eventually(() => !sessions.busy, 'the session to end');
  t.equal(tracerOf(target.pid), 0, 'not traced once gdb hung up');

  const third = client();
  t.ok(sessions.accept(third.input, third.output), 'the next gdb is served');
  t.match(await third.ask('?'), /^T/);
  t.equal(tracerOf(target.pid), process.pid, 'attached again for it');
  third.hangUp();
  await eventually(() => !sessions.busy, 'the session to end');
  t.equal(tracerOf(target.pid), 0);
  process.kill(target.pid, 'SIGUSR1');
  t.equal(await target.nextLine(), 'alive 1', 'the process ran on');
});

t.test('once: done after the first gdb, the process let go', async (t) => {
  const target = await startDetached(binary, ['sleep']);
  t.teardown(() => target.kill());
  const sessions = new Sessions({ target: await LiveTarget.attach(target.pid), provider: liveProvider, once: true });
  const done = new Promise((resolve) => sessions.once('done', resolve));
  const gdb = client();
  t.ok(sessions.accept(gdb.input, gdb.output));
  t.match(await gdb.ask('?'), /^T/);
  gdb.hangUp();
  await done;
  t.equal(tracerOf(target.pid), 0, 'detached');
  const next = client();
  t.notOk(sessions.accept(next.input, next.output), 'no more sessions');
  await sessions.close();
});
