import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { procfs } from '../../lib';
import { AuxvType } from '../../lib/procfs';
import { fixture, procState, startDetached } from '../helpers';

/** A process with a hostile name, a mapped file whose path has spaces and a newline, and a deleted mapping. */
async function startOddProcess(t: Test) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hostkit procfs '));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const keep = path.join(dir, 'kept file\nwith newline');
  const gone = path.join(dir, 'deleted file');
  fs.writeFileSync(keep, Buffer.alloc(4096, 1));
  fs.writeFileSync(gone, Buffer.alloc(4096, 2));
  const name = 'x) R 1 (\ny z'; // 12 bytes: fits comm's 15
  const target = await startDetached(fixture('procfs'), [name, keep, gone]);
  t.teardown(target.kill);
  // It prints "ready" just before it goes to sleep: wait for the sleep, so its state reads S.
  for (let i = 0; i < 200 && procState(target.pid) !== 'S'; i++) await new Promise((r) => setTimeout(r, 10));
  return { ...target, name, keep, gone };
}

t.test('maps: paths with spaces and newlines, deleted files, special names', async (t) => {
  const p = await startOddProcess(t);
  const maps = procfs.maps(p.pid);
  const kept = maps.find((m) => m.path === p.keep);
  t.ok(kept, 'the path with a space and a newline is whole');
  t.equal(kept!.deleted, false);
  t.equal(kept!.perms, 'r--p');
  t.equal(kept!.end - kept!.start, 4096n);
  t.equal(kept!.inode, fs.statSync(p.keep).ino);
  const deleted = maps.find((m) => m.path === p.gone);
  t.ok(deleted, 'the deleted mapping keeps its path without the suffix');
  t.equal(deleted!.deleted, true);
  for (const special of ['[stack]', '[vvar]', '[vdso]']) {
    const m = maps.find((x) => x.path === special);
    t.ok(m?.special, `${special} is there and special`);
  }
  t.ok(
    maps.some((m) => m.path === fixture('procfs') && m.executable),
    'the executable text',
  );
  t.ok(
    maps.some((m) => m.path === '' && m.writable),
    'anonymous memory has an empty path',
  );
});

t.test('stat and status survive a hostile process name', async (t) => {
  const p = await startOddProcess(t);
  const stat = procfs.stat(p.pid);
  t.equal(stat.comm, p.name);
  t.equal(stat.pid, p.pid);
  t.equal(stat.state, 'S');
  t.equal(stat.ppid, 1, 'started through sh, then orphaned');
  t.equal(stat.numThreads, 1);
  t.ok(stat.startTime > 0n);
  t.equal(procfs.stat(p.pid, p.pid).comm, p.name, 'per-thread stat');
  const status = procfs.status(p.pid);
  t.equal(status.name, p.name, 'status unescapes the name');
  t.equal(status.pid, p.pid);
  t.equal(status.tgid, p.pid);
  t.equal(status.tracerPid, 0);
  t.same(status.uid, [0, 0, 0, 0]);
  t.equal(status.threads, 1);
  t.equal(status.sigBlocked, 1n << 11n, 'SIGUSR2 (bit 11) blocked');
  t.equal(procfs.comm(p.pid), p.name);
});

t.test('tasks, exe, cwd, cmdline, environ, fds, auxv', async (t) => {
  const p = await startOddProcess(t);
  t.same(procfs.tasks(p.pid), [p.pid]);
  t.equal(procfs.exe(p.pid), fixture('procfs'));
  t.equal(procfs.cwd(p.pid), process.cwd());
  t.same(procfs.cmdline(p.pid), [fixture('procfs'), p.name, p.keep, p.gone]);
  t.ok(procfs.environ(p.pid).includes(`PATH=${process.env.PATH}`));
  const fds = procfs.fds(p.pid);
  t.ok(
    fds.some((f) => f.target === p.keep),
    'the kept file is an open fd',
  );
  t.ok(
    fds.every((f) => f.target !== p.gone),
    'the closed one is not',
  );
  const auxv = procfs.auxv(p.pid);
  t.equal(auxv.get(AuxvType.AT_PAGESZ), 4096n);
  t.ok(auxv.get(AuxvType.AT_ENTRY)! > 0n);
  t.equal(auxv.raw.length % 16, 0);

  const threads = await startDetached(fixture('threads'), ['3']);
  t.teardown(threads.kill);
  t.equal(procfs.tasks(threads.pid).length, 4, 'the main thread and three workers');
});

t.test('a vanished pid gives ESRCH naming the pid, not ENOENT', async (t) => {
  const gone = spawnSync('/bin/true').pid!;
  const readers: [string, () => unknown][] = [
    ['maps', () => procfs.maps(gone)],
    ['stat', () => procfs.stat(gone)],
    ['status', () => procfs.status(gone)],
    ['tasks', () => procfs.tasks(gone)],
    ['auxv', () => procfs.auxv(gone)],
    ['exe', () => procfs.exe(gone)],
    ['cwd', () => procfs.cwd(gone)],
    ['cmdline', () => procfs.cmdline(gone)],
    ['environ', () => procfs.environ(gone)],
    ['comm', () => procfs.comm(gone)],
    ['fds', () => procfs.fds(gone)],
  ];
  for (const [name, read] of readers) t.throws(read, { name: 'SystemError', code: 'ESRCH', errno: -3, pid: gone }, name);
  t.throws(() => procfs.maps(-4), RangeError);
  t.throws(() => procfs.stat('1' as never), TypeError);
});

t.test('parsers reject malformed text with a clear error', async (t) => {
  t.throws(() => procfs.parseMaps('not a maps line\n'), /unexpected line in maps/);
  t.throws(() => procfs.parseStat('123 no parens'), /malformed stat/);
  const crafted = procfs.parseStat(`7 (a) b) c) S 1 ${'0 '.repeat(40)}`);
  t.equal(crafted.comm, 'a) b) c', 'the last parenthesis closes the name');
  t.equal(crafted.state, 'S');
});
