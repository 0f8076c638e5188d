/**
 * Non-stop mode (GDB manual, "Remote Non-Stop", "Notification Packets"):
 * a stop stops one thread while the others run on; stops come as %Stop
 * notifications, each taken by gdb with vStopped, which answers the next
 * queued stop or OK; vCont;t stops a thread (reported T00); `?` lists every
 * stopped thread through the same queue. Against the `nonstop` fixture (a
 * counting thread, a thread calling hit_me, main waiting for `done`), at the
 * packet level and with real gdb (`set non-stop on`), gdbserver beside
 * gdbsock in each test.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import t, { type Test } from 'tap';
import { fixture, symbol } from '../helpers';
import { interactiveGdb, requireTool, startGdbserver, startGdbsock, startGdbsockAsGdbserver } from './gdb';
import { type Client, drain, hex, kindOf, nonStopClient, openNonStop, threadOf } from './nonstop-client';

requireTool('gdb');
requireTool('gdbserver');
const nonstop = fixture('nonstop');
const HIT_ME = symbol(nonstop, 'hit_me');
const DONE = symbol(nonstop, 'done');
const COUNTER = symbol(nonstop, 'counter');

/** The two servers, started on the fixture the same way. */
async function serve(kind: 'gdbserver' | 'gdbsock'): Promise<{ target: string; stop: () => unknown }> {
  if (kind === 'gdbserver') return startGdbserver([nonstop]);
  return startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', nonstop]);
}

/** The 8-byte little-endian value at `address`, read while threads run. */
async function readLong(c: Client, address: bigint): Promise<bigint> {
  return Buffer.from(await c.ask(`m${hex(address)},8`), 'hex').readBigUInt64LE();
}

/**
 * The packet-level scenario, for either server; what it saw, in a form both
 * must share (no pids, no addresses).
 */
async function packetScenario(t: Test, target: string): Promise<string[]> {
  const seen: string[] = [];
  const c = await nonStopClient(target);
  t.teardown(c.close);
  const features = await c.ask('qSupported:multiprocess+;swbreak+;hwbreak+;no-resumed+');
  t.match(features, /QNonStop\+/, 'qSupported offers QNonStop');
  await c.ask('QStartNoAckMode');
  t.equal(await c.ask('QNonStop:1'), 'OK', 'QNonStop:1');
  const pid = Number.parseInt(/^QCp([0-9a-f]+)\./.exec(await c.ask('qC'))![1]!, 16);
  const id = (tid: number) => `p${hex(pid)}.${hex(tid)}`;

  // At the start, one thread, stopped: `?` lists it, vStopped says there is no other.
  const atStart = await drain(c, await c.ask('?'));
  seen.push(`start: ${atStart.map(kindOf).join(' ')}`);
  // gdb names a thread before its first Z (gdbserver 13 crashes on a Z in non-stop without one).
  t.equal(await c.ask(`Hg${id(pid)}`), 'OK');

  // Run to hit_me: its thread stops, announced by a notification; the counting thread runs on.
  t.equal(await c.ask(`Z0,${hex(HIT_ME)},1`), 'OK');
  t.equal(await c.ask('vCont;c'), 'OK', 'vCont;c answers OK at once');
  const hit = await c.notification();
  t.match(hit, /^Stop:T05/, 'the breakpoint hit comes as %Stop:T05');
  const hitter = threadOf(hit);
  const afterHit = await drain(c, hit.slice(5));
  seen.push(`hit: ${afterHit.map(kindOf).join(' ')}`);
  t.equal(await c.ask(`z0,${hex(HIT_ME)},1`), 'OK');
  const before = await readLong(c, COUNTER);
  let after = before;
  for (let i = 0; i < 200 && after === before; i++) {
    await new Promise((r) => setTimeout(r, 20));
    after = await readLong(c, COUNTER);
  }
  t.ok(after > before, `the counting thread runs while ${hitter} is stopped (${before} then ${after})`);
  t.equal(await c.ask(`T${id(hitter)}`), 'OK', 'the stopped thread is alive');

  // A malformed vCont is an error, and the session goes on.
  t.match(await c.ask('vCont;x'), /^E/, 'vCont;x is an error');
  t.match(await c.ask('vCont;c:zz'), /^E/, 'vCont;c:zz is an error');

  // Stop every thread: each one that ran is reported with signal 0, through the queue; the hitter is not again.
  t.equal(await c.ask('vCont;t'), 'OK', 'vCont;t answers OK');
  const stopAll = await drain(c, (await c.notification()).slice(5));
  seen.push(`stop all: ${stopAll.map(kindOf).join(' ')}`);
  t.same(
    stopAll.map(kindOf),
    stopAll.map(() => 'T00'),
    'every thread vCont;t stopped is reported T00',
  );
  const stoppedTids = stopAll.map(threadOf);
  t.equal(new Set(stoppedTids).size, stoppedTids.length, 'each thread once');
  t.notOk(stoppedTids.includes(hitter), 'the thread stopped already is not reported again');

  // `?` now lists all three stopped threads: the hitter at its breakpoint, the others at T00.
  const listed = await drain(c, await c.ask('?'));
  seen.push(`listed: ${listed.map(kindOf).sort().join(' ')}`);
  t.equal(listed.length, 3, '? lists three stopped threads');
  t.match(listed.find((s) => threadOf(s) === hitter) ?? '', /^T05/, 'the hitter as stopped at its breakpoint');

  // One thread continued alone, then stopped with vCont;t:TID: T00 for that thread only.
  const other = stoppedTids.find((tid) => tid !== pid)!;
  t.equal(await c.ask(`vCont;c:${id(other)}`), 'OK');
  t.equal(await c.ask(`vCont;t:${id(other)}`), 'OK');
  const single = await drain(c, (await c.notification()).slice(5));
  seen.push(`one thread: ${single.map(kindOf).join(' ')}`);
  t.equal(single.length, 1, 'one stop');
  t.match(single[0], /^T00/, 'vCont;t gives T00');
  t.equal(threadOf(single[0]!), other, 'for the thread it named');

  // Let the program finish: the exit is a notification too.
  t.equal(await c.ask(`M${hex(DONE)},4:01000000`), 'OK');
  t.equal(await c.ask('vCont;c'), 'OK');
  const end = await c.notification();
  t.match(end, /^Stop:W0*;/, 'the exit (code 0) comes as %Stop:W');
  seen.push(`end: ${kindOf(end.slice(5))}`);
  t.equal(await c.ask('vStopped'), 'OK', 'nothing after the exit');
  return seen;
}

