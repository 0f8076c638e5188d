import t from 'tap';
import { SystemError } from '../lib/errors';
import { addon, libc } from '../lib/native';

t.test('SystemError looks like a Node fs error', async (t) => {
  const e = new SystemError(3, 'ptrace(PTRACE_SEIZE)', { tid: 1234 });
  t.equal(e.code, 'ESRCH');
  t.equal(e.errno, -3);
  t.equal(e.syscall, 'ptrace(PTRACE_SEIZE)');
  t.equal(e.tid, 1234);
  t.equal(e.message, 'ESRCH: no such process, ptrace(PTRACE_SEIZE) (tid 1234)');
  t.ok(e instanceof Error);
});

t.test("errnos missing from libuv's table still get their names", async (t) => {
  const e = new SystemError(10, 'waitpid', { tid: 7 });
  t.equal(e.code, 'ECHILD');
  t.equal(e.errno, -10);
  t.equal(e.message, 'ECHILD: no child processes, waitpid (tid 7)');
  t.equal(new SystemError(122, 'write').code, 'EDQUOT');
  t.equal(new SystemError(999, 'x').code, 'Unknown system error 999');
});

t.test('the addon throws SystemError from native code', async (t) => {
  t.throws(() => addon.ptrace(0x4206, 0x3ffffff0, 0, 0), { name: 'SystemError', code: 'ESRCH', syscall: 'ptrace(PTRACE_SEIZE)', tid: 0x3ffffff0 });
  t.throws(() => addon.ptrace(0x4206, 'x' as never, 0, 0), TypeError);
  t.throws(() => addon.tgkill(0x3ffffff0, 0x3ffffff1, 0), { name: 'SystemError', code: 'ESRCH', syscall: 'tgkill', pid: 0x3ffffff0, tid: 0x3ffffff1 });
  t.throws(() => addon.tgkill(process.pid, 0, 0), TypeError);
  t.throws(() => addon.ioctlBuffer(0x3ffff, (3 << 30) | (8 << 16) | (0x66 << 8) | 17, Buffer.alloc(8), 'TEST'), {
    name: 'SystemError',
    code: 'EBADF',
    syscall: 'ioctl(TEST)',
    fd: 0x3ffff,
  });
});

t.test('libc through koffi throws SystemError', async (t) => {
  t.throws(() => libc().kill(0x3ffffff0, 0), { code: 'ESRCH', syscall: 'kill', pid: 0x3ffffff0 });
  t.throws(() => libc().pidfdOpen(0x3ffffff0), { code: 'ESRCH', syscall: 'pidfd_open' });
});
