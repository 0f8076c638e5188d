/**
 * Extended-remote gdb runs a second program (add-inferior, then `start`:
 * vRun) while the first is stopped at a fork, then follows the fork's child
 * in the first inferior, detaching the parent (D;PID). The second program
 * joins the processes gdbsock debugs; it must not replace them, or the
 * parent is gone when gdb detaches it ("can't detach process: E01";
 * gdb.base/foll-fork.exp, second_inferior=true, native-extended-gdbserver).
 * gdbserver is the anchor.
 */
import t from 'tap';
import { fixture } from '../helpers';
import { debian13Tools } from './debian13';
import { GDBSOCK_AS_GDBSERVER, type GdbTools, runGdb, startListening } from './gdb';

const forker = fixture('forker');

async function secondInferior(tools: GdbTools, gdbserver: readonly string[]): Promise<string> {
  const server = await startListening('server', gdbserver[0]!, [...gdbserver.slice(1), '--once', '--multi', '127.0.0.1:0']);
  try {
    return await runGdb(
      'set sysroot',
      [
        `target extended-remote ${server.target}`,
        `set remote exec-file ${forker}`,
        'catch fork',
        'run',
        'add-inferior',
        'inferior 2',
        `file ${forker}`,
        `set remote exec-file ${forker}`,
        'start',
        'inferior 1',
        'set follow-fork-mode child',
        'continue',
        'info inferiors',
        'inferior 2',
        'kill',
        'monitor exit',
      ],
      { tools, file: forker, timeout: 60_000 },
    );
  } finally {
    if (server.proc.exitCode === null) server.proc.kill();
    await server.exited;
  }
}

// gdb 16.3 only: gdb 13.1 with gdbserver 13.1 hangs here itself (inferior 2's `start` never stops).
for (const [name, tools] of [['gdb 16.3', debian13Tools()]] as const) {
  t.test(`${name}: a second program beside one stopped at a fork; follow the child there: as with gdbserver`, async (t) => {
    for (const [server, gdbserver] of [
      ['gdbserver', tools.gdbserver],
      ['gdbsock', GDBSOCK_AS_GDBSERVER],
    ] as const) {
      const out = await secondInferior(tools, gdbserver);
      t.match(out, /Catchpoint 1 \(forked process \d+\)/, `${server}: inferior 1 stopped at its fork`);
      t.match(out, /Thread 2\.1 .*hit Temporary breakpoint \d+, main \(\)/, `${server}: inferior 2 started`);
      t.match(out, /\[Detaching after fork from parent process \d+\]/, `${server}: the parent detached`);
      t.notMatch(out, /can't detach process/, `${server}: the parent was there to detach`);
      t.match(out, /\[Inferior 3 \(process \d+\) exited with code 07\]/, `${server}: the child ran to its end`);
      t.match(out, /^ +2 +process \d+ /m, `${server}: inferior 2 still runs its process`);
      t.match(out, /\[Inferior 2 \(process \d+\) killed\]/, `${server}: and is killed at the end`);
    }
  });
}