t.test('packets: %Stop and vStopped, vCont;t, ? in non-stop, a bad vCont (gdbserver and gdbsock alike)', async (t) => {
  const results: Record<string, string[]> = {};
  for (const kind of ['gdbserver', 'gdbsock'] as const) {
    await t.test(kind, async (t) => {
      const server = await serve(kind);
      t.teardown(() => server.stop());
      results[kind] = await packetScenario(t, server.target);
    });
  }
  t.same(results.gdbsock, results.gdbserver, 'the same stops in the same order');
});

t.test('after the end, gdbsock serves on until gdb hangs up (gdb may send a packet before)', async (t) => {
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', nonstop]);
  t.teardown(() => server.stop());
  const c = await nonStopClient(server.target);
  t.teardown(c.close);
  await c.ask('qSupported:multiprocess+;swbreak+;hwbreak+;no-resumed+');
  await c.ask('QStartNoAckMode');
  await c.ask('QNonStop:1');
  t.equal(await c.ask(`M${hex(DONE)},4:01000000`), 'OK');
  t.equal(await c.ask('vCont;c'), 'OK');
  t.match(await c.notification(), /^Stop:W0*;/, 'the end');
  t.equal(await c.ask('vStopped'), 'OK', 'taken');
  // gdb 13.1 selects a thread after mourning the process; a server already gone would
  // leave the packet unread, and the kernel would reset gdb's connection.
  await new Promise((r) => setTimeout(r, 50));
  t.match(await c.ask('Hgp0.0'), /^(OK|E\d\d)$/, 'a packet after the end is answered');
  c.close();
  t.equal(await server.exited, 0, 'and gdbsock ends once gdb hangs up');
});

/** `info threads`' table, whatever stop notices gdb prints around it. */
const THREAD_TABLE = /Target Id[\s\S]*?\n\(gdb\) /;
const tableOf = (said: string) => THREAD_TABLE.exec(said)![0];

