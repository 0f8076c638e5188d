/**
 * All-stop with scheduler-locking: gdb resumes one thread, which exits while
 * gdb holds the others stopped. Nothing is left to wait for: the server says
 * so (N, "no-resumed"), and gdb prints "No unwaited-for children left."
 * (gdb.threads/no-unwaited-for-left.exp). gdbsock waited for ever. The same
 * when the one thread resumed is the leader and it leaves ahead of the
 * others (pthread_exit from main): a zombie, it never stops again, and no
 * wait status tells of it while the others live (kernel/exit.c,
 * delay_group_leader). gdbserver, in the same test, is the anchor.
 */
import t from 'tap';
import { fixture } from '../helpers';
import { requireTool, runGdb, startGdbserver, startGdbsock } from './gdb';

requireTool('gdb');
requireTool('gdbserver');
const program = fixture('lone-exit');
const leaderExit = fixture('leader-exit');

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

for (const kind of ['gdbserver', 'gdbsock'] as const) {
  t.test(`${kind}: the leader, resumed alone, exits ahead of its thread: no unwaited-for children left`, async (t) => {
    const server = kind === 'gdbserver' ? await startGdbserver([leaderExit]) : await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', leaderExit]);
    t.teardown(() => server.stop());
    const out = await runGdb(
      `target remote ${server.target}`,
      ['set sysroot', 'break leader_leaves', 'continue', 'set scheduler-locking on', 'continue', 'info threads', 'kill'],
      { file: leaderExit, timeout: 60000 },
    );
    t.match(out, /Thread 1 "leader-exit" hit Breakpoint 1, leader_leaves/, 'main at its breakpoint');
    t.match(out, /No unwaited-for children left\./, "the leader's exit ends the continue");
    t.match(out, /\n {2}2 +Thread \d+\.\d+ "leader-exit" [^\n]*\n\nThe current thread <Thread ID 1> has terminated/, 'the other thread is left');
    t.match(out, /\[Inferior 1 \(process \d+\) killed\]/, 'and is killed');
  });
}
