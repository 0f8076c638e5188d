/**
 * Thread-local variables of a statically linked program (gdb.threads/staticthreads.exp):
 * no libc.so to take glibc's libthread_db descriptors from, so qGetTLSAddr
 * finds them among the program's own symbols. gdbsock answered E01 ("Cannot
 * find thread-local storage"). gdbserver, in the same test, is the anchor.
 */
import t from 'tap';
import { fixture } from '../helpers';
import { requireTool, runGdb, startServer } from './gdb';

requireTool('gdb');
requireTool('gdbserver');
const program = fixture('tls-static');

for (const kind of ['gdbserver', 'gdbsock'] as const) {
  t.test(`${kind}: each thread's __thread variable in a static program`, async (t) => {
    const server = await startServer(kind, [program]);
    t.teardown(() => server.stop());
    const out = await runGdb(`target remote ${server.target}`, ['break tls_ready', 'continue', 'thread apply all print tls_value', 'kill'], {
      file: program,
      timeout: 60000,
    });
    t.match(out, /hit Breakpoint 1, tls_ready/, 'main at tls_ready');
    t.notMatch(out, /Cannot find thread-local/, 'no TLS error');
    // main stored 7, thread N 100 + N.
    const values = [...out.matchAll(/^\$\d+ = (-?\d+)$/gm)].map((m) => Number(m[1])).sort((a, b) => a - b);
    t.same(values, [7, 101, 102], "every thread's own value");
  });
}
