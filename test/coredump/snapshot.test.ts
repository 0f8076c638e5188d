/** Live snapshots: the process resumes as before; filters, modes, outputs; the event loop stays free. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import t from 'tap';
import { openCore, readCoreStream, snapshot } from '../../lib/coredump';
import { fixture, procState, startDetached, symbol } from '../helpers';
import { tempDir } from './gdb';

const binary = fixture('core-target');
const dir = tempDir();
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

t.test('the process runs on exactly as before, and still handles signals', async (t) => {
  const target = await startDetached(fixture('threads'), ['4']);
  t.teardown(target.kill);
  const result = await snapshot(target.pid, path.join(dir, 'spinning.core'));
  t.equal(result.threads, 5);
  for (const tid of fs.readdirSync(`/proc/${target.pid}/task`).map(Number)) {
    t.notOk(['t', 'T'].includes(procState(target.pid, tid)), `tid ${tid} is not left stopped`);
  }
  t.match(fs.readFileSync(`/proc/${target.pid}/status`, 'utf8'), /TracerPid:\t0\n/, 'no tracer left');
  process.kill(target.pid, 'SIGUSR1');
  t.equal(await target.nextLine(), 'alive 1', 'its threads kept running and it handled SIGUSR1');
});

t.test('a stopped process (SIGSTOP) is snapshotted and left stopped', async (t) => {
  const target = await startDetached(binary, ['threads']);
  t.teardown(target.kill);
  process.kill(target.pid, 'SIGSTOP');
  await new Promise((r) => setTimeout(r, 50));
  await snapshot(target.pid, path.join(dir, 'stopped.core'));
  const core = openCore(path.join(dir, 'stopped.core'));
  t.teardown(() => core.close());
  t.equal(core.process?.sname, 'T', 'NT_PRPSINFO says stopped');
  t.equal(core.threads.length, 9);
  for (const tid of fs.readdirSync(`/proc/${target.pid}/task`).map(Number)) t.equal(procState(target.pid, tid), 'T', `tid ${tid} is still stopped`);
  process.kill(target.pid, 'SIGCONT');
});

t.test('coredump_filter is honoured; --all dumps file text; output is sparse', async (t) => {
  const target = await startDetached(binary, ['single']);
  t.teardown(target.kill);
  const byDefault = await snapshot(target.pid, path.join(dir, 'default.core'));
  t.ok(byDefault.sparse && byDefault.written < byDefault.size / 2, `sparse: ${byDefault.written} of ${byDefault.size} bytes written`);
  t.ok(fs.statSync(path.join(dir, 'default.core')).blocks * 512 < byDefault.size, 'fewer blocks than bytes');

  fs.writeFileSync(`/proc/${target.pid}/coredump_filter`, '0');
  await snapshot(target.pid, path.join(dir, 'filter0.core'));
  const none = openCore(path.join(dir, 'filter0.core'));
  t.teardown(() => none.close());
  t.throws(() => none.memory.read(symbol(binary, 'message'), 1), { name: 'UnavailableMemoryError' }, 'filter 0: no data segment');
  t.ok(
    none.memory.segments.some((s) => s.filesz > 0),
    'the vDSO and friends are always dumped',
  );
  fs.writeFileSync(`/proc/${target.pid}/coredump_filter`, '33');

  await snapshot(target.pid, path.join(dir, 'all.core'), { mode: 'all' });
  const all = openCore(path.join(dir, 'all.core'));
  t.teardown(() => all.close());
  const text = all.files.find((f) => f.path === binary && f.offset === 4096n)!;
  const fromFile = Buffer.alloc(256);
  const fd = fs.openSync(binary, 'r');
  fs.readSync(fd, fromFile, 0, 256, 4096);
  fs.closeSync(fd);
  t.ok(all.memory.read(text.start, 256).equals(fromFile), '--all: program text as in the file');
  t.equal(all.memory.readCString(symbol(binary, 'message')), 'hostkit core fixture');
});

/** Until the main thread sits in read(2): it prints "ready" just before, and two snapshots must see it the same. */
async function mainThreadInRead(pid: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (fs.readFileSync(`/proc/${pid}/syscall`, 'utf8').startsWith('0 ')) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`process ${pid} never blocked in read()`);
}

