/**
 * Non-stop mode's queue of stops not yet taken by gdb (GDB manual, "Remote
 * Non-Stop", "Notification Packets"), at the packet level against the
 * `nonstop` fixture, gdbserver beside gdbsock in each test:
 * - a thread whose stop is still queued stays stopped whatever a vCont says
 *   (gdbserver, linux-low.cc linux_set_resume_request): gdb has not heard of
 *   the stop and reads its registers once it does. gdb's own
 *   gdb.threads/non-stop-fair-events.exp hit this: a `vCont;s:…;c` resumed a
 *   thread whose stop then had no registers ("PC register is not available");
 * - `?` lists the stopped threads behind the stops still queued, and drops
 *   none: a process's end queued is still reported.
 */
import t, { type Test } from 'tap';
import { fixture, symbol } from '../helpers';
import { requireTool, startGdbserver, startGdbsock } from './gdb';
import { type Client, drain, hex, kindOf, nonStopClient, threadOf } from './nonstop-client';

requireTool('gdbserver');
const nonstop = fixture('nonstop');
const HIT_ME = symbol(nonstop, 'hit_me');
const DONE = symbol(nonstop, 'done');

async function serve(kind: 'gdbserver' | 'gdbsock'): Promise<{ target: string; stop: () => unknown }> {
  if (kind === 'gdbserver') return startGdbserver([nonstop]);
  return startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', nonstop]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Non-stop on, the program's three threads started and every one stopped (vCont;t); their ids as gdb names them. */
async function allStopped(t: Test, c: Client): Promise<{ pid: number; tids: number[]; id: (tid: number) => string }> {
  await c.ask('qSupported:multiprocess+;swbreak+;hwbreak+;no-resumed+');
  await c.ask('QStartNoAckMode');
  t.equal(await c.ask('QNonStop:1'), 'OK');
  const pid = Number.parseInt(/^QCp([0-9a-f]+)\./.exec(await c.ask('qC'))![1]!, 16);
  const id = (tid: number) => `p${hex(pid)}.${hex(tid)}`;
  await drain(c, await c.ask('?'));
  t.equal(await c.ask(`Hg${id(pid)}`), 'OK');
  // Run until hit_me is reached: every thread has started by then.
  t.equal(await c.ask(`Z0,${hex(HIT_ME)},1`), 'OK');
  t.equal(await c.ask('vCont;c'), 'OK');
  const tids = (await drain(c, (await c.notification()).slice(5))).map(threadOf);
  t.equal(await c.ask(`z0,${hex(HIT_ME)},1`), 'OK');
  t.equal(await c.ask('vCont;t'), 'OK');
  tids.push(...(await drain(c, (await c.notification()).slice(5))).map(threadOf));
  t.equal(new Set(tids).size, 3, 'three threads stopped');
  return { pid, tids, id };
}

/** Every stop until `count` have come: the queue after `first`, then further notifications. */
async function stopsUntil(c: Client, first: string, count: number): Promise<string[]> {
  const stops = await drain(c, first);
  while (stops.length < count) stops.push(...(await drain(c, (await c.notification()).slice(5))));
  return stops;
}

async function queuedThenResumed(t: Test, target: string): Promise<string[]> {
  const c = await nonStopClient(target);
  t.teardown(c.close);
  const { tids, id } = await allStopped(t, c);
  // Each thread steps; the first stop is announced, the others queue behind it, none taken yet.
  t.equal(await c.ask(`vCont;${tids.map((tid) => `s:${id(tid)}`).join(';')}`), 'OK');
  const first = (await c.notification()).slice(5);
  await sleep(300);
  // gdb, not knowing yet, resumes everything else: a thread whose stop is queued is not resumed.
  t.equal(await c.ask('vCont;c'), 'OK');
  const stops = await stopsUntil(c, first, 3);
  const seen = [`stops: ${stops.map(kindOf).join(' ')}`];
  t.same(new Set(stops.map(threadOf)), new Set(tids), 'a stop for each thread stepped');
  for (const stop of stops) {
    const tid = threadOf(stop);
    t.match(stop, /;10:[0-9a-f]{16};/, `thread ${tid}'s stop has its pc`);
    t.equal(await c.ask(`Hg${id(tid)}`), 'OK');
    t.match(await c.ask('g'), /^[0-9a-f]+$/, `thread ${tid}: its registers are there (stopped)`);
  }
  seen.push('registers of each: there');
  t.equal(await c.ask(`M${hex(DONE)},4:01000000`), 'OK');
  t.equal(await c.ask('vCont;c'), 'OK');
  const end = await c.notification();
  t.match(end, /^Stop:W/, 'then the program ends');
  return seen;
}

t.test("a vCont leaves a thread whose stop gdb has not taken stopped, so its stop's registers are there", async (t) => {
  const results: Record<string, string[]> = {};
  for (const kind of ['gdbserver', 'gdbsock'] as const) {
    await t.test(kind, async (t) => {
      const server = await serve(kind);
      t.teardown(() => server.stop());
      results[kind] = await queuedThenResumed(t, server.target);
    });
  }
  t.same(results.gdbsock, results.gdbserver, 'the same through both');
});

async function endThenStatus(t: Test, target: string): Promise<string[]> {
  const c = await nonStopClient(target);
  t.teardown(c.close);
  await allStopped(t, c);
  t.equal(await c.ask(`M${hex(DONE)},4:01000000`), 'OK');
  t.equal(await c.ask('vCont;c'), 'OK');
  const end = await c.notification();
  t.match(end, /^Stop:W/, 'the end is announced');
  // Not taken (no vStopped): `?` answers it still, then nothing else is stopped.
  const listed = await drain(c, await c.ask('?'));
  t.same(listed.map(kindOf), ['W0'], '? gives the queued end, and nothing after it');
  return listed.map(kindOf);
}

t.test("`?` keeps a process's end that gdb has not taken yet", async (t) => {
  const results: Record<string, string[]> = {};
  for (const kind of ['gdbserver', 'gdbsock'] as const) {
    await t.test(kind, async (t) => {
      const server = await serve(kind);
      t.teardown(() => server.stop());
      results[kind] = await endThenStatus(t, server.target);
    });
  }
  t.same(results.gdbsock, results.gdbserver, 'the same through both');
});
