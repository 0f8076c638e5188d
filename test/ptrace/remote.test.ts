/**
 * Remote system calls in a traced thread: results against the kernel's own
 * answers (the pid, /proc/PID/maps), the thread's registers compared before
 * and after, and a call the thread was blocked in resuming as if nothing had
 * happened (its read gets the data written later; its sleep runs out).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { maps } from '../../lib/procfs';
import { Tracee } from '../../lib/ptrace';
import { fixture, eventually, startDetached } from '../helpers';

/** The syscall a process is blocked in, from /proc/PID/syscall (its first field), or -1 while it runs. */
function blockedIn(pid: number): number {
  const first = fs.readFileSync(`/proc/${pid}/syscall`, 'utf8').split(' ')[0]!;
  return first === 'running' ? -1 : Number(first);
}

async function blockedTarget(t: Test) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hostkit-remote-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const fifo = path.join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const target = await startDetached(fixture('remote-target'), [fifo]);
  t.teardown(target.kill);
  await eventually(() => blockedIn(target.pid) === 0, 'the target blocked in read');
  const tracee = await Tracee.attach(target.pid);
  t.teardown(() => tracee.state === 'traced' && tracee.detach());
  tracee.resumeAll();
  tracee.leader!.interrupt();
  t.match(await tracee.leader!.nextEvent(), { type: 'interrupted' });
  return { target, tracee, fifo };
}

t.test('calls in a thread blocked in read: results, errors, and the read goes on as before', async (t) => {
  const { target, tracee, fifo } = await blockedTarget(t);
  const leader = tracee.leader!;
  const told: string[] = [];
  tracee.on('event', (e: { type: string }) => told.push(e.type));
  const before = leader.getRegistersRaw();
  const remote = tracee.remote();

  t.equal(await remote.syscall('getpid'), BigInt(target.pid), 'getpid: the kernel says who it is');
  const size = 3n * 4096n;
  const addr = await remote.syscall('mmap', [0, size, 3 /* PROT_READ|WRITE */, 0x22 /* MAP_PRIVATE|ANONYMOUS */, -1, 0]);
  const covering = (from: bigint, to: bigint) => maps(target.pid).find((m) => m.start <= from && to <= m.end);
  t.match(covering(addr, addr + size), { writable: true, readable: true }, 'the mapping is in /proc/PID/maps (merged with a neighbour, maybe)');
  t.equal(await remote.syscall('mprotect', [addr, 4096, 1 /* PROT_READ */]), 0n);
  t.equal(await remote.syscall('munmap', [addr, size]), 0n);
  t.equal(covering(addr, addr + 1n), undefined, 'and gone again');

  await t.rejects(
    remote.syscall('write', [1, 0x10, 8]),
    { name: 'SystemError', code: 'EFAULT', syscall: 'remote write', pid: target.pid, tid: target.pid },
    'a bad pointer is an EFAULT result',
  );
  await t.rejects(remote.syscall('close', [999]), { code: 'EBADF', syscall: 'remote close' });
  await t.rejects(remote.syscall('no_such_call'), RangeError);
  await t.rejects(remote.syscall('getpid', [1, 2, 3, 4, 5, 6, 7]), RangeError);

  t.same(leader.getRegistersRaw(), before, 'every general register as it was (the interrupted read: rax -ERESTARTSYS, orig_rax 0)');
  t.same(told, [], 'listeners saw none of the stops the calls took');
  t.equal(leader.lastEvent?.type, 'interrupted', 'the thread is in the stop it was in');

  leader.cont();
  fs.writeFileSync(fifo, 'hello');
  t.equal(await target.nextLine(), 'read 5 hello', 'the read restarted and got the data written after the calls');
});

t.test('a call in a thread asleep in clock_nanosleep: the sleep runs to its end', async (t) => {
  const { target, tracee, fifo } = await blockedTarget(t);
  tracee.leader!.cont();
  fs.writeFileSync(fifo, 'x');
  t.equal(await target.nextLine(), 'read 1 x');
  await eventually(() => blockedIn(target.pid) === 230, 'the target asleep in clock_nanosleep');
  const leader = tracee.leader!;
  leader.interrupt();
  t.match(await leader.nextEvent(), { type: 'interrupted' });
  const before = leader.getRegistersRaw();
  t.equal(await tracee.remote().syscall('gettid'), BigInt(target.pid));
  t.same(leader.getRegistersRaw(), before);
  leader.cont();
  t.equal(await target.nextLine(), 'slept 0', 'clock_nanosleep restarted (restart_syscall) and returned 0');
});

t.test('at a syscall-entry stop, both ways: the entered call is entered again afterwards', async (t) => {
  for (const method of ['auto', 'registers'] as const) {
    const tracee = Tracee.launch(fixture('exitcode'), ['5']);
    const thread = tracee.leader!;
    // Launch leaves the thread in its exec stop; run to the entry of exit_group.
    let entry: { type: string; nr?: number; args?: bigint[] } = { type: '' };
    while (entry.type !== 'syscall-entry' || entry.nr !== 231) {
      thread.syscall(0);
      entry = (await thread.nextEvent()) as typeof entry;
    }
    const before = thread.getRegistersRaw();
    t.equal(await tracee.remote().syscall('getpid', [], { method }), BigInt(tracee.pid), `${method}: getpid`);
    await t.rejects(tracee.remote().syscall('close', [12345], { method }), { code: 'EBADF' }, `${method}: an errno`);
    t.same(thread.getRegistersRaw(), before, `${method}: registers as they were`);
    t.same(thread.getSyscallInfo(), { op: 'entry', ...pick(thread.getSyscallInfo()), nr: 231, args: entry.args }, `${method}: still entering exit_group(5)`);
    thread.cont(0);
    t.same(await tracee.ended(), { pid: tracee.pid, code: 5 }, `${method}: exit_group ran with its own argument`);
  }
});

function pick(info: { arch: number; pc: bigint; sp: bigint }) {
  return { arch: info.arch, pc: info.pc, sp: info.sp };
}

t.test('the process killed during a call: a clear error, and the tracer goes on', async (t) => {
  const { target, tracee } = await blockedTarget(t);
  const call = tracee.remote().syscall('nanosleep', [0, 0]); // EFAULT normally; the kill comes first or after
  process.kill(target.pid, 'SIGKILL');
  await call.then(
    () => t.fail('the call should not succeed'),
    (err) => t.match(err, { code: /^(ESRCH|EFAULT)$/ }),
  );
  t.match(await tracee.ended(), { pid: target.pid });
  const other = Tracee.launch(fixture('exitcode'), ['3']);
  other.leader!.cont(0);
  t.same(await other.ended(), { pid: other.pid, code: 3 }, 'the tracer still traces');
});
