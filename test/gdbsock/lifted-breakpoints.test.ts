/**
 * gdb takes every breakpoint out at each stop and puts it back before the
 * next resume. gdbsock leaves a removed int3 in memory until something runs
 * or gdb writes memory, so a z0 then Z0 at the same address costs no syscall.
 * Checked here over the raw protocol: memory reads show the program's byte
 * while the int3 is still in memory; a breakpoint put back still hits; one
 * left out is really out once the process runs; gdb's memory writes win.
 */
import t, { type Test } from 'tap';
import { fixture, symbol } from '../helpers';
import { requireTool, rspClient, runGdb, startServer } from './gdb';

requireTool('gdb');
requireTool('gdbserver');
const inferior = fixture('gdbsock');
const stepMe = symbol(inferior, 'step_me').toString(16);

async function session(t: Test, calls: number, kind: 'gdbsock' | 'gdbserver' = 'gdbsock') {
  const args = [inferior, 'count', String(calls)];
  const server = await startServer(kind, args);
  t.teardown(() => server.stop());
  const rsp = await rspClient(server.target);
  t.teardown(rsp.close);
  t.equal(await rsp.ask('QStartNoAckMode'), 'OK');
  await rsp.ask('qSupported:swbreak+;multiprocess-');
  await rsp.ask('?'); // as gdb asks first (gdbserver dies on a Z0 before it)
  return rsp;
}

t.test('a breakpoint removed and put back between two stops still hits, and reads never show the int3', async (t) => {
  const rsp = await session(t, 3);
  const original = await rsp.ask(`m${stepMe},1`);
  t.not(original, 'cc', 'the program byte at step_me');
  t.equal(await rsp.ask(`Z0,${stepMe},1`), 'OK');
  t.match(await rsp.ask('vCont;c'), /^T05swbreak:;/, 'first hit');
  t.equal(await rsp.ask(`z0,${stepMe},1`), 'OK');
  t.equal(await rsp.ask(`m${stepMe},1`), original, 'removed: the program byte');
  t.equal(await rsp.ask(`Z0,${stepMe},1`), 'OK');
  t.equal(await rsp.ask(`m${stepMe},1`), original, 'inserted: still the program byte');
  t.match(await rsp.ask('vCont;c'), /^T05swbreak:;/, 'second hit: the int3 is in place');
  t.equal(await rsp.ask(`z0,${stepMe},1`), 'OK');
  t.equal(await rsp.ask('vCont;c'), 'W00', 'left out: the process runs to its end without another stop');
});

t.test("gdb's write over a removed breakpoint stays: the int3 comes out before the write, not after", async (t) => {
  const rsp = await session(t, 3);
  t.equal(await rsp.ask(`Z0,${stepMe},1`), 'OK');
  t.match(await rsp.ask('vCont;c'), /^T05swbreak:;/);
  t.equal(await rsp.ask(`z0,${stepMe},1`), 'OK');
  t.equal(await rsp.ask(`M${stepMe},1:c3`), 'OK', 'a ret over the first byte of step_me');
  t.equal(await rsp.ask(`m${stepMe},1`), 'c3', 'memory shows what gdb wrote');
  t.equal(await rsp.ask('vCont;c'), 'W00', 'the process ran on (step_me now returns at once) and exited');
});

// gdb with `breakpoint always-inserted on` writes over an inserted breakpoint (gdb.base/break-always.exp).
for (const kind of ['gdbserver', 'gdbsock'] as const)
  t.test(`${kind}: a write over an inserted breakpoint reads back, and the breakpoint still hits`, async (t) => {
    const rsp = await session(t, 3, kind);
    const original = await rsp.ask(`m${stepMe},1`);
    t.equal(await rsp.ask(`Z0,${stepMe},1`), 'OK');
    t.equal(await rsp.ask(`M${stepMe},1:00`), 'OK', 'a zero over the breakpoint');
    t.equal(await rsp.ask(`m${stepMe},1`), '00', 'memory shows what gdb wrote');
    t.equal(await rsp.ask(`M${stepMe},1:${original}`), 'OK', 'the program byte back');
    t.equal(await rsp.ask(`m${stepMe},1`), original);
    t.match(await rsp.ask('vCont;c'), /^T05swbreak:;/, 'the breakpoint is still in place and hits');
    t.equal(await rsp.ask(`z0,${stepMe},1`), 'OK');
    t.equal(await rsp.ask(`m${stepMe},1`), original, 'removed: the program byte, not the int3');
    t.equal(await rsp.ask('vCont;c'), 'W00', 'and the program runs to its end');
  });

// gdb.base/break-main-file-remove-fail.exp: the program unmaps the page of an inserted breakpoint.
for (const kind of ['gdbserver', 'gdbsock'] as const)
  t.test(`${kind}: removing a breakpoint whose page the program unmapped fails, and gdb warns`, async (t) => {
    const args = [inferior, 'count', '3'];
    const server = await startServer(kind, args);
    t.teardown(() => server.stop());
    const page = `(void *)(0x${stepMe} & ~0xfffUL)`;
    const out = await runGdb(
      `target remote ${server.target}`,
      [
        'break main',
        'continue',
        'set breakpoint always-inserted on',
        'break step_me',
        `print ((int (*)(void *, unsigned long)) munmap)(${page}, 4096)`,
        'delete 2',
        'kill',
      ],
      { file: inferior },
    );
    t.match(out, /\$1 = 0/, `munmap worked:\n${out}`);
    t.match(out, /warning: Error removing breakpoint 2/, 'gdb warns that the breakpoint could not be removed');
  });
