/**
 * The leader exits ahead of its threads (pthread_exit from main, as
 * gdb.threads/leader-exit.exp does): it stays a zombie until the last thread
 * goes, never stops for PTRACE_INTERRUPT, has no address space of its own
 * and takes no signal. A breakpoint hit in the survivor must still be
 * reported (the stop-all waited for the leader for ever), the thread list
 * holds the survivor only, memory reads work, Ctrl-C stops the survivor and
 * kill ends the process. gdbserver, in the same test, is the anchor.
 */
import t, { type Test } from 'tap';
import { fixture, symbol } from '../helpers';
import { requireTool, rspClient, runGdb, startGdbserver, startGdbsock } from './gdb';

requireTool('gdb');
requireTool('gdbserver');
const program = fixture('leader-exit');
const ALONE = symbol(program, 'survivor_alone').toString(16);
/** Failsafe only: every wait below is for an event. */
const FAILSAFE_MS = 30000;

type ServerKind = 'gdbsock' | 'gdbserver';

async function serve(t: Test, kind: ServerKind) {
  const server = kind === 'gdbsock' ? await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', program]) : await startGdbserver([program]);
  t.teardown(() => server.stop());
  return server;
}

for (const kind of ['gdbserver', 'gdbsock'] as const) {
  t.test(`${kind}: gdb stops in the survivor, lists it alone, reads memory, kills`, async (t) => {
    const server = await serve(t, kind);
    const out = await runGdb(`target remote ${server.target}`, ['break survivor_alone', 'continue', 'info threads', 'print survivor_ran', 'kill'], {
      file: program,
      timeout: FAILSAFE_MS,
    });
    t.match(out, /Thread 2 "leader-exit" hit Breakpoint 1, survivor_alone/, out);
    const table = out.slice(out.indexOf('  Id '));
    t.match(table, /^ {2}Id +Target Id +Frame *\n\* 2 +Thread \d+\.\d+ [^\n]*survivor_alone[^\n]*\n\$1 = 1\n/, 'one thread, the survivor');
    t.match(out, /\[Inferior 1 \(process \d+\) killed\]/);
  });

  t.test(`${kind}: Ctrl-C stops the survivor once the leader is gone`, async (t) => {
    const server = await serve(t, kind);
    const c = await rspClient(server.target);
    t.teardown(c.close);
    await c.ask('QStartNoAckMode');
    await c.ask('qSupported:multiprocess+;swbreak+');
    const pid = Number.parseInt(/^QCp([0-9a-f]+)\./.exec(await c.ask('qC'))![1]!, 16);
    await c.ask('?');
    t.equal(await c.ask(`Z0,${ALONE},1`), 'OK');
    const hit = await c.ask('vCont;c', FAILSAFE_MS);
    t.match(hit, /^T05/, 'the breakpoint in the survivor');
    const survivor = Number.parseInt(/thread:p[0-9a-f]+\.([0-9a-f]+);/.exec(hit)![1]!, 16);
    t.not(survivor, pid);
    t.equal(await c.ask('qfThreadInfo'), `mp${pid.toString(16)}.${survivor.toString(16)}`, 'the leader is not listed');
    t.equal(await c.ask(`z0,${ALONE},1`), 'OK');
    c.send('vCont;c');
    c.interrupt();
    const stop = await c.next(FAILSAFE_MS, 'the stop for Ctrl-C');
    t.match(stop, new RegExp(`^T02.*thread:p${pid.toString(16)}\\.${survivor.toString(16)};`), 'the survivor, with SIGINT');
    t.equal(await c.ask(`vKill;${pid.toString(16)}`, FAILSAFE_MS), 'OK');
  });
}
