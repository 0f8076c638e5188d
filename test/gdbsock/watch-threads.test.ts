/**
 * A watchpoint on a variable several threads write, one at a time, while
 * threads end (the first pthread_exit loads libgcc_s: a shared-library event
 * breakpoint): gdb must show every change from the value before it
 * (gdb.threads/watchthreads2.exp's property; gdb/10116 is what losing one
 * looks like). When a watchpoint's hit and the shared-library event are caught
 * in one stop-all, the watchpoint's goes first: told second, gdb has read the
 * new value at the event and finds nothing changed. Oracle: the values
 * themselves (0, 1, 2, ... in order, each change once) and the program's own
 * total; gdbserver 13.1 loses one in some runs, so it is not the anchor here.
 * Where the debug registers do not fire, gdbsock watches by stepping: the same
 * oracle holds.
 */
import t from 'tap';
import { fixture } from '../helpers';
import { runGdb, startGdbsock } from './gdb';

const program = fixture('watchrace');
const THREADS = 4;
const ROUNDS = 10;

for (let run = 0; run < 3; run++) {
  t.test(`run ${run}: ${THREADS * ROUNDS} changes of a watched variable, each seen once, in order`, async (t) => {
    const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', program, String(THREADS), String(ROUNDS)]);
    t.teardown(() => server.stop());
    const commands = ['break workers_ready', 'continue', 'watch counter', ...Array<string>(THREADS * ROUNDS).fill('continue'), 'kill'];
    const out = await runGdb(`target extended-remote ${server.target}`, commands, { file: program, timeout: 120000 });
    const changes = [...out.matchAll(/Old value = (\d+)\s+New value = (\d+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    const expected = Array.from({ length: THREADS * ROUNDS }, (_, i) => [i, i + 1]);
    t.same(changes, expected, `every change, from the value before it:\n${out.split('\n').slice(-30).join('\n')}`);
  });
}
