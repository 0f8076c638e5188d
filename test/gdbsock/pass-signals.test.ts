/**
 * QPassSignals: signals gdb lets through without a stop. gdbserver never lets
 * SIGTRAP, SIGILL or SIGSEGV through unseen, since a breakpoint can raise
 * them: gdb's function calls return to a breakpoint on the (non-executable)
 * stack, which traps as a SIGSEGV there (gdb.base/catch-gdb-caused-signals.exp).
 * Passing it killed the program in the middle of `print marker()`.
 * gdbserver, with the same gdb commands, is the anchor.
 */
import t from 'tap';
import { fixture } from '../helpers';
import { requireTool, runGdb, startServer } from './gdb';

requireTool('gdb');
requireTool('gdbserver');
const program = fixture('target');

for (const kind of ['gdbserver', 'gdbsock'] as const)
  t.test(`${kind}: a function call works with SIGSEGV and SIGILL passed to the program`, async (t) => {
    const server = await startServer(kind, [program]);
    t.teardown(() => server.stop());
    const out = await runGdb(
      `target remote ${server.target}`,
      ['break main', 'continue', 'handle SIGSEGV nostop noprint', 'handle SIGILL nostop noprint', 'print marker()', 'print hits', 'continue'],
      { file: program },
    );
    t.match(out, /\$1 = 3/, `the call returned:\n${out}`);
    t.match(out, /\$2 = 1/, 'it ran once');
    t.match(out, /exited with code 03/, 'the program ran on to its end');
  });
