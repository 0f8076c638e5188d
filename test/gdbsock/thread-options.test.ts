/**
 * QThreadOptions (gdb 15+, GDB manual "General Query Packets"): a thread with
 * the clone option reports each thread it creates as `T05clone:ID;`, the new
 * thread held stopped until gdb resumes it; a thread with the exit option
 * reports its end as `w`, QThreadEvents or not. gdb 13.1 never sends the
 * packet and gdbserver 13.1 lacks it, so this speaks it directly.
 */
import { execFileSync } from 'node:child_process';
import t, { type Test } from 'tap';
import { fixture, symbol } from '../helpers';
import { rspClient, startGdbsock } from './gdb';
import { nonStopClient } from './nonstop-client';

const threads = fixture('threads');

t.test('QThreadOptions: clone stop, the new thread held and resumable, its exit as w, options cleared by 0', async (t) => {
  // Two short-lived threads, one after the other.
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', threads, 'churn', '2']);
  t.teardown(() => server.stop());
  const rsp = await rspClient(server.target);
  t.teardown(rsp.close);
  await rsp.ask('QStartNoAckMode');
  t.match(await rsp.ask('qSupported:multiprocess+'), /(^|;)QThreadOptions=3(;|$)/, 'offered: clone and exit');
  const pid = server.pid.toString(16);
  t.match(await rsp.ask('QThreadOptions;4'), /^E/, 'an option gdbsock lacks is refused');
  t.equal(await rsp.ask(`QThreadOptions;1:p${pid}.${pid}`), 'OK');

  const clone = await rsp.ask('vCont;c');
  const m = new RegExp(`^T05clone:p${pid}\\.([0-9a-f]+);.*thread:p${pid}\\.${pid};$`).exec(clone);
  t.ok(m, `a clone stop of the main thread: ${clone}`);
  const child = m![1]!;
  t.match(await rsp.ask('qfThreadInfo'), new RegExp(`p${pid}\\.${child}(,|$)`), 'the new thread is listed');
  t.equal(await rsp.ask(`Hgp${pid}.${child}`), 'OK');
  t.match((await rsp.ask('g')).slice(256, 272), /^[0-9a-f]{16}$/, 'and stopped: its registers read (rip is no xx)');
  t.match(await rsp.ask(`vCont;s:p${pid}.${child}`), new RegExp(`^T05.*thread:p${pid}\\.${child};$`), 'it steps alone');

  t.equal(await rsp.ask(`QThreadOptions;2:p${pid}.${child}`), 'OK', 'exit option on the new thread');
  // Its end and the main thread's next clone race (pthread_join returns before the kernel reaps the thread).
  const replies = [await rsp.ask('vCont;c'), await rsp.ask('vCont;c')];
  t.ok(replies.includes(`w00;p${pid}.${child}`), `its end is a w reply without QThreadEvents: ${replies.join(' | ')}`);
  const second = replies.map((r) => new RegExp(`^T05clone:p${pid}\\.([0-9a-f]+);`).exec(r)?.[1]).find((id) => id !== undefined);
  t.ok(second, 'and the second thread a clone stop');

  t.equal(await rsp.ask(`QThreadOptions;2:p${pid}.${second}`), 'OK');
  t.equal(await rsp.ask('QThreadOptions;0'), 'OK', 'every option off');
  t.equal(await rsp.ask('vCont;c'), `W00;process:${pid}`, 'the second thread ends silently');
});

t.test('QThreadOptions: a thread born later has no options of its own', async (t) => {
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', threads, 'churn', '1']);
  t.teardown(() => server.stop());
  let out = '';
  server.proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const rsp = await rspClient(server.target);
  t.teardown(rsp.close);
  await rsp.ask('QStartNoAckMode');
  await rsp.ask('qSupported:multiprocess+');
  const pid = server.pid.toString(16);
  t.equal(await rsp.ask('QThreadOptions;3'), 'OK', 'both options on every thread there is');
  t.match(await rsp.ask('vCont;c'), new RegExp(`^T05clone:p${pid}\\.[0-9a-f]+;`));
  t.equal(await rsp.ask('vCont;c'), `W00;process:${pid}`, 'the new thread ends silently, then the process');
  await server.exited;
  t.match(out, /churned 1/, 'the program ran to its end');
});

