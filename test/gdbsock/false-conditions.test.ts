/**
 * A breakpoint whose target-side condition is false for every thread, hit by
 * several threads at once as fast as they can: gdb must never hear of it.
 * gdbsock judges such a hit and steps the thread off it with the breakpoint
 * lifted; a second thread that trapped on it just before it was lifted is
 * reaped only afterwards, at a pc with no breakpoint of ours behind it. It
 * was reported as a bare SIGTRAP (T05), which gdb takes for the program's
 * own and shows as "Program received signal SIGTRAP" (gdb.threads/schedlock
 * and others hit it). And with hits coming back to back the event loop must
 * still read gdb's Ctrl-C.
 *
 * Oracle: the protocol itself. Each round continues, waits, interrupts; the
 * only stop gdbsock may report is the interrupt's T02. gdbserver (the anchor,
 * same packets) must never send a bare T05 either; gdbserver 13.1 sometimes
 * reports a false condition's hit as T05swbreak (a stop gdb then re-checks
 * and resumes from), so its rounds accept that too.
 *
 * Two placements: the breakpoint in a debug register (gdbsock's choice for a
 * conditional breakpoint while one is free: no lifting at all), and as int3,
 * with all four debug registers taken by watchpoints on words nobody writes.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { debugRegistersFire } from '../debug-registers';
import { fixture, startDetached, symbol } from '../helpers';
import { requireTool, rspClient, startGdbserver, startGdbsock } from './gdb';

requireTool('gdbserver');
const hotcall = fixture('hotcall');
const hot = symbol(hotcall, 'hot');
const pad = symbol(hotcall, 'pad');
/** const8 0, end: gdb's agent bytecode for a condition that is always false. */
const FALSE = 'X3,220027';
const ROUNDS = 3;

type Rsp = Awaited<ReturnType<typeof rspClient>>;

/**
 * const64 pad; ref64; const8 1; equal; end: `*(long *)pad == 1`, false (pad
 * is zeroes). A 64-bit load threw in gdbsock's condition context (it read
 * with readUIntLE, 6 bytes at most), and a condition that throws is left to
 * gdb: every hit was reported.
 */
const FALSE_LOADING_64 = `XE,25${pad.toString(16).padStart(16, '0')}1a22011327`;

async function setUp(rsp: Rsp, fillDebugRegisters: boolean, condition = FALSE): Promise<void> {
  await rsp.ask('QStartNoAckMode');
  await rsp.ask('qSupported:multiprocess+;swbreak+;hwbreak+;vContSupported+');
  await rsp.ask('?');
  if (fillDebugRegisters) {
    for (let i = 0n; i < 4n; i++) {
      const reply = await rsp.ask(`Z2,${(pad + 8n * i).toString(16)},8`);
      if (reply !== 'OK') throw new Error(`watchpoint ${i} refused: ${reply}`);
    }
  }
  const reply = await rsp.ask(`Z0,${hot.toString(16)},1;${condition}`);
  if (reply !== 'OK') throw new Error(`conditional breakpoint refused: ${reply}`);
}

/** Every stop reply of ROUNDS continue / wait / Ctrl-C rounds (a stop that came unasked ends its round early). */
async function rounds(rsp: Rsp): Promise<string[]> {
  const stops: string[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    rsp.send('vCont;c');
    await sleep(1500);
    const early = rsp.unread();
    if (early.length > 0) stops.push(...early);
    else {
      rsp.interrupt();
      stops.push(await rsp.next(15000, `a stop after Ctrl-C in round ${i + 1}`));
    }
  }
  return stops;
}

async function serve(t: Test, server: 'gdbsock' | 'gdbserver', fillDebugRegisters: boolean, condition = FALSE): Promise<string[]> {
  const target = await startDetached(hotcall, ['3']);
  t.teardown(target.kill);
  const address =
    server === 'gdbsock'
      ? await startGdbsock(['--once', '--listen', '127.0.0.1:0', String(target.pid)]).then((s) => {
          t.teardown(() => s.stop());
          return s.target;
        })
      : await startGdbserver(['--attach', String(target.pid)]).then((s) => {
          t.teardown(s.stop);
          return s.target;
        });
  const rsp = await rspClient(address);
  t.teardown(rsp.close);
  await setUp(rsp, fillDebugRegisters, condition);
  const stops = await rounds(rsp);
  await rsp.ask('D');
  return stops;
}

const short = (stop: string) => stop.slice(0, 60);

for (const [name, fill] of [
  ['in a debug register', false],
  ['as int3, the debug registers all taken', true],
] as const) {
  t.test(`a false condition ${name}: gdbsock reports only the Ctrl-C`, async (t) => {
    // Where the debug registers do not fire, the condition is an int3 anyway (the case above), and the Z2s would be watched by stepping.
    if (fill && !debugRegistersFire(t)) return;
    const stops = await serve(t, 'gdbsock', fill);
    t.equal(stops.length, ROUNDS);
    for (const stop of stops) t.match(stop, /^T02/, `the interrupt's stop, not a hit: ${short(stop)}`);
  });

  t.test(`a false condition ${name}: gdbserver never sends a bare SIGTRAP either`, async (t) => {
    const stops = await serve(t, 'gdbserver', fill);
    for (const stop of stops) t.ok(/^T02/.test(stop) || /swbreak/.test(stop), `an interrupt, or a hit marked as one: ${short(stop)}`);
  });
}

t.test('a false condition that loads 64 bits of memory: gdbsock judges it itself', async (t) => {
  const stops = await serve(t, 'gdbsock', false, FALSE_LOADING_64);
  t.equal(stops.length, ROUNDS);
  for (const stop of stops) t.match(stop, /^T02/, `the interrupt's stop, not a hit: ${short(stop)}`);
});
