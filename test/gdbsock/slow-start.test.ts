/**
 * A server slow to start behind `target remote | COMMAND`: gdb waits 2 s
 * (remotetimeout) for the '+' of its first packet, then sends it again, and
 * both copies are waiting when the server starts reading. Answering each one
 * put the second qSupported reply where gdb expected vMustReplyEmpty's
 * ("Remote replied unexpectedly to 'vMustReplyEmpty'"), and the session
 * failed; a loaded machine made gdbsock's start that slow. gdbserver (the
 * anchor, started the same slow way) answers once.
 */
import path from 'node:path';
import t from 'tap';
import { fixture, startDetached } from '../helpers';
import { requireTool, runGdb } from './gdb';

requireTool('gdbserver');
const CLI = path.join(__dirname, '..', '..', 'dist', 'gdbsock', 'cli.js');
/** Longer than gdb's remotetimeout (2 s): gdb has retransmitted by the time the server reads. */
const DELAY_S = 3;

for (const server of ['gdbsock', 'gdbserver'] as const) {
  t.test(`${server} started ${DELAY_S} s late on a pipe: gdb's retransmitted first packet is answered once`, async (t) => {
    const target = await startDetached(fixture('threads'), ['1']);
    t.teardown(target.kill);
    const command = server === 'gdbsock' ? `exec ${process.execPath} ${CLI} --stdio ${target.pid}` : `exec gdbserver --attach - ${target.pid}`;
    const out = await runGdb(`target remote | sh -c 'sleep ${DELAY_S}; ${command}'`, ['p 1+1', 'detach'], { timeout: 60000 });
    t.notMatch(out, /replied unexpectedly/, 'no reply out of step');
    t.match(out, /\$1 = 2/, 'the session works');
    t.match(out, /\[Inferior 1 \(process \d+\) detached\]/, 'and detaches');
  });
}
