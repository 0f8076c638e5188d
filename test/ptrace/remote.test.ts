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
import { addon } from '../../lib/native';
import { maps } from '../../lib/procfs';
import { Tracee } from '../../lib/ptrace';
import { fixture, eventually, startDetached } from '../helpers';

/** The syscall a process is blocked in, from /proc/PID/syscall (its first field), or -1 while it runs. */
function blockedIn(pid: number, tid = pid): number {
  const first = fs.readFileSync(`/proc/${pid}/task/${tid}/syscall`, 'utf8').split(' ')[0]!;
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

t.test('at the exec stop of a launched program: inside execve, whose return would overwrite the call', async (t) => {
  const tracee = Tracee.launch(fixture('exitcode'), ['4']);
  const thread = tracee.leader!;
  t.match(await thread.stopped(), { type: 'exec' });
  const before = thread.getRegistersRaw();
  t.equal(await tracee.remote().syscall('getpid'), BigInt(tracee.pid));
  t.equal(await tracee.remote().syscall('getppid'), BigInt(process.pid), 'the launcher is its parent');
  t.same(thread.getRegistersRaw(), before);
  thread.cont(0);
  t.same(await tracee.ended(), { pid: tracee.pid, code: 4 });
});

function pick(info: { arch: number; pc: bigint; sp: bigint }) {
  return { arch: info.arch, pc: info.pc, sp: info.sp };
}

t.test('the process killed during a call: a clear error, and the tracer goes on', async (t) => {
  const { target, tracee } = await blockedTarget(t);
  // A call that lasts: nanosleep of 5 s, its timespec below the thread's stack red zone.
  const sp = tracee.leader!.getRegisters().rsp!;
  const timespec = Buffer.alloc(16);
  timespec.writeBigInt64LE(5n, 0);
  tracee.memory.write(sp - 1024n, timespec);
  const call = tracee.remote().syscall('nanosleep', [sp - 1024n, 0]);
  await new Promise((resolve) => setTimeout(resolve, 100));
  process.kill(target.pid, 'SIGKILL');
  await t.rejects(call, { name: 'SystemError', code: 'ESRCH', syscall: 'remote nanosleep', pid: target.pid, hint: /ended during the call/ });
  t.match(await tracee.ended(), { pid: target.pid });
  const other = Tracee.launch(fixture('exitcode'), ['3']);
  other.leader!.cont(0);
  t.same(await other.ended(), { pid: other.pid, code: 3 }, 'the tracer still traces');
});

/** What a cure must leave as it found: the maps, the fds, the signal dispositions and masks. */
function processState(pid: number, tid = pid) {
  const status = fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
  return {
    maps: fs.readFileSync(`/proc/${pid}/maps`, 'utf8'),
    fds: fs.readdirSync(`/proc/${pid}/fd`).sort(),
    signals: status.split('\n').filter((l) => /^Sig(Blk|Ign|Cgt)/.test(l)),
  };
}

t.test('the stub: batches through shared memory, errors as results, and a cure that leaves nothing', async (t) => {
  const { target, tracee, fifo } = await blockedTarget(t);
  const leader = tracee.leader!;
  const before = { registers: leader.getRegistersRaw(), ...processState(target.pid) };
  const remote = tracee.remote();
  const stub = await remote.installStub();
  t.match(
    fs.readFileSync(`/proc/${target.pid}/maps`, 'utf8'),
    new RegExp(`^${stub.base.toString(16)}-[0-9a-f]+ r-xs .*memfd:hostkit-stub`, 'm'),
    'the stub code is mapped from its memfd',
  );
  t.same(fs.readdirSync(`/proc/${target.pid}/fd`).sort(), before.fds, 'no fd left in the process');

  const at = 0x5a5a00000000n;
  const results = await stub.batch([
    { call: 'getpid' },
    { call: 'mmap', args: [at, 8192, 3, 0x100022 /* PRIVATE|ANONYMOUS|FIXED_NOREPLACE */, -1, 0] },
    { call: 'mprotect', args: [at, 4096, 1] },
    { call: 'write', args: [1, 0x10, 4] },
    { call: 'munmap', args: [at, 8192] },
    { call: 'close', args: [4321] },
  ]);
  t.same(
    results.map((r) => [r.name, r.value, r.errno]),
    [
      ['getpid', BigInt(target.pid), undefined],
      ['mmap', at, undefined],
      ['mprotect', 0n, undefined],
      ['write', -14n, 'EFAULT'],
      ['munmap', 0n, undefined],
      ['close', -9n, 'EBADF'],
    ],
    'each call in order: values, and errnos as results',
  );
  const many = await stub.batch(Array.from({ length: 300 }, () => ({ call: 'getppid' })));
  t.equal(many.length, 300);
  t.ok(
    many.every((r) => r.value === many[0]!.value && r.value > 0n),
    'a batch of 300',
  );
  await t.rejects(stub.batch(Array.from({ length: 1000 }, () => ({ call: 'getpid' }))), RangeError);

  // A pointer into the stub's scratch area: clock_gettime's timespec is read back through the memfd.
  const before2 = Date.now();
  const [gettime] = await stub.batch([{ call: 228, args: [0 /* CLOCK_REALTIME */, stub.scratchAddress] }]);
  t.equal(gettime!.value, 0n);
  const seconds = Number(stub.readScratch(8).readBigInt64LE(0));
  t.ok(Math.abs(seconds - before2 / 1000) < 5, 'the kernel wrote the time into the shared scratch area');

  await stub.cure();
  await t.rejects(stub.batch([{ call: 'getpid' }]), { code: 'ERR_HOSTKIT_STUB_CURED' });
  t.same({ registers: leader.getRegistersRaw(), ...processState(target.pid) }, before, 'maps, fds, signal state and registers as found');
  leader.cont();
  fs.writeFileSync(fifo, 'after');
  t.equal(await target.nextLine(), 'read 5 after', 'the read it was blocked in goes on');
});

t.test('the stub: a signal during a batch is held and raised after; the process killed mid-batch', async (t) => {
  const { target, tracee } = await blockedTarget(t);
  const stub = await tracee.remote().installStub();
  const timespec = Buffer.alloc(16);
  timespec.writeBigInt64LE(0n, 0);
  timespec.writeBigInt64LE(300_000_000n, 8); // 0.3 s
  stub.writeScratch(timespec);
  const batch = stub.batch([{ call: 'nanosleep', args: [stub.scratchAddress, 0] }, { call: 'getpid' }]);
  await new Promise((r) => setTimeout(r, 100));
  process.kill(target.pid, 'SIGWINCH'); // ignored by default: harmless when raised again
  const [slept, pid] = await batch;
  t.equal(slept!.value, 0n, 'nanosleep was restarted after the signal stop and ran to its end');
  t.equal(pid!.value, BigInt(target.pid));
  await stub.cure();
  const leader = tracee.leader!;
  const signalled = leader.nextEvent();
  leader.cont();
  t.match(await signalled, { type: 'signal', signal: 28 }, 'SIGWINCH comes when the thread runs again');
  leader.cont();

  leader.interrupt();
  await leader.nextEvent();
  const again = await tracee.remote().installStub();
  const long = Buffer.alloc(16);
  long.writeBigInt64LE(30n, 0);
  again.writeScratch(long);
  const dying = again.batch([{ call: 'nanosleep', args: [again.scratchAddress, 0] }]);
  await new Promise((r) => setTimeout(r, 100));
  process.kill(target.pid, 'SIGKILL');
  await t.rejects(dying, { code: 'ESRCH', syscall: 'remote batch of 1' });
  await again.cure(); // the process took the stub with it: nothing to do, no error
  const other = Tracee.launch(fixture('exitcode'), ['3']);
  other.leader!.cont(0);
  t.same(await other.ended(), { pid: other.pid, code: 3 }, 'the tracer still traces');
});

t.test('the stub catches a fault and reports what the signal frame says; the thread is given back whole', async (t) => {
  const { target, tracee, fifo } = await blockedTarget(t);
  const leader = tracee.leader!;
  const before = { registers: leader.getRegistersRaw(), ...processState(target.pid) };
  const stub = await tracee.remote().installStub();

  const results = await stub.batch([{ call: 'getpid' }, { call: 'touch', args: [0x10] }, { call: 'getppid' }], { catchFaults: true });
  t.same(
    results.map((r) => r.name),
    ['getpid'],
    'the batch ends at the fault: the records before it only',
  );
  t.match(stub.faultInfo(), { signal: 11, code: 1 /* SEGV_MAPERR */, address: 0x10n, errorCode: 4n /* user read, not present */, trapNumber: 14n, record: 1 });
  t.ok(stub.faultInfo()!.ip >= stub.base && stub.faultInfo()!.ip < stub.base + 0x1000n, 'the fault was in the stub');

  // A write to the stub's own read-only code page: present, write, user.
  await stub.batch([{ call: 'touch-write', args: [stub.base] }], { catchFaults: true });
  t.match(stub.faultInfo(), { signal: 11, code: 2 /* SEGV_ACCERR */, address: stub.base, errorCode: 7n, trapNumber: 14n, record: 0 });

  // A page that is there: no fault, a result of 0.
  const fine = await stub.batch(
    [
      { call: 'touch', args: [stub.scratchAddress] },
      { call: 'touch-write', args: [stub.scratchAddress] },
    ],
    { catchFaults: true },
  );
  t.same(
    fine.map((r) => r.value),
    [0n, 0n],
  );
  t.equal(stub.faultInfo(), null);

  // Without catching, a fault is an error and nothing of it stays.
  await t.rejects(stub.batch([{ call: 'touch', args: [0x10] }]), { code: 'ERR_HOSTKIT_REMOTE', message: /faulted \(signal 11\)/ });

  await stub.cure();
  t.same(
    { registers: leader.getRegistersRaw(), ...processState(target.pid) },
    before,
    'every general register (rcx and r11 too), the handlers and the mask as found',
  );
  leader.cont();
  fs.writeFileSync(fifo, 'still');
  t.equal(await target.nextLine(), 'read 5 still', 'and the program goes on');
});

t.test('the parked stub: batches with no ptrace stop, then the thread given back whole', async (t) => {
  const { target, tracee, fifo } = await blockedTarget(t);
  const leader = tracee.leader!;
  const before = { registers: leader.getRegistersRaw(), ...processState(target.pid) };
  const told: string[] = [];
  tracee.on('event', (e: { type: string }) => told.push(e.type));
  const stub = await tracee.remote().installStub();
  const parked = await stub.park();
  const stopsBefore = leader.events;
  for (let round = 0; round < 50; round++) {
    const results = await parked.batch([{ call: 'getpid' }, { call: 'close', args: [4321] }, { call: 'getppid' }]);
    if (results[0]!.value !== BigInt(target.pid) || results[1]!.errno !== 'EBADF' || results[2]!.value <= 0n) {
      t.fail(`round ${round}: ${JSON.stringify(results, (_, v) => (typeof v === 'bigint' ? String(v) : v))}`);
      break;
    }
  }
  t.equal(leader.events, stopsBefore, 'fifty batches and not one ptrace stop');
  await t.rejects(parked.batch([{ call: 'touch', args: [0x10] }]), RangeError, 'touches need the stopping mode');
  await parked.unpark();
  await t.rejects(parked.batch([{ call: 'getpid' }]), { code: 'ERR_HOSTKIT_STUB_CURED' });
  t.equal((await stub.batch([{ call: 'getpid' }]))[0]!.value, BigInt(target.pid), 'the stub still runs batches the stopping way');
  await stub.cure();
  t.same({ registers: leader.getRegistersRaw(), ...processState(target.pid) }, before, 'maps, fds, signal state and registers as found');
  t.same(told, [], 'listeners saw nothing');
  leader.cont();
  fs.writeFileSync(fifo, 'again');
  t.equal(await target.nextLine(), 'read 5 again');
});

t.test('a process under a forkexec lock: allowed calls work through the stub, refused ones stay refused', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hostkit-remote-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const fifo = path.join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  // The launcher locks fork and exec in the program it starts (seccomp, errno EACCES).
  const launcher = path.resolve(__dirname, '../../dist/forkexec/cli.js');
  const target = await startDetached(process.execPath, [launcher, '--no-fork', '--no-exec', '--', fixture('remote-target'), fifo]);
  t.teardown(target.kill);
  t.match(fs.readFileSync(`/proc/${target.pid}/status`, 'utf8'), /^Seccomp:\s+2$/m, 'the program runs under a filter');
  await eventually(() => blockedIn(target.pid) === 0, 'the target blocked in read');
  const tracee = await Tracee.attach(target.pid);
  t.teardown(() => tracee.state === 'traced' && tracee.detach());
  await tracee.stopAll();
  const stub = await tracee.remote().installStub();
  const results = await stub.batch([{ call: 'getpid' }, { call: 57 /* fork */ }, { call: 'getppid' }]);
  t.equal(results[0]!.value, BigInt(target.pid));
  t.match(results[1], { name: 'syscall 57', errno: 'EACCES' }, 'fork is still refused by the lock');
  t.ok(results[2]!.value > 0n);
  await stub.cure();
  await tracee.detach();
  fs.writeFileSync(fifo, 'locked');
  t.equal(await target.nextLine(), 'read 6 locked', 'and the program goes on');
});

