/**
 * pidfdInfo and peerPidfd against real processes: a live child, a reaped
 * one (its exit status still readable, its pid no longer reported), one
 * killed by a signal, the client of a unix socket, and the errors of fds
 * that are no pidfd or no socket.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { libc } from '../../lib/native';
import { CoredumpMask, PidfdInfoMask, peerPidfd, pidfdInfo } from '../../lib/procfs';

function child(script: string): ChildProcess {
  return spawn('/bin/sh', ['-c', script], { stdio: 'ignore' });
}

t.test('a live process: pid, parent, credentials, and that it would dump as its user', async (t) => {
  const c = child('sleep 30');
  t.teardown(() => c.kill('SIGKILL'));
  const fd = libc().pidfdOpen(c.pid!);
  t.teardown(() => fs.closeSync(fd));
  const info = pidfdInfo(fd);
  t.equal(info.pid, c.pid);
  t.equal(info.tgid, c.pid);
  t.equal(info.ppid, process.pid);
  t.equal(info.uid, process.getuid!());
  t.equal(info.egid, process.getegid!());
  t.notOk(info.mask & PidfdInfoMask.EXIT, 'no exit status while it runs');
  t.equal(info.coredumpMask, CoredumpMask.USER, 'dumpable, as its user, not dumped');
});

t.test('a reaped process: its wait status stays readable, its pid is no longer claimed', async (t) => {
  const exited = child('exit 3');
  const fd = libc().pidfdOpen(exited.pid!);
  t.teardown(() => fs.closeSync(fd));
  await once(exited, 'exit');
  const info = pidfdInfo(fd);
  t.ok(info.mask & PidfdInfoMask.EXIT);
  t.equal(info.exitCode, 3 << 8, 'exit(3) as a wait status');
  t.equal(info.pid, undefined, 'no pid: a reused number can never be described through this pidfd');

  const killed = child('sleep 30');
  const kfd = libc().pidfdOpen(killed.pid!);
  t.teardown(() => fs.closeSync(kfd));
  killed.kill('SIGKILL');
  await once(killed, 'exit');
  t.equal(pidfdInfo(kfd).exitCode, 9, 'killed by SIGKILL, no core');
});

t.test("a unix socket's peer: SO_PEERPIDFD names the client process", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidfd-test-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const socketPath = path.join(dir, 's.sock');
  const server = net.createServer();
  server.listen(socketPath);
  await once(server, 'listening');
  t.teardown(() => server.close());
  const accepted = once(server, 'connection');
  const client = spawn(process.execPath, ['-e', `require('node:net').connect(${JSON.stringify(socketPath)}); setTimeout(() => {}, 30000)`], {
    stdio: 'ignore',
  });
  t.teardown(() => client.kill('SIGKILL'));
  const [socket] = (await accepted) as [net.Socket];
  t.teardown(() => socket.destroy());
  const fd = (socket as unknown as { _handle: { fd: number } })._handle.fd;
  const pidfd = peerPidfd(fd);
  t.teardown(() => fs.closeSync(pidfd));
  t.equal(pidfdInfo(pidfd).pid, client.pid);
});

t.test('fds that are no pidfd or no socket: SystemErrors naming the call and the fd', async (t) => {
  const file = fs.openSync('/proc/self/status', 'r');
  t.teardown(() => fs.closeSync(file));
  t.throws(() => pidfdInfo(file), { code: 'ENOTTY', syscall: 'ioctl(PIDFD_GET_INFO)', fd: file });
  t.throws(() => peerPidfd(file), { code: 'ENOTSOCK', syscall: 'getsockopt(SO_PEERPIDFD)', fd: file });
  t.throws(() => pidfdInfo(987654), { code: 'EBADF', fd: 987654 });
});
