/**
 * A thread other than the leader calls execve while gdb holds the others
 * (scheduler-locking, gdb.threads/non-ldr-exc-1.exp). Its tid vanishes into
 * the leader's, whose exec stop gdb hears of; gdb 15 and later have asked
 * (QThreadOptions) for that thread's exit, and must not get one for the
 * vanished tid: gdb 16 took it for a new thread that exited and said "No
 * unwaited-for children left". Oracle: gdbserver of the same version, same
 * commands, same stop.
 */
import t from 'tap';
import { fixture } from '../helpers';
import { debian13Tools } from './debian13';
import { type GdbTools, HOST_TOOLS, requireTool, runGdb, startGdbserver, startGdbsock } from './gdb';

requireTool('gdb');
requireTool('gdbserver');
const execer = fixture('execer');
const COMMANDS = ['break main', 'continue', 'break exec_it', 'continue', 'set scheduler-locking on', 'continue', 'info threads', 'kill'];

async function run(tools: GdbTools, kind: 'gdbserver' | 'gdbsock'): Promise<string> {
  const argv = [execer, '--thread', fixture('exitcode'), '3'];
  const server = kind === 'gdbserver' ? await startGdbserver(argv, { tools }) : await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', ...argv]);
  try {
    return await runGdb(`target remote ${server.target}`, COMMANDS, { file: execer, tools });
  } finally {
    server.stop();
  }
}

for (const [name, tools] of [
  ["the host's gdb", HOST_TOOLS],
  ['gdb 16', debian13Tools()],
] as const) {
  t.test(`${name}: the exec from a held-apart thread stops in the new program's main`, async (t) => {
    for (const kind of ['gdbserver', 'gdbsock'] as const) {
      const out = await run(tools, kind);
      t.match(out, /hit Breakpoint 2, exec_it/, `${kind}: thread 2 at exec_it first`);
      t.match(out, /is executing new program: .*exitcode\n[\s\S]*Breakpoint 1, main /, `${kind}: then the new program's main`);
      t.notMatch(out, /No unwaited-for children left/, `${kind}: never "no unwaited-for children"`);
      t.match(out, /\* 1 +Thread \d+\.\d+ "exitcode"/, `${kind}: one thread, the new program`);
    }
  });
}
