/** One line per crash, to stderr and to the kernel log (/dev/kmsg: the kernel starts handlers with no syslog socket guarantee). */
import fs from 'node:fs';

/** LOG_USER | LOG_ERR, as syslog(3) numbers it; kmsg records carry at most ~1 KiB. */
const KMSG_PREFIX = '<11>';
const KMSG_MAX = 900;

export function logLine(line: string): void {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it escapes
  const clean = line.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  try {
    fs.writeSync(2, `cored: ${clean}\n`);
  } catch {
    /* stderr may be closed */
  }
  try {
    const fd = fs.openSync('/dev/kmsg', 'w');
    try {
      fs.writeSync(fd, `${KMSG_PREFIX}cored[${process.pid}]: ${clean.slice(0, KMSG_MAX)}\n`);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    /* no kmsg (a container): stderr and the index still have it */
  }
}
