import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import t from 'tap';
import { Tracee } from '../../lib/ptrace';
import { fixture, procState, startDetached, symbol } from '../helpers';

function pendingSignals(pid: number): string[] {
  return fs
    .readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .filter((l) => /^(SigPnd|ShdPnd|TracerPid|State):/.test(l));
}

t.test('attach stops every thread; detach leaves the process running and unharmed', async (t) => {
  const target = await startDetached(fixture('threads'), ['8']);
  t.teardown(target.kill);
  const tracee = await Tracee.attach(target.pid);
  t.equal(tracee.threads.size, 9, 'the main thread and 8 workers');
  for (const thread of tracee.threads.values()) {
    t.equal(thread.state, 'stopped');
    t.match(thread.lastEvent, { type: 'interrupted', tid: thread.tid });
    t.equal(procState(target.pid, thread.tid), 't', `tid ${thread.tid} is in a ptrace stop`);
  }
  tracee.resumeAll();
  await new Promise((r) => setTimeout(r, 20));
  await tracee.detach();
  t.equal(tracee.state, 'detached');
  t.equal(tracee.threads.size, 0);
  for (const tid of fs.readdirSync(`/proc/${target.pid}/task`).map(Number)) {
    t.not(procState(target.pid, tid), 't', `tid ${tid} runs again`);
    t.not(procState(target.pid, tid), 'T', `tid ${tid} has no stray group-stop`);
  }
  t.same(
    pendingSignals(target.pid).filter((l) => /SigPnd|ShdPnd/.test(l)),
    ['SigPnd:\t0000000000000000', 'ShdPnd:\t0000000000000000'],
  );
  t.match(pendingSignals(target.pid).join('\n'), /TracerPid:\t0/);
  process.kill(target.pid, 'SIGUSR1');
  t.equal(await target.nextLine(), 'alive 1', 'its threads kept counting and it handles signals');
});

t.test('detach puts breakpoint bytes back and passes on a pending signal', async (t) => {
  const binary = fixture('target');
  const target = await startDetached(binary, ['wait']);
  t.teardown(target.kill);
  const marker = symbol(binary, 'marker');
  const tracee = await Tracee.attach(target.pid);
  const original = tracee.memory.read(marker, 4);
  tracee.breakpoints.insert(marker);
  t.equal(tracee.memory.read(marker, 1)[0], 0xcc, 'int3 is in the text');
  t.same(tracee.breakpoints.unshadow(marker, tracee.memory.read(marker, 4)), original, 'readers can see the original code');
  // A SIGUSR1 arrives while traced: the thread stops for it; detach must deliver it.
  tracee.resumeAll();
  process.kill(target.pid, 'SIGUSR1');
  const stop = await tracee.leader!.nextEvent();
  t.match(stop, { type: 'signal', signal: 10 });
  await tracee.detach();
  t.equal(await target.nextLine(), 'value 1122334455667788', 'the signal was delivered after detach');
  // The program then calls marker() (no int3 left) and exits normally.
});

t.test('attach errors have the shape of Node fs errors', async (t) => {
  const gone = spawnSync('/bin/true').pid!;
  await t.rejects(Tracee.attach(gone), { name: 'SystemError', code: 'ESRCH', errno: -3, pid: gone });
  await t.rejects(Tracee.attach(process.pid), {
    name: 'SystemError',
    code: 'EPERM',
    errno: -1,
    syscall: 'ptrace(PTRACE_SEIZE)',
    pid: process.pid,
    message: /cannot trace itself/,
  });
  await t.rejects(Tracee.attach(-1), RangeError);
  await t.rejects(Tracee.attach('12' as never), TypeError);

  const target = await startDetached(fixture('threads'), ['2']);
  t.teardown(target.kill);
  const first = await Tracee.attach(target.pid);
  // The hint names the tracer, as hostkit doctor's ptrace facts would (procfs/ptrace-access.ts).
  await t.rejects(
    Tracee.attach(target.pid),
    { code: 'EPERM', syscall: 'ptrace(PTRACE_SEIZE)', hint: `process ${target.pid} is already traced by process ${process.pid}: detach that debugger first` },
    'already traced',
  );
  await first.detach();
});

t.test("attach refuses this Node's own child_process children, whose stops libuv would swallow", async (t) => {
  const child = spawn(fixture('threads'), ['1'], { stdio: 'ignore' });
  t.teardown(() => child.kill('SIGKILL'));
  await t.rejects(Tracee.attach(child.pid!), { code: 'ERR_HOSTKIT_OWN_CHILD' });
});

t.test('when Node exits, an attached process is left running without breakpoints', async (t) => {
  const binary = fixture('target');
  const target = await startDetached(binary, ['loop']);
  t.teardown(target.kill);
  const marker = symbol(binary, 'marker');
  const script = `
    const { Tracee } = require(${JSON.stringify(require.resolve('../../dist'))});
    Tracee.attach(${target.pid}).then((t) => {
      t.breakpoints.insert(${marker}n);
      process.exit(0); // no detach: the exit hook and the kernel must clean up
    });
  `;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.match(pendingSignals(target.pid).join('\n'), /TracerPid:\t0/);
  t.not(procState(target.pid), 't');
  const fd = fs.openSync(`/proc/${target.pid}/mem`, 'r');
  const byte = Buffer.alloc(1);
  fs.readSync(fd, byte, 0, 1, Number(marker));
  fs.closeSync(fd);
  t.not(byte[0], 0xcc, 'no int3 left in the text');
});
