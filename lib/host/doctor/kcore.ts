/** /proc/kcore: the running kernel's memory as an ELF core, for gdbsock's kernel target. */
import fs from 'node:fs';
import type { Finding } from './finding';

export const KCORE = '/proc/kcore';

export function probeKcore(file = KCORE): Finding {
  let error = '';
  try {
    fs.closeSync(fs.openSync(file, 'r'));
  } catch (err) {
    error = (err as NodeJS.ErrnoException).code ?? 'error';
  }
  const absent = error === 'ENOENT';
  return {
    facility: '/proc/kcore',
    state: error ? 'missing' : 'ok',
    detail: error ? (absent ? 'absent: the kernel is built without CONFIG_PROC_KCORE' : `cannot be opened: ${error} (needs CAP_SYS_RAWIO)`) : 'readable',
    neededBy: 'gdbsock 0 (the running kernel, read-only)',
    fix: error ? (absent ? 'a kernel with CONFIG_PROC_KCORE, or give gdbsock 0 --kcore a saved ELF core' : 'run as root') : undefined,
    facts: { readable: !error, error: error || null },
  };
}
