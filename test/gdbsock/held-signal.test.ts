/**
 * Two threads stop for a signal at once (the fixture stops its tracer while
 * it signals them). gdb hears of one; the other's stop is held. gdb passes
 * the first signal in its next vCont, which is answered at once with the
 * held stop, running no thread; next time it resumes that thread with no
 * signal. The signal passed must still be delivered, as gdbserver queues it
 * (gdb.threads/siginfo-threads.exp: "signal SIGUSR1 not hit"). The fixture
 * exits 0 only when each handler ran once. gdbserver, in the same test, is
 * the anchor.
 */
import t from 'tap';
import { fixture } from '../helpers';
import { requireTool, runGdb, startServer } from './gdb';

requireTool('gdb');
requireTool('gdbserver');
const program = fixture('two-signals');

for (const kind of ['gdbserver', 'gdbsock'] as const) {
  t.test(`${kind}: a signal gdb passed while another thread's stop was held is delivered`, async (t) => {
    const server = await startServer(kind, [program]);
    t.teardown(() => server.stop());
    const out = await runGdb(
      `target remote ${server.target}`,
      ['set sysroot', 'handle SIGUSR1 stop print pass', 'continue', 'continue', 'continue', 'continue'],
      { file: program, timeout: 60000 },
    );
    t.equal(out.match(/received signal SIGUSR1/g)?.length, 2, 'both stops reported');
    t.match(out, /\[Inferior 1 \(process \d+\) exited normally\]/, 'each handler ran once');
  });
}
