/**
 * fanotify permission events (linux/fanotify.h): the exec event veriexec's
 * enforcement decides on, and pre-content events (Linux 6.14+, only some
 * filesystems). Each probe makes a group, marks one file, and closes the
 * group at once, which removes the mark.
 */
import { errnoCode } from '../../errors';
import { libc } from '../../native';
import type { Finding } from './finding';
import { mountOf } from '../../procfs';

const FAN_CLOEXEC = 0x1;
const FAN_CLASS_CONTENT = 0x4;
const FAN_CLASS_PRE_CONTENT = 0x8;
const FAN_MARK_ADD = 0x1;
const FAN_OPEN_PERM = 0x10000n;
const FAN_OPEN_EXEC_PERM = 0x40000n;
const FAN_PRE_ACCESS = 0x100000n;
const O_RDONLY_CLOEXEC_LARGEFILE = 0o2000000 | 0o100000;

/** 0 when a group of that class can mark `path` for `mask`, else -errno; which call failed. */
function tryMark(groupClass: number, mask: bigint, path: string): { rc: number; syscall?: string } {
  let fd: number;
  try {
    fd = libc().fanotifyInit(groupClass | FAN_CLOEXEC, O_RDONLY_CLOEXEC_LARGEFILE);
  } catch (err) {
    return { rc: (err as NodeJS.ErrnoException).errno ?? -1, syscall: 'fanotify_init' };
  }
  try {
    libc().fanotifyMark(fd, FAN_MARK_ADD, mask, path);
    return { rc: 0 };
  } catch (err) {
    return { rc: (err as NodeJS.ErrnoException).errno ?? -1, syscall: 'fanotify_mark' };
  } finally {
    libc().close(fd);
  }
}

export function probeFanotify(file = process.execPath): Finding[] {
  const fs = mountOf(file);
  const where = `${file} (${fs?.type ?? 'unknown filesystem'})`;
  const perm = tryMark(FAN_CLASS_CONTENT, FAN_OPEN_EXEC_PERM | FAN_OPEN_PERM, file);
  const pre = tryMark(FAN_CLASS_PRE_CONTENT, FAN_PRE_ACCESS, file);
  const explain = (r: { rc: number; syscall?: string }) =>
    r.rc === -1 || r.rc === -13 ? `${r.syscall}: ${errnoCode(r.rc)} (needs CAP_SYS_ADMIN)` : `${r.syscall}: ${errnoCode(r.rc)}`;
  return [
    {
      facility: 'fanotify permission events',
      state: perm.rc === 0 ? 'ok' : 'missing',
      detail: perm.rc === 0 ? `FAN_OPEN_EXEC_PERM and FAN_OPEN_PERM marked on ${where}` : explain(perm),
      neededBy: 'veriexec enforce (fingerprints checked at exec and library open)',
      fix: perm.rc === 0 ? undefined : 'run as root; the kernel needs CONFIG_FANOTIFY_ACCESS_PERMISSIONS',
      facts: { works: perm.rc === 0, error: perm.rc === 0 ? null : errnoCode(perm.rc) },
    },
    {
      facility: 'fanotify pre-content events',
      state: pre.rc === 0 ? 'ok' : 'missing',
      detail: pre.rc === 0 ? `FAN_PRE_ACCESS marked on ${where}; fired per read() and mmap(), never per page fault` : `${explain(pre)} on ${where}`,
      neededBy: 'nothing yet (veriexec checks pages through its own FUSE mount, since these events miss page faults)',
      fix: pre.rc === 0 ? undefined : 'Linux 6.14+ on ext4, xfs or btrfs',
      facts: { works: pre.rc === 0, error: pre.rc === 0 ? null : errnoCode(pre.rc), filesystem: fs?.type ?? null },
    },
  ];
}
