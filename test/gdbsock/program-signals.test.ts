/**
 * QProgramSignals against a real gdb: the signal a process stopped for goes
 * to it on detach unless gdb's `handle SIG nopass` says otherwise, as under
 * gdbserver (linux-low.cc, get_detach_signal).
 */
import t from 'tap';
import { fixture, procState, startDetached } from '../helpers';
import { requireTool, runGdb, startGdbserver, startGdbsock } from './gdb';

requireTool('gdb');
requireTool('gdbserver');
const binary = fixture('gdbsock');

/** The fixture's `sleep` mode prints "alive 1" and exits once SIGUSR1 reaches it. */
async function stopForUsr1ThenDetach(server: 'gdbsock' | 'gdbserver', handle: string[]) {
  const target = await startDetached(binary, ['sleep']);
  const commands = [`shell kill -USR1 ${target.pid}`, 'continue', ...handle, 'detach'];
  if (server === 'gdbserver') {
    const s = await startGdbserver(['--attach', String(target.pid)]);
    const out = await runGdb(`target remote ${s.target}`, commands);
    s.stop();
    return { target, out };
  }
  const s = await startGdbsock(['--once', '--listen', '127.0.0.1:0', String(target.pid)]);
  const out = await runGdb(`target extended-remote ${s.target}`, commands);
  await s.stop();
  return { target, out };
}

/** The next line the fixture prints, or undefined if it prints none within `ms`. */
function within(line: Promise<string>, ms: number): Promise<string | undefined> {
  return Promise.race([line, new Promise<undefined>((r) => setTimeout(() => r(undefined), ms))]);
}

for (const server of ['gdbsock', 'gdbserver'] as const) {
  t.test(`${server}: the signal gdb stopped for reaches the program on detach`, async (t) => {
    const { target, out } = await stopForUsr1ThenDetach(server, []);
    t.teardown(() => target.kill());
    t.match(out, /received signal SIGUSR1/);
    t.match(out, /detached/);
    t.equal(await within(target.nextLine(), 5000), 'alive 1', 'SIGUSR1 delivered with the detach');
  });

  t.test(`${server}: handle SIGUSR1 nopass: detach drops it`, async (t) => {
    const { target, out } = await stopForUsr1ThenDetach(server, ['handle SIGUSR1 nopass']);
    t.teardown(() => target.kill());
    t.match(out, /received signal SIGUSR1/);
    t.match(out, /detached/);
    const line = target.nextLine();
    t.equal(await within(line, 500), undefined, 'SIGUSR1 withheld');
    t.not(procState(target.pid), 't', 'running, not left stopped');
    process.kill(target.pid, 'SIGUSR1');
    t.equal(await line, 'alive 1', 'it ran on, and a SIGUSR1 sent now gets through');
  });
}
