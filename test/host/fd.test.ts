/**
 * hostkit fd on a real program that keeps printing: its stdout redirected
 * to a file and to /dev/null while it runs, a descriptor closed, and bad
 * requests (a descriptor not open, a dead process, a process not ours)
 * refused with nothing changed. The oracle is /proc/PID/fd and the bytes
 * that arrive where they should.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { closeFd, listFds, redirectFd } from '../../lib/host/fd';
import { eventually, fixture, startDetached } from '../helpers';

const CLI = path.resolve(__dirname, '../../dist/host/cli.js');

function link(pid: number, fd: number): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
  } catch {
    return undefined;
  }
}

t.test('stdout of a running program redirected to a file, then to /dev/null; a descriptor closed', async (t) => {
  const target = await startDetached(fixture('ticker'));
  t.teardown(target.kill);
  t.match(await target.nextLine(), /^tick \d+$/, 'it prints to us first');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hostkit-fd-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const log = path.join(dir, 'out.log');

  const listed = JSON.parse(spawnSync(process.execPath, [CLI, 'fd', String(target.pid), '--json'], { encoding: 'utf8' }).stdout);
  t.same(listed, listFds(target.pid), 'the listing is /proc/PID/fd');
  t.match(listed.slice(0, 4), [{ fd: 0 }, { fd: 1, target: /^(pipe|socket):\[\d+\]$/ }, { fd: 2 }, { fd: 3, target: '/dev/zero' }]);

  const before = await redirectFd(target.pid, 1, log);
  t.equal(before, listed[1].target, 'what fd 1 was');
  t.equal(link(target.pid, 1), log, 'fd 1 is the file now');
  await eventually(() => /tick \d+\ntick \d+\n/.test(fs.readFileSync(log, 'utf8')), 'ticks in the file');
  t.equal(link(target.pid, 3), '/dev/zero', 'the other descriptors are untouched');
  t.equal(listFds(target.pid).length, listed.length, 'no descriptor left behind by the stub');

  const r = spawnSync(process.execPath, [CLI, 'fd', String(target.pid), 'redirect', '1', '/dev/null'], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, `descriptor 1 of process ${target.pid}: ${log} -> /dev/null`);
  const size = fs.statSync(log).size;
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.equal(fs.statSync(log).size, size, 'nothing more goes to the file');
  t.equal(link(target.pid, 1), '/dev/null');

  await closeFd(target.pid, 3);
  t.equal(link(target.pid, 3), undefined, 'fd 3 is closed');
  t.equal(fs.readFileSync(`/proc/${target.pid}/stat`, 'utf8').split(') ')[1]![0] !== 'Z', true, 'and the program runs on');
});

t.test('bad requests are refused and change nothing', async (t) => {
  const target = await startDetached(fixture('ticker'));
  t.teardown(target.kill);
  const fdsBefore = listFds(target.pid);
  await t.rejects(closeFd(target.pid, 7), { code: 'ERR_HOSTKIT_FD_NOT_OPEN', message: /descriptor 7 is not open in process \d+: nothing changed/ });
  await t.rejects(redirectFd(target.pid, 1, '/nonexistent-dir/x.log'), { code: 'ENOENT', syscall: 'remote openat', path: '/nonexistent-dir/x.log' });
  t.same(listFds(target.pid), fdsBefore, 'the descriptors are as they were');
  t.match(await target.nextLine(), /^tick \d+$/, 'and its output still comes to us');

  const gone = spawnSync('/bin/true').pid!;
  const dead = spawnSync(process.execPath, [CLI, 'fd', String(gone), 'close', '1'], { encoding: 'utf8' });
  t.equal(dead.status, 1);
  t.match(dead.stderr, /^hostkit fd: ESRCH: no such process, .*pid \d+\)\n$/);

  // Not ours: an unprivileged process (hostkit loaded as root, then uid 65534) may not touch a root process.
  const script = `const fd = require(${JSON.stringify(path.resolve(__dirname, '../../dist/host/fd'))});
    require(${JSON.stringify(path.resolve(__dirname, '../../dist/native'))}).addon.cpuid(0, 0);
    process.setgid(65534); process.setuid(65534);
    fd.closeFd(${target.pid}, 3).then(() => console.log('closed'), (e) => console.log(JSON.stringify({ code: e.code })));`;
  const notOurs = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  t.match(JSON.parse(notOurs.stdout), { code: /^(EACCES|EPERM)$/ }, notOurs.stderr);
  t.same(listFds(target.pid), fdsBefore, 'still as they were');
});
