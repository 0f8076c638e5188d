/**
 * Non-stop with fork events: a fork stop has gone out (%Stop) and gdb,
 * before taking it with vStopped, detaches the parent (D;PID) and then the
 * child the stop named (D;CHILD), as gdb's remote_detach_pid does for a fork
 * it has heard of. The stop gdb already has stays at the head of the queue
 * (gdbserver keeps it: server.cc, discard_queued_stop_replies), so the child
 * is still there for gdb to detach. gdbsock dropped that stop with the
 * parent's other queued ones and let the child go itself, and gdb's D of the
 * child got E01. At the packet level, against the `forker` fixture (its
 * child exits 7), gdbserver beside gdbsock.
 */
import t from 'tap';
import { fixture } from '../helpers';
import { requireTool, startGdbserver, startGdbsock } from './gdb';
import { hex, nonStopClient, openNonStop } from './nonstop-client';

requireTool('gdbserver');
const forker = fixture('forker');

for (const kind of ['gdbserver', 'gdbsock'] as const) {
  t.test(`${kind}: the child of a fork stop gdb has heard of is still there for gdb to detach`, async (t) => {
    const server = kind === 'gdbserver' ? await startGdbserver([forker]) : await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', forker]);
    t.teardown(() => server.stop());
    const c = await nonStopClient(server.target);
    t.teardown(c.close);
    const pid = await openNonStop(t, c, 'multiprocess+;fork-events+;vfork-events+;swbreak+;hwbreak+');
    t.equal(await c.ask('vCont;c'), 'OK');
    const stop = await c.notification();
    const child = /^Stop:T05fork:p([0-9a-f]+)\./.exec(stop);
    t.ok(child, `the fork's stop goes out (${stop.slice(0, 40)})`);
    t.equal(await c.ask(`D;${hex(pid)}`), 'OK', 'gdb detaches the parent');
    t.equal(await c.ask(`D;${child![1]}`), 'OK', 'then the child the stop named, still traced');
  });
}