t.test('one pass into a stream: the stream reader gets the same core as the file', async (t) => {
  const target = await startDetached(binary, ['threads']);
  t.teardown(target.kill);
  await mainThreadInRead(target.pid);
  const file = path.join(dir, 'threads.core');
  await snapshot(target.pid, file);
  const pipe = new PassThrough();
  const [streamed] = await Promise.all([readCoreStream(pipe), snapshot(target.pid, pipe).then(() => pipe.end())]);
  const fromFile = openCore(file);
  t.teardown(() => fromFile.close());
  t.same(
    streamed.threads.map((th) => th.registers),
    fromFile.threads.map((th) => th.registers),
    'same registers',
  );
  t.same(streamed.programHeaders, fromFile.programHeaders, 'same layout');
  t.equal(streamed.memory.readCString(symbol(binary, 'message')), 'hostkit core fixture');
  const sp = streamed.threads[3]!.registers.rsp!;
  t.ok(streamed.memory.read(sp, 256).equals(fromFile.memory.read(sp, 256)), 'same stack bytes');
  t.equal(streamed.notes.find((n) => n.type === 0x205)?.name, 'LINUX', 'NT_X86_XSAVE_LAYOUT after the threads, as the kernel writes it');
});

t.test('--minimal keeps stacks and what registers point at, and is small', async (t) => {
  const target = await startDetached(binary, ['threads']);
  t.teardown(target.kill);
  const result = await snapshot(target.pid, path.join(dir, 'minimal.core'), { mode: 'minimal' });
  t.ok(result.memoryBytes < 2 << 20, `${result.memoryBytes} bytes of memory`);
  const core = openCore(path.join(dir, 'minimal.core'));
  t.teardown(() => core.close());
  for (const th of core.threads) t.ok(core.memory.read(th.registers.rsp!, 64).length === 64, `tid ${th.tid}: stack at rsp`);
  t.ok(
    core.buildIds().some((b) => b.path === binary),
    'ELF headers kept: build-ids found',
  );
  const gdb = execFileSync('gdb', ['-nx', '-batch', binary, path.join(dir, 'minimal.core'), '-ex', 'thread apply all bt', '-ex', 'info sharedlibrary'], {
    encoding: 'utf8',
  });
  t.match(gdb, /level_7 .* at .*core-target\.c/, 'gdb unwinds every thread');
  t.match(gdb, /libc\.so\.6/, 'gdb finds the libraries through the kept link map');
});

t.test('memory is read off the event loop', async (t) => {
  const target = await startDetached(binary, ['big', '256']);
  t.teardown(target.kill);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 2);
  const result = await snapshot(target.pid, path.join(dir, 'big.core'));
  clearInterval(timer);
  t.ok(result.memoryBytes > 256 << 20);
  t.ok(ticks >= 3, `timers ran ${ticks} times during the snapshot`);
  t.ok(result.written < 16 << 20, `zero pages are holes: ${result.written} bytes written`);
});

t.test('never-populated anonymous pages are not read, and come out as zeros', async (t) => {
  const target = await startDetached(binary, ['sparse', '256']);
  t.teardown(target.kill);
  const file = path.join(dir, 'sparse.core');
  const result = await snapshot(target.pid, file);
  t.ok(result.absentBytes > 200 << 20, `${result.absentBytes} bytes known to be zero from pagemap`);
  const core = openCore(file);
  t.teardown(() => core.close());
  const area = core.memory.read(symbol(binary, 'sparse_area'), 8).readBigUInt64LE(0);
  t.equal(core.memory.read(area + 5n * 256n * 4096n, 1)[0], 6, 'a written byte');
  t.ok(core.memory.read(area + 4096n, 256 * 4096 - 4096).equals(Buffer.alloc(256 * 4096 - 4096)), 'untouched pages read as zeros');
});

t.test('bad arguments and vanished processes', async (t) => {
  await t.rejects(snapshot(-1, path.join(dir, 'x')), RangeError);
  await t.rejects(snapshot(1.5, path.join(dir, 'x')), TypeError);
  await t.rejects(snapshot(process.pid, path.join(dir, 'x'), { mode: 'everything' as never }), TypeError);
  await t.rejects(snapshot(process.pid, path.join(dir, 'x'), { chunkSize: 100 }), RangeError);
  await t.rejects(snapshot(0x3ffffff0, path.join(dir, 'x')), { name: 'SystemError', code: 'ESRCH' });
  t.notOk(fs.existsSync(path.join(dir, 'x')), 'no file is left behind when nothing could be dumped');
});
