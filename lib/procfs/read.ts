import fs from 'node:fs';
import { SystemError, checkPid, fromNodeError, hasCode } from '../errors';

/** The /proc directory of a process, or of one of its threads. */
export function procDir(pid: number, tid?: number): string {
  checkPid(pid);
  if (tid === undefined) return `/proc/${pid}`;
  checkPid(tid, 'tid');
  return `/proc/${pid}/task/${tid}`;
}

/**
 * Runs one /proc access, turning "the directory is gone" into ESRCH (the
 * process vanished) and any other failure into a SystemError naming the pid.
 */
export function procCall<T>(pid: number, path: string, access: () => T): T {
  try {
    return access();
  } catch (err) {
    if (hasCode(err, 'ENOENT', 'ESRCH') && !fs.existsSync(path.slice(0, path.lastIndexOf('/')))) {
      throw new SystemError(3, (err as SystemError).syscall ?? 'open', { pid, path });
    }
    throw fromNodeError(err, { pid, path });
  }
}

export function readProcBuffer(pid: number, file: string, tid?: number): Buffer {
  const path = `${procDir(pid, tid)}/${file}`;
  return procCall(pid, path, () => fs.readFileSync(path));
}

export function readProcText(pid: number, file: string, tid?: number): string {
  return readProcBuffer(pid, file, tid).toString('utf8');
}

export function readProcLink(pid: number, file: string, tid?: number): string {
  const path = `${procDir(pid, tid)}/${file}`;
  return procCall(pid, path, () => fs.readlinkSync(path));
}

/** NUL-separated strings (cmdline, environ); a trailing NUL ends the list, it does not add an empty entry. */
export function splitNul(buffer: Buffer): string[] {
  if (buffer.length === 0) return [];
  const text = buffer.toString('utf8');
  const parts = text.split('\0');
  if (parts[parts.length - 1] === '') parts.pop();
  return parts;
}
