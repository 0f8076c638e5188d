/** pidfds: pidfd_open (5.3) and what PIDFD_GET_INFO (6.13; coredumps 6.16) reports. */
import fs from 'node:fs';
import { errnoCode } from '../../errors';
import { libc } from '../../native';
import { PidfdInfoMask, pidfdInfo } from '../../procfs/pidfd';
import type { Finding } from './finding';

export function probePidfd(): Finding {
  let fd: number;
  try {
    fd = libc().pidfdOpen(process.pid);
  } catch (err) {
    return {
      facility: 'pidfd',
      state: 'missing',
      detail: `pidfd_open: ${errnoCode((err as NodeJS.ErrnoException).errno ?? 0)} (before Linux 5.3)`,
      neededBy: 'cored (naming a crashed process for good, against pid reuse)',
      fix: 'Linux 5.3+; cored then falls back to the pid and checks its start time',
      facts: { open: false, getInfo: false, coredump: false },
    };
  }
  let mask = 0;
  let infoError = '';
  try {
    mask = pidfdInfo(fd).mask;
  } catch (err) {
    infoError = errnoCode((err as NodeJS.ErrnoException).errno ?? 0);
  } finally {
    fs.closeSync(fd);
  }
  const coredump = (mask & PidfdInfoMask.COREDUMP) !== 0;
  return {
    facility: 'pidfd',
    state: infoError ? 'limited' : 'ok',
    detail: infoError
      ? `pidfd_open works; PIDFD_GET_INFO: ${infoError} (before Linux 6.13)`
      : `pidfd_open and PIDFD_GET_INFO work${coredump ? ', with coredump information' : ''}`,
    neededBy: 'cored (naming a crashed process for good, against pid reuse)',
    fix: infoError ? 'Linux 6.13+ for PIDFD_GET_INFO; cored reads /proc meanwhile' : undefined,
    facts: { open: true, getInfo: !infoError, coredump },
  };
}
