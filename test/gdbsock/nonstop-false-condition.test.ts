/**
 * Non-stop: vCont;t while threads step off a breakpoint whose condition is
 * false (evaluated in the server, as gdb sends it in Z0 since the server
 * offers ConditionalBreakpoints). PTRACE_INTERRUPT's stop is lost when the
 * thread enters another trap first (kernel/signal.c, ptrace_stop: any trap
 * clears a pending STOP trap), so a thread caught mid step-over must still be
 * reported stopped, as gdbserver reports it (gdb.threads/interrupt-while-step-over.exp
 * waited for ever for one thread). Every thread stops each round, T00, for
 * both servers.
 */
import net from 'node:net';
import t, { type Test } from 'tap';
import { frame, runLengthDecode } from '../../lib/gdbsock/packet';
import { fixture, symbol } from '../helpers';
import { requireTool, startGdbserver, startGdbsock } from './gdb';

requireTool('gdbserver');
const spinners = fixture('spinners');
const TICK = symbol(spinners, 'tick').toString(16);
/** Agent expression bytecode (GDB manual, "Bytecode Descriptions"): const8 0, end: never true. */
const FALSE_CONDITION = 'X3,220027';
const ROUNDS = 10;
const THREADS = 5;
/** Failsafe only: each wait is for an event. */
const FAILSAFE_MS = 20000;

/** A bare client that keeps `%Stop` notifications apart from replies. */
async function client(target: string) {
  const [host, port] = target.split(':');
  const socket = net.connect(Number(port), host);
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let text = '';
  let acking = true;
  const replies: string[] = [];
  const notes: string[] = [];
  socket.on('data', (d: Buffer) => {
    text += d.toString('latin1');
    for (;;) {
      text = text.replace(/^[+-]+/, '');
      const m = /^([$%])([^#]*)#[0-9a-f]{2}/.exec(text);
      if (!m) break;
      text = text.slice(m[0].length);
      if (m[1] === '$' && acking) socket.write('+');
      const body = runLengthDecode(Buffer.from(m[2]!, 'latin1')).toString('latin1');
      (m[1] === '$' ? replies : notes).push(body);
    }
  });
  const until = async (have: () => boolean, what: string) => {
    const deadline = Date.now() + FAILSAFE_MS;
    while (!have()) {
      if (socket.destroyed) throw new Error(`connection closed waiting for ${what}`);
      if (Date.now() > deadline) throw new Error(`no ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const ask = async (body: string): Promise<string> => {
    socket.write(frame(Buffer.from(body, 'latin1'), false));
    await until(() => replies.length > 0, `reply to ${body}`);
    const reply = replies.shift()!;
    if (body === 'QStartNoAckMode' && reply === 'OK') acking = false;
    return reply;
  };
  const notification = async (what: string): Promise<string> => {
    await until(() => notes.length > 0, what);
    return notes.shift()!;
  };
  return { ask, notification, close: () => socket.destroy() };
}

async function scenario(t: Test, target: string): Promise<void> {
  const c = await client(target);
  t.teardown(c.close);
  t.match(await c.ask('qSupported:multiprocess+;swbreak+;hwbreak+;no-resumed+'), /ConditionalBreakpoints\+/);
  await c.ask('QStartNoAckMode');
  t.equal(await c.ask('QNonStop:1'), 'OK');
  const pid = Number.parseInt(/^QCp([0-9a-f]+)\./.exec(await c.ask('qC'))![1]!, 16);
  await c.ask('?');
  while ((await c.ask('vStopped')) !== 'OK');
  t.equal(await c.ask(`Hgp${pid.toString(16)}.${pid.toString(16)}`), 'OK');
  t.equal(await c.ask(`Z0,${TICK},1;${FALSE_CONDITION}`), 'OK', 'a breakpoint with a false condition');
  for (let round = 0; round < ROUNDS; round++) {
    t.equal(await c.ask('vCont;c'), 'OK');
    // The threads start (first round) and run through the false condition for a while.
    await new Promise((r) => setTimeout(r, round === 0 ? 300 : 20));
    t.equal(await c.ask('vCont;t'), 'OK');
    const stopped = new Map<number, string>();
    while (stopped.size < THREADS) {
      let stop = (await c.notification(`stops of round ${round} (${stopped.size} of ${THREADS} so far)`)).slice('Stop:'.length);
      for (; stop !== 'OK'; stop = await c.ask('vStopped')) {
        const tid = Number.parseInt(/thread:p[0-9a-f]+\.([0-9a-f]+);/.exec(stop)?.[1] ?? 'x', 16);
        stopped.set(tid, stop.slice(0, 3));
      }
    }
    t.match(
      [...stopped.values()].join(' '),
      /^T0[05]( T0[05])*$/,
      `round ${round}: all ${THREADS} threads stopped (T00, or T05 for a thread caught at its step: gdbserver)`,
    );
  }
  await c.ask(`vKill;${pid.toString(16)}`);
}

for (const kind of ['gdbserver', 'gdbsock'] as const) {
  t.test(`${kind}: vCont;t stops every thread while they step off a false condition`, async (t) => {
    const server = kind === 'gdbserver' ? await startGdbserver([spinners]) : await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', spinners]);
    t.teardown(() => server.stop());
    await scenario(t, server.target);
  });
}