/** Lines until one matches `wanted`, counting the ticker's lines on the way. */
async function lineMatching(target: { nextLine(): Promise<string> }, wanted: RegExp): Promise<{ line: string; ticks: number }> {
  let ticks = 0;
  for (;;) {
    const line = await target.nextLine();
    if (wanted.test(line)) return { line, ticks };
    if (line.startsWith('tick ')) ticks++;
  }
}

t.test('one thread of several lent to the stub while the others run: both modes, a signal to it, and nothing left', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hostkit-remote-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const fifo = path.join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const target = await startDetached(fixture('remote-threads'), [fifo]);
  t.teardown(target.kill);
  const readerTid = Number((await lineMatching(target, /^reader /)).line.split(' ')[1]);
  await eventually(() => blockedIn(target.pid, readerTid) === 0, 'the reader blocked in read');
  const tracee = await Tracee.attach(target.pid);
  t.teardown(() => tracee.state === 'traced' && tracee.detach());
  tracee.resumeAll();
  const reader = tracee.thread(readerTid);
  reader.interrupt();
  t.match(await reader.nextEvent(), { type: 'interrupted' });
  const before = { registers: reader.getRegistersRaw(), ...processState(target.pid, readerTid) };
  const remote = tracee.remote(reader);
  const stub = await remote.installStub();

  // The stopping mode: a batch that sleeps 0.2 s in the reader while the ticker goes on.
  await lineMatching(target, /^tick /);
  const timespec = Buffer.alloc(16);
  timespec.writeBigInt64LE(200_000_000n, 8);
  stub.writeScratch(timespec);
  const tickerTid = fs
    .readdirSync(`/proc/${target.pid}/task`)
    .map(Number)
    .find((tid) => tid !== target.pid && tid !== readerTid)!;
  const switches = () => Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${target.pid}/task/${tickerTid}/status`, 'utf8'))![1]);
  const switchesBefore = switches();
  const [tid, slept, pid] = await stub.batch([{ call: 'gettid' }, { call: 'nanosleep', args: [stub.scratchAddress, 0] }, { call: 'getpid' }]);
  t.equal(tid!.value, BigInt(readerTid), 'the calls ran in the lent thread');
  t.equal(slept!.value, 0n);
  t.equal(pid!.value, BigInt(target.pid));
  t.ok(switches() - switchesBefore >= 5, `the ticker slept and woke during the batch (${switches() - switchesBefore} times)`);
  t.equal(tracee.leader!.state, 'running', 'the other threads were never stopped');
  const mapped = await stub.batch([{ call: 'mmap', args: [0, 4096, 3, 0x22 /* MAP_PRIVATE|MAP_ANONYMOUS */, -1, 0] }]);
  const page = mapped[0]!.value;
  t.match(
    fs.readFileSync(`/proc/${target.pid}/maps`, 'utf8'),
    new RegExp(`^${page.toString(16)}-`, 'm'),
    "a mapping made by the reader is the whole process's",
  );

  // Parked: batches with no stop; a signal aimed at the parked thread is held and raised after.
  const parked = await stub.park();
  const stops = reader.events;
  for (let round = 0; round < 20; round++) {
    const [r] = await parked.batch([{ call: 'gettid' }]);
    if (r!.value !== BigInt(readerTid)) t.fail(`round ${round}: ${r!.value}`);
  }
  t.equal(reader.events, stops, 'twenty parked batches and not one ptrace stop');
  const sleeping = parked.batch([{ call: 'nanosleep', args: [stub.scratchAddress, 0] }, { call: 'gettid' }]);
  await new Promise((r) => setTimeout(r, 50));
  addon.tgkill(target.pid, readerTid, 28); // SIGWINCH, ignored by default: harmless when raised again
  const [sleptParked, after] = await sleeping;
  t.equal(sleptParked!.value, 0n, 'the parked sleep was restarted after the signal stop and ran to its end');
  t.equal(after!.value, BigInt(readerTid));
  await parked.unpark();
  await stub.batch([{ call: 'munmap', args: [page, 4096] }]);
  await stub.cure();
  t.same({ registers: reader.getRegistersRaw(), ...processState(target.pid, readerTid) }, before, "the reader's registers, mask and the maps as found");
  const signalled = reader.nextEvent();
  reader.cont();
  t.match(await signalled, { type: 'signal', signal: 28 }, 'SIGWINCH comes when the reader runs again');
  reader.cont();
  const ticksBefore = (await lineMatching(target, /^tick /)).line;
  t.ok(ticksBefore, 'the ticker still ticks');
  await tracee.detach();
  fs.writeFileSync(fifo, 'many');
  t.equal((await lineMatching(target, /^read /)).line, 'read 4 many', 'the read it was blocked in goes on');
});

t.test('the parked stub: the process killed during a batch is an ESRCH error at once, for that batch and the next', async (t) => {
  const { target, tracee } = await blockedTarget(t);
  const linkOf = (fd: string) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      return ''; // the descriptor readdir itself used
    }
  };
  const stubFds = () => fs.readdirSync('/proc/self/fd').filter((fd) => linkOf(fd).startsWith('/memfd:hostkit-stub')).length;
  const stub = await tracee.remote().installStub();
  const long = Buffer.alloc(16);
  long.writeBigInt64LE(30n, 0);
  stub.writeScratch(long);
  t.equal(stubFds(), 1, 'while the stub is there, we hold its memfd');
  const parked = await stub.park();
  const dying = parked.batch([{ call: 'nanosleep', args: [stub.scratchAddress, 0] }]);
  await new Promise((r) => setTimeout(r, 100));
  process.kill(target.pid, 'SIGKILL');
  await t.rejects(dying, { code: 'ESRCH', syscall: 'remote parked stub' });
  await t.rejects(parked.batch([{ call: 'getpid' }]), { code: 'ESRCH' });
  await t.rejects(parked.unpark(), { code: 'ESRCH' });
  await stub.cure();
  t.equal(stubFds(), 0, 'our descriptor of the memfd is closed: nothing leaks on our side');
});
