/**
 * Extended-remote, forks kept (detach-on-fork off): gdb kills the process
 * that stopped last (the fork child it follows), disconnects and connects
 * again. `?` must then tell of a thread that is still there: one of the
 * killed process stops gdb 16.3 at "switch_to_thread: Assertion `thr != NULL'"
 * (gdb.server/extended-remote-restart.exp, native-extended-gdbserver).
 * gdbserver is the anchor for gdb's surviving it; what it tells is no model:
 * it reports the fork again, whose child is gone (gdb adds an inferior for
 * it and says "No threads."), where gdbsock tells of the parent, stopped.
 */
import t from 'tap';
import { fixture } from '../helpers';
import { debian13Tools } from './debian13';
import { GDBSOCK_AS_GDBSERVER, type GdbTools, HOST_TOOLS, runGdb, startListening } from './gdb';

const forker = fixture('forker');

async function killChildAndReconnect(tools: GdbTools, gdbserver: readonly string[]): Promise<string> {
  // No --once: the server stays for the second connection, as the testsuite's gdb_reconnect wants.
  const server = await startListening('server', gdbserver[0]!, [...gdbserver.slice(1), '--multi', '127.0.0.1:0']);
  try {
    return await runGdb(
      'set sysroot',
      [
        `target extended-remote ${server.target}`,
        `set remote exec-file ${forker}`,
        'break main',
        'run',
        'set detach-on-fork off',
        'set follow-fork-mode child',
        'break _exit',
        'continue',
        'kill',
        'disconnect',
        `target extended-remote ${server.target}`,
        'info threads',
        'monitor exit',
      ],
      { tools, file: forker, timeout: 60_000 },
    );
  } finally {
    if (server.proc.exitCode === null) server.proc.kill();
    await server.exited;
  }
}

for (const [name, tools] of [
  ['gdb 16.3', debian13Tools()],
  ['the host gdb', HOST_TOOLS],
] as const) {
  t.test(`${name}: kill the fork child gdb follows, reconnect: no internal error, as with gdbserver; the parent is there, stopped`, async (t) => {
    for (const [server, gdbserver] of [
      ['gdbserver', tools.gdbserver],
      ['gdbsock', GDBSOCK_AS_GDBSERVER],
    ] as const) {
      const out = await killChildAndReconnect(tools, gdbserver);
      t.match(out, /Thread 2\.1 .*hit Breakpoint \d+(\.\d+)?, .*_exit/, `${server}: the child stopped at _exit`);
      t.match(out, /\[Inferior 2 \(process \d+\) killed\]/, `${server}: the child killed`);
      t.notMatch(out, /internal-error/, `${server}: gdb has no internal error`);
      if (server === 'gdbserver') continue;
      const again = out.slice(out.indexOf('[Inferior 2 (process'));
      t.match(again, /^\* [\d.]+ +Thread (\d+)\.\1 "forker"/m, `${server}: after reconnecting, the parent's thread is current`);
    }
  });
}
