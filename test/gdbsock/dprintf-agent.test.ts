/**
 * gdb's `set dprintf-style agent` (gdb.base/dprintf.exp's "agent" part):
 * gdb hands the dprintf's format and arguments to the server as bytecode
 * (Z0 ...;cmds:), and the server prints at each hit without telling gdb.
 * Oracle: the program prints the same format and arguments with libc's
 * printf just before (the fixture's "own:" lines); gdbserver, which prints
 * on its standard output too, is run beside it.
 */
import t from 'tap';
import { fixture } from '../helpers';
import { requireTool, runGdb, startGdbserver, startGdbsockAsGdbserver } from './gdb';

requireTool('gdb');
requireTool('gdbserver');
const program = fixture('dprintf');
const FORMAT = 'i=%d big=%ld hex=%#lx neg=%5d c=%c u=%u s=%-6s| p=%.3s o=%o X=%08X pct=%%\\n';
const ARGS = 'i, big, big, -i, c, (unsigned)-i, name, name, i, (unsigned)big';
const commands = ['set dprintf-style agent', `dprintf report,"dp: ${FORMAT}", ${ARGS}`, 'break dprintf_done', 'continue', 'info breakpoints', 'kill'];

/** The lines that start with `prefix`, without it. */
const printed = (out: string, prefix: string) =>
  out
    .split('\n')
    .filter((l) => l.startsWith(prefix))
    .map((l) => l.slice(prefix.length));

for (const kind of ['gdbsock', 'gdbserver'] as const) {
  t.test(`${kind}: an agent dprintf prints what libc's printf prints, and gdb stops only at the breakpoint`, async (t) => {
    const server =
      kind === 'gdbsock'
        ? await startGdbsockAsGdbserver(['--once', '127.0.0.1:0', program]).then((s) => ({ ...s, stop: () => s.proc.kill() }))
        : await startGdbserver([program]);
    t.teardown(() => server.stop());
    const out = await runGdb(`target remote ${server.target}`, commands, { file: program, timeout: 60000 });
    await server.exited;
    const own = printed(server.output(), 'own: ');
    t.equal(own.length, 3, `the program printed three lines:\n${server.output()}`);
    t.same(printed(server.output(), 'dp: '), own, `the server printed the same three (${kind})`);
    t.same(printed(out, 'dp: '), [], 'not gdb');
    t.match(out, /Breakpoint 2, (0x[0-9a-f]+ in )?dprintf_done/, 'the one stop gdb saw');
    t.notMatch(out, /Breakpoint 1,/, 'no stop for the dprintf');
    t.match(out, /agent-printf "dp: /, 'gdb lists it as an agent dprintf');
  });
}

t.test('a command that cannot run (an unreadable string) says so and the program carries on', async (t) => {
  const server = await startGdbsockAsGdbserver(['--once', '127.0.0.1:0', program]);
  t.teardown(() => server.proc.kill());
  const out = await runGdb(
    `target remote ${server.target}`,
    ['set dprintf-style agent', 'dprintf report,"bad: %s\\n", (char *) 16', 'break dprintf_done', 'continue', 'kill'],
    { file: program, timeout: 60000 },
  );
  await server.exited;
  t.match(server.output(), /gdbsock: breakpoint command failed: .*\n/, 'the failure is on the output');
  t.equal(printed(server.output(), 'own: ').length, 3, 'every call still ran');
  t.match(out, /Breakpoint 2, (0x[0-9a-f]+ in )?dprintf_done/);
});