/** The gdb scenario, for either server; what it saw in a form both must share. */
async function gdbScenario(t: Test, target: string): Promise<string[]> {
  const seen: string[] = [];
  const { send, proc } = interactiveGdb(nonstop);
  t.teardown(() => void (proc.exitCode === null && proc.kill()));
  await send('set non-stop on', /\(gdb\)/);
  await send(`target remote ${target}`, /\(gdb\) $/);
  await send('break hit_me', /Breakpoint 1 at/);
  await send('continue', /hit Breakpoint 1, hit_me/);
  await send('delete', /\(gdb\) $/);

  // One thread at the breakpoint, the others running.
  const threads = tableOf(await send('info threads', THREAD_TABLE));
  const hitter = /^\*?\s+(\d+)\s+Thread .* hit_me/m.exec(threads)?.[1];
  const running = [...threads.matchAll(/^\*?\s+(\d+)\s+Thread .*\(running\)/gm)].map((m) => m[1]!);
  t.ok(hitter, 'info threads: a thread in hit_me');
  t.equal(running.length, 2, 'info threads: the two others (running)');
  seen.push(`after the hit: ${running.length} running`);

  const count = async () => BigInt(/\$\d+ = (\d+)/.exec(await send('print counter', /\$\d+ = \d+/))![1]!);
  const first = await count();
  let second = first;
  for (let i = 0; i < 100 && second === first; i++) {
    await new Promise((r) => setTimeout(r, 50));
    second = await count();
  }
  t.ok(second > first, `counter goes on while the hitter is stopped (${first} then ${second})`);

  // interrupt: the selected thread stops; interrupt -a: every other one.
  await send(`thread ${running[0]}`, /Switching to thread/);
  await send('interrupt', new RegExp(`Thread ${running[0]} .*stopped`));
  seen.push('interrupt: one thread stopped');
  await send('interrupt -a', new RegExp(`Thread ${running[1]} .*stopped`));
  const allStopped = tableOf(await send('info threads', THREAD_TABLE));
  t.notMatch(allStopped, /\(running\)/, 'after interrupt -a, nothing runs');
  seen.push('interrupt -a: all stopped');

  // thread N + stepi: that thread moves one instruction.
  await send(`thread ${hitter}`, /Switching to thread/);
  const pcOf = async () => BigInt(/\$\d+ = \(void \(\*\)\(\)\) (0x[0-9a-f]+)/.exec(await send('print $pc', /\$\d+ = .*0x/))![1]!);
  const pc0 = await pcOf();
  await send('stepi', /\(gdb\) $/);
  const pc1 = await pcOf();
  t.ok(pc1 > pc0 && pc1 - pc0 < 16n, `stepi moved thread ${hitter} by one instruction (${hex(pc0)} to ${hex(pc1)})`);
  seen.push('stepi moved one instruction');

  // continue one thread: it runs, the others stay stopped.
  const counting = running.find((n) => n !== '1') ?? running[0]!;
  await send(`thread ${counting}`, /Switching to thread/);
  await send('continue &', /Continuing/);
  const oneRunning = tableOf(await send('info threads', THREAD_TABLE));
  const nowRunning = [...oneRunning.matchAll(/^\*?\s+(\d+)\s+Thread .*\(running\)/gm)].map((m) => m[1]);
  t.same(nowRunning, [counting], 'continue runs that thread only');
  seen.push(`continue one: ${nowRunning.length} running`);

  // The end: every thread runs to the exit.
  await send('print done = 1', /\$\d+ = 1/);
  await send('continue -a &', /exited normally/);
  seen.push('exited normally');
  proc.stdin!.end('quit\n');
  return seen;
}

t.test('gdb with set non-stop on: break while others run, info threads, interrupt, interrupt -a, stepi, continue one thread', async (t) => {
  const results: Record<string, string[]> = {};
  for (const kind of ['gdbserver', 'gdbsock'] as const) {
    await t.test(kind, async (t) => {
      const server = await serve(kind);
      t.teardown(() => server.stop());
      results[kind] = await gdbScenario(t, server.target);
    });
  }
  t.same(results.gdbsock, results.gdbserver, 'gdb sees the same through both');
});

/** A server with no process until gdb attaches one (gdbserver's --multi, for both). */
async function serveMulti(kind: 'gdbserver' | 'gdbsock'): Promise<{ target: string; stop: () => unknown }> {
  if (kind === 'gdbserver') return startGdbserver([], { multi: true });
  const { proc, target } = await startGdbsockAsGdbserver(['--once', '--multi', '127.0.0.1:0']);
  return { target, stop: () => proc.exitCode === null && proc.kill() };
}

