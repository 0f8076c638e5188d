/**
 * All-stop over two processes (`set detach-on-fork off`, `set
 * schedule-multiple on`): a vfork child execs while its parent is resumed
 * with it (gdb.base/vfork-follow-parent.exp). When one process stops, the
 * other is stopped for it; if that one had stopped by itself meanwhile (the
 * child at its exec), gdbsock owed it a Ctrl-C that nobody typed, and the next
 * continue stopped the child with SIGINT. The same when a stop of its own came
 * before the interrupt's (the parent, interrupted in its vfork wait, whose
 * vfork-done came first): the parent got the SIGINT, in about one run of eight. Oracle: the program itself (the
 * child runs /bin/true and exits; nothing sends a SIGINT). gdbserver 16.3 is
 * no oracle here: in the same session it sometimes says "Cannot remove
 * breakpoints because program is no longer writable" and loses the child's
 * exit. With gdb 13 and gdb 16.
 */
import t from 'tap';
import { fixture } from '../helpers';
import { debian13Tools } from './debian13';
import { HOST_TOOLS, requireTool, runGdb, startServer } from './gdb';

requireTool('gdb');
const program = fixture('vfork-exec');
const clients = [
  ["the host's gdb", HOST_TOOLS],
  ['gdb 16', debian13Tools()],
] as const;

for (const [client, tools] of clients) {
  t.test(`${client}: the vfork child's exit, then the parent's breakpoint, and no SIGINT`, async (t) => {
    const server = await startServer('gdbsock', [program, '/bin/true']);
    t.teardown(() => server.stop());
    const out = await runGdb(
      `target remote ${server.target}`,
      [
        'set sysroot',
        'set detach-on-fork off',
        'break main',
        'continue',
        'delete',
        'break break_parent',
        'continue',
        'continue',
        'set schedule-multiple on',
        'continue',
        'inferior 1',
        'print unblock_parent = 1',
        'continue',
        'kill inferiors 1',
      ],
      { file: program, timeout: 60000, tools },
    );
    t.notMatch(out, /SIGINT/, 'no stop for a SIGINT nobody sent');
    t.match(out, /\[Inferior 2 \(process \d+\) exited normally\]/, 'the child ran /bin/true to its end');
    t.match(out, /hit Breakpoint 2, break_parent \(\)/, 'then the parent, unblocked, reached its breakpoint');
  });
}
