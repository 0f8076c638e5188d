/**
 * `next` in one thread while other threads fork (gdb.threads/next-fork-other-thread.exp),
 * with `set non-stop on` and displaced stepping off: to step main off its
 * breakpoint gdb stops every other thread (vCont;t each) and waits for each
 * stop. A thread that stops first for the SIGCHLD of its child, which gdb
 * passes, or at a fork gdb is still to hear of, must still be reported
 * stopped, once: gdbsock lost such stops and gdb's `next` hung. Real gdb
 * against gdbserver and gdbsock; the `forking-threads` fixture forks without
 * end in three threads while main naps on two lines.
 */
import t from 'tap';
import { fixture, sourceLine } from '../helpers';
import { requireTool, runGdb, startGdbserver, startGdbsock } from './gdb';

requireTool('gdb');
requireTool('gdbserver');
const program = fixture('forking-threads');
const firstNap = sourceLine('forking-threads.c', '/* first nap */');
const NEXTS = 30;

async function serve(kind: 'gdbserver' | 'gdbsock'): Promise<{ target: string; stop: () => unknown }> {
  if (kind === 'gdbserver') return startGdbserver([program]);
  return startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', program]);
}

/** The source line gdb showed after each `next`, in order. */
function linesShown(out: string): number[] {
  const after = out.slice(out.indexOf(`hit Breakpoint 1`));
  return [...after.matchAll(/^(\d+)\t/gm)].map((m) => Number(m[1]));
}

t.test('non-stop `next` over forks in other threads: every stop gdb asks for comes', async (t) => {
  const seen: Record<string, number[]> = {};
  for (const kind of ['gdbserver', 'gdbsock'] as const) {
    await t.test(kind, async (t) => {
      const server = await serve(kind);
      t.teardown(() => server.stop());
      const nexts = Array.from({ length: NEXTS }, () => 'next');
      // runGdb connects with its first argument: non-stop must be set before that.
      const out = await runGdb(
        'set non-stop on',
        ['set displaced-stepping off', `target remote ${server.target}`, `break ${firstNap}`, 'continue', ...nexts, 'kill'],
        {
          file: program,
          timeout: 240_000,
        },
      );
      const lines = linesShown(out);
      t.equal(lines.length, NEXTS + 1, `the breakpoint and ${NEXTS} nexts each show a line`);
      t.ok(
        lines.every((l) => l >= firstNap - 1 && l <= firstNap + 1),
        'every next stays in the loop',
      );
      seen[kind] = lines;
    });
  }
  t.same(seen.gdbsock, seen.gdbserver, 'gdb shows the same lines through both');
});
