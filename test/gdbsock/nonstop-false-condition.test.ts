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
import t, { type Test } from 'tap';
import { fixture, symbol } from '../helpers';
import { requireTool, startServer } from './gdb';
import { type Client, nonStopClient, threadOf } from './nonstop-client';

requireTool('gdbserver');
const spinners = fixture('spinners');
const TICK = symbol(spinners, 'tick').toString(16);
/** Agent expression bytecode (GDB manual, "Bytecode Descriptions"): const8 0, end: never true. */
const FALSE_CONDITION = 'X3,220027';
const ROUNDS = 10;
const THREADS = 5;

async function scenario(t: Test, target: string): Promise<void> {
  const c = await nonStopClient(target);
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
    // The threads start (first round: until the server knows all of them, since vCont;t stops
    // only the threads there are; a loaded machine may take seconds) and run through the false
    // condition for a while.
    if (round === 0) await knownThreads(c, THREADS);
    await new Promise((r) => setTimeout(r, 20));
    t.equal(await c.ask('vCont;t'), 'OK');
    const stopped = new Map<number, string>();
    while (stopped.size < THREADS) {
      let stop = (await c.notification()).slice('Stop:'.length);
      for (; stop !== 'OK'; stop = await c.ask('vStopped')) {
        stopped.set(threadOf(stop), stop.slice(0, 3));
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

/** Waits until qfThreadInfo/qsThreadInfo list `count` threads. */
async function knownThreads(c: Client, count: number): Promise<void> {
  const deadline = Date.now() + 20000;
  for (;;) {
    let listed = 0;
    for (let answer = await c.ask('qfThreadInfo'); answer.startsWith('m'); answer = await c.ask('qsThreadInfo')) listed += answer.split(',').length;
    if (listed >= count) return;
    if (Date.now() > deadline) throw new Error(`only ${listed} of ${count} threads after 20 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

for (const kind of ['gdbserver', 'gdbsock'] as const) {
  t.test(`${kind}: vCont;t stops every thread while they step off a false condition`, async (t) => {
    const server = await startServer(kind, [spinners]);
    t.teardown(() => server.stop());
    await scenario(t, server.target);
  });
}
