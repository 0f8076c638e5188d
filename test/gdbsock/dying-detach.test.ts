/**
 * gdb detaches from a process while it dies: with detach-on-fork off, the
 * child stops where one of its threads calls _exit, and gdb detaches it.
 * Once that thread runs, its group exit wakes the threads still stopped to
 * die (kernel/signal.c, zap_other_threads), and their PTRACE_DETACH fails.
 * Still traced, each stays a zombie until its tracer reaps it, and so does
 * the child: its parent, waiting for it, waited for ever and gdb's continue
 * of the parent never ended (gdb.threads/process-dies-while-detaching.exp,
 * multi-process continue). gdbserver, in the same test, is the anchor.
 */
import t from 'tap';
import { fixture } from '../helpers';
import { requireTool, runGdb, startServer } from './gdb';

requireTool('gdb');
requireTool('gdbserver');
const program = fixture('dying-detach');

for (const kind of ['gdbserver', 'gdbsock'] as const) {
  t.test(`${kind}: a child detached as it exits is reaped by its parent`, async (t) => {
    const server = await startServer(kind, [program]);
    t.teardown(() => server.stop());
    const out = await runGdb(
      `target remote ${server.target}`,
      ['set sysroot', 'set detach-on-fork off', 'set follow-fork-mode child', 'break thread_exits', 'continue', 'detach', 'inferior 1', 'continue'],
      { file: program, timeout: 60000 },
    );
    t.match(out, /Thread 2\.\d+ "dying-detach" hit Breakpoint 1(\.\d+)?, thread_exits/, 'a thread of the child at its _exit');
    t.match(out, /\[Inferior 2 \(process \d+\) detached\]/, 'the child detached');
    t.match(out, /\[Inferior 1 \(process \d+\) exited normally\]/, 'the parent reaped the child, which exited 0');
  });
}
