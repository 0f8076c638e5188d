/**
 * `monitor set libthread-db-search-path PATH` (gdb.server/no-thread-db.exp):
 * set before the program has loaded libc, a PATH where no libthread_db is
 * leaves gdbserver without one, and gdb's print of a __thread variable fails
 * ("Remote target failed to process qGetTLSAddr request"). gdbsock said
 * "Unknown monitor command." and answered the print. An empty PATH sets the
 * default again. gdbserver, in the same test, is the anchor.
 */
import t from 'tap';
import { fixture } from '../helpers';
import { requireTool, runGdb, startServer } from './gdb';

requireTool('gdb');
requireTool('gdbserver');
const program = fixture('tls');

for (const kind of ['gdbserver', 'gdbsock'] as const) {
  t.test(`${kind}: a libthread_db search path that finds none: no thread-local addresses`, async (t) => {
    const server = await startServer(kind, [program]);
    t.teardown(() => server.stop());
    const out = await runGdb(
      `target remote ${server.target}`,
      [
        'monitor set libthread-db-search-path /nonexistent/thread-db',
        'break tls_ready',
        'continue',
        'print tls_exe_value',
        'monitor set libthread-db-search-path',
        'kill',
      ],
      { file: program, timeout: 60000 },
    );
    t.match(out, /libthread-db-search-path set to `\/nonexistent\/thread-db'/, 'the path is taken');
    t.match(out, /hit Breakpoint 1, tls_ready/, 'main at tls_ready');
    t.match(out, /Cannot find thread-local storage for Thread [^\n]*\nRemote target failed to process qGetTLSAddr request/, 'the print fails');
    t.notMatch(out, /\$1 = /, 'no value printed');
    t.match(out, /libthread-db-search-path set to `\$sdir:\$pdir'/, 'an empty path is the default');
  });
}