/** gdbsock serving `argv` in non-stop mode to a bare client: the process's id in hex and its leader's thread id. */
async function nonStopSession(t: Test, argv: string[]) {
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', ...argv]);
  t.teardown(() => server.stop());
  const rsp = await nonStopClient(server.target);
  t.teardown(rsp.close);
  await rsp.ask('QStartNoAckMode');
  await rsp.ask('qSupported:multiprocess+');
  t.equal(await rsp.ask('QNonStop:1'), 'OK');
  const pid = server.pid.toString(16);
  return { server, rsp, pid, leader: `p${pid}.${pid}` };
}

t.test('QThreadOptions in non-stop: a step over clone3 is told once the new thread can be read', async (t) => {
  // gdb 15+ answers a clone stop with Hg and g for the new thread; gdbserver waits for the new
  // thread's first stop before telling. Told before it, rip was unavailable: gdb said "PC register
  // is not available" (gdb.threads/stepi-over-clone.exp). As there: stop on clone3's syscall, step.
  const program = fixture('clone-static');
  const disassembly = execFileSync('objdump', ['-d', '--disassemble=__clone3', program], { encoding: 'utf8' });
  const syscall = /^\s*([0-9a-f]+):\s+0f 05\s+syscall/m.exec(disassembly)?.[1];
  t.ok(syscall, "clone3's syscall instruction");
  // The new thread's first stop races the parent's: a few rounds catch an early report.
  for (let round = 0; round < 5; round++) {
    const { server, rsp, pid, leader } = await nonStopSession(t, [program]);
    const stopOf = async (resume: string) => {
      t.equal(await rsp.ask(resume), 'OK', resume);
      const stop = (await rsp.notification()).replace(/^Stop:/, '');
      t.equal(await rsp.ask('vStopped'), 'OK');
      return stop;
    };
    t.equal(await rsp.ask(`Z0,${syscall},1`), 'OK');
    t.match(await stopOf(`vCont;c:${leader}`), /^T05/, 'on the syscall');
    t.equal(await rsp.ask(`z0,${syscall},1`), 'OK');
    t.equal(await rsp.ask(`QThreadOptions;3:${leader}`), 'OK');
    const child = new RegExp(`^T05clone:p${pid}\\.([0-9a-f]+);`).exec(await stopOf(`vCont;s:${leader};c`))?.[1];
    t.ok(child, 'the step met the clone');
    t.equal(await rsp.ask(`Hgp${pid}.${child}`), 'OK');
    t.match((await rsp.ask('g')).slice(256, 272), /^[0-9a-f]{16}$/, `round ${round}: the new thread's rip, readable at once`);
    await server.stop();
  }
});

t.test('non-stop: the exit of the only thread gdb resumed is its w, then N from the vStopped queue', async (t) => {
  // As gdbserver queues it; gdb with `maint set target-non-stop on` waited for ever for the N
  // that says nothing is left running ("No unwaited-for children left", step-over-thread-exit.exp).
  const { rsp, pid, leader } = await nonStopSession(t, [threads, 'churn', '1']);
  t.equal(await rsp.ask(`Z0,${symbol(threads, 'short_lived').toString(16)},1`), 'OK');
  t.equal(await rsp.ask(`vCont;c:${leader}`), 'OK');
  const hit = (await rsp.notification()).replace(/^Stop:/, '');
  const thread = new RegExp(`thread:p${pid}\\.([0-9a-f]+);`).exec(hit)?.[1];
  t.ok(thread && thread !== pid, `the new thread at its breakpoint: ${hit}`);
  t.equal(await rsp.ask('vStopped'), 'OK');
  t.equal(await rsp.ask(`z0,${symbol(threads, 'short_lived').toString(16)},1`), 'OK');
  // The leader, in pthread_join, is stopped too: nothing but the new thread will run.
  t.equal(await rsp.ask(`vCont;t:${leader}`), 'OK');
  t.match(await rsp.notification(), new RegExp(`^Stop:T00.*thread:${leader};`), 'the leader stopped');
  t.equal(await rsp.ask('vStopped'), 'OK');
  t.equal(await rsp.ask(`QThreadOptions;2:p${pid}.${thread}`), 'OK', 'gdb wants its exit');
  t.equal(await rsp.ask(`vCont;c:p${pid}.${thread}`), 'OK');
  t.equal(await rsp.notification(), `Stop:w00;p${pid}.${thread}`, 'its exit');
  t.equal(await rsp.ask('vStopped'), 'N', 'then: no resumed thread left');
  t.equal(await rsp.ask('vStopped'), 'OK', 'and the queue is empty');
});
