/**
 * One gdb 16.3 session (Debian 13's gdb; test/gdbsock/debian13.ts finds it)
 * through gdbsock and through gdbserver 16.3, started alike with gdbserver's
 * command line: the same output, once pids and ports are set aside. Watchpoints
 * are left out: gdb 16.3 drops a hardware watchpoint after a step over a
 * breakpoint, whichever server it talks to.
 */
import t from 'tap';
import { fixture } from '../helpers';
import { debian13Tools, gdbVersion } from './debian13';
import { GDBSOCK_AS_GDBSERVER, runGdb, startGdbserver } from './gdb';

const binary = fixture('gdbsock');
const tools = debian13Tools();

const COMMANDS = ['break step_me', 'continue', 'bt', 'stepi', 'next', 'info sharedlibrary', 'detach'];

/** A session's output with what differs run to run (pids, the port) replaced. */
function normalize(out: string): string {
  return out
    .replace(/127\.0\.0\.1:\d+/g, 'HOST:PORT')
    .replace(/\b(process|Thread|LWP) \d+(\.\d+)?/g, '$1 N')
    .replace(/\bpid \d+/g, 'pid N');
}

async function session(gdbserver: readonly string[]): Promise<string> {
  const server = await startGdbserver([binary, 'count', '3'], { tools: { ...tools, gdbserver } });
  try {
    return await runGdb(`target extended-remote ${server.target}`, COMMANDS, { tools, timeout: 120_000 });
  } finally {
    server.stop();
    await server.exited;
  }
}

t.test('the tools are gdb 16.3', async (t) => {
  t.match(gdbVersion(tools), /^GNU gdb .* 16\.3/);
});

t.test('break, continue, bt, stepi, next, info sharedlibrary, detach: as with gdbserver 16.3', async (t) => {
  const ours = await session(GDBSOCK_AS_GDBSERVER);
  const theirs = await session(tools.gdbserver);
  t.match(ours, /Breakpoint 1, step_me \(i=i@entry=0\) at .*gdbsock\.c:\d+/, 'stopped at the breakpoint');
  t.match(ours, /#1 +0x[0-9a-f]+ in main \(argc=/, 'bt shows main');
  t.match(ours, /0x[0-9a-f]+ +0x[0-9a-f]+ +Yes.* +\S*libc\.so\.6/, 'libc is listed, symbols read');
  t.match(ours, /\[Inferior 1 \(process \d+\) detached\]/, 'detached');
  t.equal(normalize(ours), normalize(theirs), 'gdb 16.3 prints the same with gdbsock as with gdbserver 16.3');
});
