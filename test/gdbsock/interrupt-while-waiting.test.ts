/**
 * gdb's Ctrl-C in the first milliseconds after a continue, while gdbsock
 * waits for the stop on the JS thread (tracer.settle): the 0x03 is taken
 * there and the program interrupted at once, over a socket (the byte peeked
 * at and read by takeInterrupt) and over a pipe (--stdio: no peeking, the
 * event loop reads it). Before, the wait ignored gdb for up to 10 ms and the
 * stop came after gdb had already taken its next command as one for a
 * running target (gdb.base/bg-execution-repeat.exp). Each round: vCont;c,
 * 0x03 a millisecond later, and a SIGINT stop of the program's thread, as
 * gdbserver answers (its anchor rounds run first).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import t from 'tap';
import { PacketDecoder, frame, runLengthDecode } from '../../lib/gdbsock/packet';
import { fixture } from '../helpers';
import { requireTool, rspClient, startServer } from './gdb';

requireTool('gdbserver');
const loop = fixture('target');
const CLI = path.join(__dirname, '..', '..', 'dist', 'gdbsock', 'cli.js');
const ROUNDS = 20;
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const kind of ['gdbserver', 'gdbsock'] as const) {
  t.test(`${kind} over TCP: ${ROUNDS} Ctrl-Cs a millisecond after vCont;c each stop the program with SIGINT`, async (t) => {
    const server = await startServer(kind, [loop, 'loop']);
    t.teardown(() => server.stop());
    const rsp = await rspClient(server.target);
    t.teardown(rsp.close);
    await rsp.ask('qSupported:multiprocess+;swbreak+;hwbreak+');
    await rsp.ask('QStartNoAckMode');
    await rsp.ask('?');
    for (let i = 0; i < ROUNDS; i++) {
      rsp.send('vCont;c');
      await pause(1);
      rsp.interrupt();
      t.match(await rsp.next(10000, 'the stop for the Ctrl-C'), /^T02/, `round ${i + 1}`);
    }
    await rsp.ask('vKill;0').catch(() => undefined);
  });
}

t.test(`gdbsock --stdio: ${ROUNDS} Ctrl-Cs a millisecond after vCont;c each stop the program with SIGINT`, async (t) => {
  const child = spawn(process.execPath, [CLI, '--stdio', '--', loop, 'loop'], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => child.kill('SIGKILL'));
  const decoder = new PacketDecoder(1 << 22);
  const replies: string[] = [];
  child.stdout.on('data', (d: Buffer) => {
    for (const f of decoder.push(d)) if (f.kind === 'packet') replies.push(runLengthDecode(f.payload).toString('latin1'));
  });
  const send = (body: string) => child.stdin.write(frame(Buffer.from(body, 'latin1'), false));
  const next = async (what: string): Promise<string> => {
    for (let waited = 0; replies.length === 0; waited += 5) {
      if (waited > 10000) throw new Error(`no ${what}`);
      await pause(5);
    }
    return replies.shift()!;
  };
  send('QStartNoAckMode');
  t.equal(await next('reply to QStartNoAckMode'), 'OK');
  child.stdin.write('+'); // its own reply was sent in ack mode
  send('?');
  await next('reply to ?');
  for (let i = 0; i < ROUNDS; i++) {
    send('vCont;c');
    await pause(1);
    child.stdin.write('\x03');
    t.match(await next('the stop for the Ctrl-C'), /^T02/, `round ${i + 1}`);
  }
  send('vKill;0');
  await next('reply to vKill');
});
