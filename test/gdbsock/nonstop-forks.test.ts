/**
 * Forks kept in non-stop mode (`set non-stop on`, `set detach-on-fork off`):
 * gdb resumes the child it was told of by the fork event, and it runs beside
 * its parent. The `forker` fixture's parent waits for its child, which exits
 * 7, then exits with the child's code: both ends are seen only if both
 * processes run. Real gdb against gdbserver and gdbsock.
 */
import t from 'tap';
import { fixture } from '../helpers';
import { interactiveGdb, requireTool, startGdbserver, startGdbsock } from './gdb';

requireTool('gdb');
requireTool('gdbserver');
const forker = fixture('forker');

async function serve(kind: 'gdbserver' | 'gdbsock'): Promise<{ target: string; stop: () => unknown }> {
  if (kind === 'gdbserver') return startGdbserver([forker]);
  return startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', forker]);
}

t.test('non-stop with detach-on-fork off: the kept child runs beside its parent, and both end', async (t) => {
  const results: Record<string, string[]> = {};
  for (const kind of ['gdbserver', 'gdbsock'] as const) {
    await t.test(kind, async (t) => {
      const server = await serve(kind);
      t.teardown(() => server.stop());
      const { send, proc } = interactiveGdb(forker);
      t.teardown(() => void (proc.exitCode === null && proc.kill()));
      await send('set non-stop on', /\(gdb\)/);
      await send('set detach-on-fork off', /\(gdb\)/);
      await send(`target remote ${server.target}`, /\(gdb\) $/);
      const said = await send('continue &', /\[Inferior 1 \(process \d+\) exited with code 07\]/);
      const seen: string[] = [];
      t.match(said, /\[New inferior 2 \(process \d+\)\]/, 'the child is kept');
      t.match(said, /\[Inferior 2 \(process \d+\) exited with code 07\]/, 'the child ran to its end');
      seen.push('child kept, ran, exited 07', 'parent exited 07');
      proc.stdin!.end('quit\n');
      results[kind] = seen;
    });
  }
  t.same(results.gdbsock, results.gdbserver, 'gdb sees the same through both');
});
