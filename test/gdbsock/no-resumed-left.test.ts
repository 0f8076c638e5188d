/**
 * All-stop with scheduler-locking: gdb resumes one thread, which exits while
 * gdb holds the others stopped. Nothing is left to wait for: the server says
 * so (N, "no-resumed"), and gdb prints "No unwaited-for children left."
 * (gdb.threads/no-unwaited-for-left.exp). gdbsock waited for ever. The same
 * when the one thread resumed is the leader and it leaves ahead of the
 * others (pthread_exit from main): a zombie, it never stops again, and no
 * wait status tells of it while the others live (kernel/exit.c,
 * delay_group_leader). gdbserver, in the same test, is the anchor, with gdb
 * 13 and with gdb 16 (which asks for the thread's exit and gets a `w`).
 */
import t from 'tap';
import { fixture } from '../helpers';
import { debian13Tools } from './debian13';
import { HOST_TOOLS, requireTool, runGdb, startGdbserver, startServer } from './gdb';

requireTool('gdb');
requireTool('gdbserver');
/** Who is resumed alone, where it stops first, and what gdb shows once it is gone. */
const cases = [
  {
    what: 'the only resumed thread exits',
    program: fixture('lone-exit'),
    breakpoint: 'thread_done',
    hit: /Thread 2 "lone-exit" hit Breakpoint 1, thread_done/,
    left: /\n {2}1 +Thread \d+\.\d+ "lone-exit" [^\n]*\n\nThe current thread <Thread ID 2> has terminated/,
  },
  {
    what: 'the leader, resumed alone, exits ahead of its thread',
    program: fixture('leader-exit'),
    breakpoint: 'leader_leaves',
    hit: /Thread 1 "leader-exit" hit Breakpoint 1, leader_leaves/,
    left: /\n {2}2 +Thread \d+\.\d+ "leader-exit" [^\n]*\n\nThe current thread <Thread ID 1> has terminated/,
  },
];

/** gdb 15 and later ask (QThreadOptions) for the exit of the thread they resume alone: that exit is then the news, a `w`. */
const clients = [
  ["the host's gdb", HOST_TOOLS],
  ['gdb 16', debian13Tools()],
] as const;

for (const [client, tools] of clients) {
  for (const c of cases) {
    for (const kind of ['gdbserver', 'gdbsock'] as const) {
      t.test(`${client}, ${kind}: ${c.what}: no unwaited-for children left`, async (t) => {
        const server = kind === 'gdbserver' ? await startGdbserver([c.program], { tools }) : await startServer(kind, [c.program]);
        t.teardown(() => server.stop());
        const out = await runGdb(
          `target remote ${server.target}`,
          ['set sysroot', `break ${c.breakpoint}`, 'continue', 'set scheduler-locking on', 'continue', 'info threads', 'kill'],
          { file: c.program, timeout: 60000, tools },
        );
        t.match(out, c.hit, 'stopped at the breakpoint');
        t.match(out, /No unwaited-for children left\./, 'the exit of the only resumed thread ends the continue');
        t.match(out, c.left, 'the other thread is left');
        t.match(out, /\[Inferior 1 \(process \d+\) killed\]/, 'and is killed');
      });
    }
  }
}
