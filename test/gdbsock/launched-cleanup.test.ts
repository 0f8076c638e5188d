/**
 * A program gdbsock launched does not outlive it, however it ends in the
 * middle of a non-stop session with every thread running: SIGTERM kills the
 * program (as gdbserver does), gdb hanging up on a --once gdbsock kills it
 * (gdbserver: "Killing process(es)"), and SIGKILL of gdbsock kills it through
 * PTRACE_O_EXITKILL, set on every thread (gdbserver, which does not set it,
 * leaves its program running, untraced). Before, a hang-up detached the
 * program, and five spinning threads ran on, reparented to init.
 */
import fs from 'node:fs';
import t, { type Test } from 'tap';
import { eventually, fixture } from '../helpers';
import { requireTool, startGdbsockAsGdbserver, startListening } from './gdb';
import { nonStopClient } from './nonstop-client';

requireTool('gdbserver');
const spinners = fixture('spinners');
const THREADS = 5;

/** The process's state letter, or undefined once it is gone (reaped). */
function stateOf(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

const threadCount = (pid: number) => fs.readdirSync(`/proc/${pid}/task`).length;

function killIfAlive(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

type Ending = 'SIGTERM' | 'SIGKILL' | 'hang-up';

/** Serves the spinners, gets gdb's non-stop session going with all five threads running, then ends it as `how` says. */
async function endMidSession(t: Test, server: 'gdbsock' | 'gdbserver', how: Ending): Promise<number> {
  const argv = ['--once', '127.0.0.1:0', spinners];
  const s = server === 'gdbsock' ? await startGdbsockAsGdbserver(argv) : await startListening('gdbserver', 'gdbserver', argv);
  const pid = Number(/pid = (\d+)/.exec(s.output())?.[1]);
  t.ok(pid > 0, `launched (${s.output().trim()})`);
  t.teardown(() => {
    killIfAlive(pid);
    if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL');
  });
  const c = await nonStopClient(s.target);
  t.teardown(c.close);
  await c.ask('QStartNoAckMode');
  t.equal(await c.ask('QNonStop:1'), 'OK');
  t.equal(await c.ask('vCont;c'), 'OK');
  await eventually(() => threadCount(pid) === THREADS, `${THREADS} threads running`, 20000);
  if (how === 'hang-up') c.close();
  else s.proc.kill(how);
  await s.exited;
  return pid;
}

/** Gone, or a zombie its new parent has yet to reap: none of its threads runs. */
async function dead(pid: number): Promise<boolean> {
  try {
    await eventually(() => stateOf(pid) === undefined || stateOf(pid) === 'Z', `program ${pid} to die`, 10000);
    return true;
  } catch {
    return false;
  }
}

for (const how of ['SIGTERM', 'hang-up', 'SIGKILL'] as const) {
  t.test(`gdbsock --once, ${how} in a non-stop session: the launched program and its threads are gone`, async (t) => {
    const pid = await endMidSession(t, 'gdbsock', how);
    t.ok(await dead(pid), `program ${pid} dead (state ${stateOf(pid) ?? 'gone'})`);
  });
}

// The anchor for the first two (gdbserver leaves its program behind when SIGKILLed: no EXITKILL).
for (const how of ['SIGTERM', 'hang-up'] as const) {
  t.test(`gdbserver --once, ${how} in a non-stop session: the launched program is killed too`, async (t) => {
    const pid = await endMidSession(t, 'gdbserver', how);
    t.ok(await dead(pid), `program ${pid} dead (state ${stateOf(pid) ?? 'gone'})`);
  });
}