t.test('gdb attaches in non-stop mode (vAttach answers OK; vCont;t then stops each thread), runs and stops all, detaches', async (t) => {
  const results: Record<string, string[]> = {};
  for (const kind of ['gdbserver', 'gdbsock'] as const) {
    await t.test(kind, async (t) => {
      const program = spawn(nonstop, [], { stdio: ['ignore', 'pipe', 'ignore'] });
      const programExit = once(program, 'exit');
      t.teardown(() => void (program.exitCode === null && program.kill()));
      await new Promise<void>((resolve) => program.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()));
      const server = await serveMulti(kind);
      t.teardown(() => server.stop());
      const seen: string[] = [];
      const { send, proc } = interactiveGdb(nonstop);
      t.teardown(() => void (proc.exitCode === null && proc.kill()));
      await send('set non-stop on', /\(gdb\)/);
      await send(`target extended-remote ${server.target}`, /\(gdb\) $/);
      const attached = await send(`attach ${program.pid}`, /Attaching to program[\s\S]*\(gdb\) /);
      t.notMatch(attached, /exited/, 'no exit reported on the way');
      let threads = '';
      for (let i = 0; i < 100; i++) {
        threads = tableOf(await send('info threads', THREAD_TABLE));
        if (!/\(running\)/.test(threads) && (threads.match(/Thread /g) ?? []).length === 3) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      t.notMatch(threads, /\(running\)/, 'every thread stopped after the attach');
      seen.push(`attached: ${(threads.match(/Thread /g) ?? []).length} threads, none running`);
      await send('continue -a &', /Continuing/);
      const running = tableOf(await send('info threads', THREAD_TABLE));
      t.equal((running.match(/\(running\)/g) ?? []).length, 3, 'continue -a: all three run');
      seen.push('continue -a: all running');
      await send('interrupt -a', /stopped\./);
      for (let i = 0; i < 100; i++) {
        threads = tableOf(await send('info threads', THREAD_TABLE));
        if (!/\(running\)/.test(threads)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      t.notMatch(threads, /\(running\)/, 'interrupt -a: every thread stopped');
      seen.push('interrupt -a: all stopped');
      await send('print done = 1', /\$\d+ = 1/);
      await send('detach', /Detaching from program/);
      const [code] = await programExit;
      t.equal(code, 0, 'the program runs on after the detach, and exits 0');
      seen.push(`detached, exit ${code}`);
      proc.stdin!.end('quit\n');
      results[kind] = seen;
    });
  }
  t.same(results.gdbsock, results.gdbserver, 'gdb sees the same through both');
});

/** Thread births and exits (QThreadEvents) in non-stop: `create` stops, `w` for each exit, then the process's W, all through the queue. */
async function threadEventScenario(t: Test, target: string): Promise<string[]> {
  const c = await nonStopClient(target);
  t.teardown(c.close);
  await openNonStop(t, c);
  t.equal(await c.ask('QThreadEvents:1'), 'OK');
  const describe = (stop: string) => (stop.startsWith('T05create') ? 'create' : kindOf(stop));
  const seen: string[] = [];
  // Two threads are born: each stops at birth.
  t.equal(await c.ask('vCont;c'), 'OK');
  while (seen.length < 2) for (const s of await drain(c, (await c.notification()).slice(5))) seen.push(describe(s));
  // All of them on, told to finish: two `w`, then the end.
  t.equal(await c.ask('vCont;c'), 'OK');
  t.equal(await c.ask(`M${hex(DONE)},4:01000000`), 'OK');
  while (!seen.some((s) => s.startsWith('W'))) for (const s of await drain(c, (await c.notification()).slice(5))) seen.push(describe(s));
  return seen.map((s) => (s.startsWith('w') ? 'w0' : s));
}

t.test('thread events in non-stop: create, w for each exit, then W', async (t) => {
  const results: Record<string, string[]> = {};
  for (const kind of ['gdbserver', 'gdbsock'] as const) {
    await t.test(kind, async (t) => {
      const server = await serve(kind);
      t.teardown(() => server.stop());
      results[kind] = await threadEventScenario(t, server.target);
    });
  }
  t.same(results.gdbserver, ['create', 'create', 'w0', 'w0', 'W0'], 'gdbserver: two births, two exits, the end');
  t.same(results.gdbsock, results.gdbserver, 'gdbsock: the same');
});
