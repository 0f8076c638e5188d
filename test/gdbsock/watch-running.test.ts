/**
 * A watchpoint set while the program runs (gdb in non-stop mode, or with
 * `maint set target-non-stop on`: gdb.base/watchpoint-running.exp). ptrace
 * writes debug registers only into a stopped thread, so each running thread
 * is stopped for the write and runs on, unseen, as gdbserver does; before,
 * the threads that were running never took the watchpoint and it never
 * fired. At the packet level, against the `nonstop` fixture's counting
 * thread, gdbserver beside gdbsock: Z2 while every thread runs, then the
 * counter's next write is a %Stop naming the watchpoint.
 */
import t from 'tap';
import { debugRegistersFire } from '../debug-registers';
import { fixture, symbol } from '../helpers';
import { requireTool, startGdbserver, startGdbsock } from './gdb';
import { hex, nonStopClient, openNonStop } from './nonstop-client';

requireTool('gdbserver');
const nonstop = fixture('nonstop');
const COUNTER = symbol(nonstop, 'counter');

for (const kind of ['gdbserver', 'gdbsock'] as const) {
  t.test(`${kind}: a write watchpoint set while every thread runs fires`, async (t) => {
    // gdbsock watches by stepping where the registers do not fire: its running threads are interrupted to step.
    if (kind === 'gdbserver' && !debugRegistersFire(t)) return;
    const server = kind === 'gdbserver' ? await startGdbserver([nonstop]) : await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', nonstop]);
    t.teardown(() => server.stop());
    const c = await nonStopClient(server.target);
    t.teardown(c.close);
    const pid = await openNonStop(t, c);
    t.equal(await c.ask('vCont;c'), 'OK', 'every thread runs');
    // Let the counting thread start and count (it writes `counter` every 0.5 ms).
    const before = await readCounter();
    for (let i = 0; i < 200 && (await readCounter()) === before; i++) await new Promise((r) => setTimeout(r, 10));
    t.not(await readCounter(), before, 'the counter runs');

    t.equal(await c.ask(`Z2,${hex(COUNTER)},8`), 'OK', 'Z2 while running');
    const stop = await c.notification();
    t.match(stop, new RegExp(`^Stop:T05.*watch:0*${hex(COUNTER)};`), 'the next write stops its thread, naming the watchpoint');
    t.equal(await c.ask(`vKill;${hex(pid)}`), 'OK');

    async function readCounter(): Promise<bigint> {
      return Buffer.from(await c.ask(`m${hex(COUNTER)},8`), 'hex').readBigUInt64LE();
    }
  });
}
