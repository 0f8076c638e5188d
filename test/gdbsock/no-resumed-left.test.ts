/**
 * All-stop with scheduler-locking: gdb resumes one thread, which exits while
 * gdb holds the others stopped. Nothing is left to wait for: the server says
 * so (N, "no-resumed"), and gdb prints "No unwaited-for children left."
 * (gdb.threads/no-unwaited-for-left.exp). gdbsock waited for ever. gdbserver,
 * in the same test, is the anchor.
 */
import t from 'tap';
import { fixture } from '../helpers';
import { requireTool, runGdb, startGdbserver, startGdbsock } from './gdb';

requireTool('gdb');
requireTool('gdbserver');
const program = fixture('lone-exit');

for (const kind of ['gdbserver', 'gdbsock'] as const) {
  t.test(`${kind}: the only resumed thread exits: no unwaited-for children left`, async (t) => {
    const server = kind === 'gdbserver' ? await startGdbserver([program]) : await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', program]);
    t.teardown(() => server.stop());
    const out = await runGdb(
      `target remote ${server.target}`,
      ['set sysroot', 'break thread_done', 'continue', 'set scheduler-locking on', 'continue', 'info threads', 'kill'],
      { file: program, timeout: 60000 },
    );
    t.match(out, /Thread 2 "lone-exit" hit Breakpoint 1, thread_done/, 'the thread at its breakpoint');
    t.match(out, /No unwaited-for children left\./, 'the exit of the only resumed thread ends the continue');
    t.match(out, /\n {2}1 +Thread \d+\.\d+ "lone-exit" [^\n]*\n\nThe current thread <Thread ID 2> has terminated/, 'main is left');
  });
}
