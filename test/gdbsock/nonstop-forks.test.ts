/**
 * Forks kept in non-stop mode (`set non-stop on`, `set detach-on-fork off`):
 * gdb resumes the child it was told of by the fork event, and it runs beside
 * its parent. The `forker` fixture's parent waits for its child, which exits
 * 7, then exits with the child's code: both ends are seen only if both
 * processes run. Real gdb against gdbserver and gdbsock.
 */
import t, { type Test } from 'tap';
import { fixture } from '../helpers';
import { interactiveGdb, requireTool, startGdbserver, startGdbsock } from './gdb';

requireTool('gdb');
requireTool('gdbserver');
const forker = fixture('forker');

async function serve(kind: 'gdbserver' | 'gdbsock'): Promise<{ target: string; stop: () => unknown }> {
  if (kind === 'gdbserver') return startGdbserver([forker]);
  return startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', forker]);
}

/** What gdb says from `continue &` to the parent's end; undefined if the server hung up first. */
async function session(t: Test, kind: 'gdbserver' | 'gdbsock'): Promise<string | undefined> {
  const server = await serve(kind);
  t.teardown(() => server.stop());
  const { send, proc } = interactiveGdb(forker);
  t.teardown(() => void (proc.exitCode === null && proc.kill()));
  // Files from this machine, not over vFile: gdb 13.1 was still closing libc through
  // gdbserver when gdbserver, --once, went with the last process (gdb then hit an
  // internal error in remove_objfile); that is not what this test is about.
  await send('set sysroot /', /\(gdb\)/);
  await send('set non-stop on', /\(gdb\)/);
  await send('set detach-on-fork off', /\(gdb\)/);
  await send(`target remote ${server.target}`, /\(gdb\) $/);
  const said = await send('continue &', /\[Inferior 1 \(process \d+\) exited with code 07\]|Remote connection closed/);
  proc.stdin!.end('quit\n');
  return /Remote connection closed/.test(said) && !/Inferior 1 .* exited/.test(said) ? undefined : said;
}

/** The lines that say what became of the two processes. */
const ends = (said: string) =>
  said
    .split('\n')
    .filter((l) => /\[(New inferior|Inferior) \d+ \(process \d+\)/.test(l))
    .map((l) => l.replace(/\d{3,}/g, 'PID'));

t.test('non-stop with detach-on-fork off: the kept child runs beside its parent, and both end', async (t) => {
  const ours = await session(t, 'gdbsock');
  t.ok(ours, 'gdbsock kept the connection to the end');
  t.match(ours, /\[New inferior 2 \(process \d+\)\]/, 'the child is kept');
  t.match(ours, /\[Inferior 2 \(process \d+\) exited with code 07\]/, 'the child ran to its end');
  t.match(ours, /\[Inferior 1 \(process \d+\) exited with code 07\]/, "the parent ran to its end, with the child's code");
  // The anchor: gdbserver 13.1 --once sometimes hangs up before gdb hears of the parent's end
  // (2 runs in 10 here, "Remote connection closed"); such a run says nothing, so it is run again.
  let theirs: string | undefined;
  for (let attempt = 0; attempt < 3 && !theirs; attempt++) theirs = await session(t, 'gdbserver');
  t.ok(theirs, 'gdbserver got to the end in one of three runs');
  t.same(ends(ours ?? ''), ends(theirs ?? ''), 'gdb sees the same through both');
});
