/**
 * gdb hanging up while the program runs (gdb killed, its machine gone
 * mid-`continue`): gdbsock stops the program, lets a process it attached to
 * go untraced and running (a program it launched is killed, as gdbserver
 * does), and (with --once) exits; without --once the next gdb gets the
 * process again. Before, the resume waited forever and the process stayed
 * traced by a gdbsock that never exited.
 */
import fs from 'node:fs';
import t from 'tap';
import { eventually, fixture, procState, startDetached } from '../helpers';
import { rspClient, startGdbsock } from './gdb';

const threads = fixture('threads');

const tracerOf = (pid: number) => Number(/^TracerPid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

/** gdbsock's exit code, or a note that it is still serving after `ms`. */
async function exitWithin(exited: Promise<number | null>, ms: number): Promise<number | null | string> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`still serving after ${ms} ms`), ms)));
  try {
    return await Promise.race([exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Sends vCont;c and hangs up without waiting for the stop that will never come. */
async function hangUpWhileRunning(target: string): Promise<void> {
  const rsp = await rspClient(target);
  await rsp.ask('QStartNoAckMode');
  await rsp.ask('vCont;c', 300).catch(() => undefined); // still running: no reply
  rsp.close();
}

t.test('--once: an attached process is let go running, and gdbsock exits', async (t) => {
  const target = await startDetached(threads, ['2']);
  t.teardown(target.kill);
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', String(target.pid)]);
  t.teardown(() => server.stop());
  t.equal(tracerOf(target.pid), server.proc.pid, 'traced by gdbsock');
  await hangUpWhileRunning(server.target);
  const code = await exitWithin(server.exited, 10000);
  t.equal(code, 0, 'gdbsock exited');
  t.equal(tracerOf(target.pid), 0, 'no longer traced');
  for (const task of fs.readdirSync(`/proc/${target.pid}/task`)) t.not(procState(target.pid, Number(task)), 't', `thread ${task} not left stopped`);
  process.kill(target.pid, 'SIGUSR1');
  t.equal(await target.nextLine(), 'alive 1', 'it ran on and still answers its signal');
});

t.test('without --once: the next gdb finds the process again', async (t) => {
  const target = await startDetached(threads, ['2']);
  t.teardown(target.kill);
  const server = await startGdbsock(['--listen', '127.0.0.1:0', String(target.pid)]);
  t.teardown(() => server.stop());
  await hangUpWhileRunning(server.target);
  await eventually(() => tracerOf(target.pid) === 0, 'the process let go after the hang-up');
  const rsp = await rspClient(server.target);
  t.teardown(rsp.close);
  t.equal(await rsp.ask('QStartNoAckMode'), 'OK');
  t.match(await rsp.ask('qfThreadInfo'), /^m([0-9a-f]+,){2}[0-9a-f]+$/, 'the main thread and its two spinners, attached again');
  t.equal(tracerOf(target.pid), server.proc.pid);
  t.equal(await rsp.ask('D'), 'OK');
});

t.test('--once: a launched program is killed, as gdbserver kills what it started when it exits', async (t) => {
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', threads, '2']);
  const pid = server.pid;
  t.teardown(() => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
    return server.stop();
  });
  await hangUpWhileRunning(server.target);
  const code = await exitWithin(server.exited, 10000);
  t.equal(code, 0, 'gdbsock exited');
  await eventually(() => !fs.existsSync(`/proc/${pid}`) || procState(pid) === 'Z', `program ${pid} to die`, 10000);
  t.pass('the program is gone');
});
