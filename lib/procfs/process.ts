import fs from 'node:fs';
import { hasCode } from '../errors';
import { procCall, procDir, readProcBuffer, readProcLink, readProcText, splitNul } from './read';

/** Thread ids of a process, ascending. */
export function tasks(pid: number): number[] {
  const dir = `${procDir(pid)}/task`;
  return procCall(pid, dir, () => fs.readdirSync(dir))
    .map(Number)
    .filter(Number.isInteger)
    .sort((a, b) => a - b);
}

/** The executable's path; " (deleted)" is kept, as the kernel says it. */
export function exe(pid: number): string {
  return readProcLink(pid, 'exe');
}

export function cwd(pid: number): string {
  return readProcLink(pid, 'cwd');
}

/** argv; empty for a kernel thread or a zombie. */
export function cmdline(pid: number): string[] {
  return splitNul(readProcBuffer(pid, 'cmdline'));
}

/** The initial environment as 'KEY=VALUE' strings, in order. */
export function environ(pid: number): string[] {
  return splitNul(readProcBuffer(pid, 'environ'));
}

/** The thread name (at most 15 bytes, anything but NUL, newlines included). */
export function comm(pid: number, tid?: number): string {
  const text = readProcText(pid, 'comm', tid);
  return text.endsWith('\n') ? text.slice(0, -1) : text;
}

export interface OpenFile {
  fd: number;
  /** What the link says: a path, 'socket:[123]', 'pipe:[45]', 'anon_inode:[eventfd]' ... */
  target: string;
}

/** Open file descriptors; one closed between listing and reading is left out. */
export function fds(pid: number): OpenFile[] {
  const dir = `${procDir(pid)}/fd`;
  const result: OpenFile[] = [];
  for (const name of procCall(pid, dir, () => fs.readdirSync(dir))) {
    try {
      result.push({ fd: Number(name), target: readProcLink(pid, `fd/${name}`) });
    } catch (err) {
      if (!hasCode(err, 'ENOENT')) throw err;
    }
  }
  return result.sort((a, b) => a.fd - b.fd);
}
