/**
 * Thread names for qXfer:threads. gdb asks for every thread's name at every
 * stop: one pread on a kept-open /proc comm file, not open/read/close.
 */
import fs from 'node:fs';
import { hasCode } from '../../../errors';
import { addon } from '../../../native';

export class ThreadNames {
  private readonly fds = new Map<number, number>();
  private readonly buffer = Buffer.alloc(64);
  /** Each thread's name as last read: a thread reaped keeps it until forgotten. */
  private readonly lastRead = new Map<number, string>();

  constructor(private readonly pid: number) {}

  /** The thread's comm; once it is reaped, the last one read (the name is optional). */
  name(tid: number): string | undefined {
    try {
      let fd = this.fds.get(tid);
      if (fd === undefined) {
        fd = fs.openSync(`/proc/${this.pid}/task/${tid}/comm`, 'r');
        this.fds.set(tid, fd);
      }
      const n = addon.pread(fd, this.buffer, 0, this.buffer.length, 0n);
      const text = this.buffer.toString('utf8', 0, n);
      const name = text.endsWith('\n') ? text.slice(0, -1) : text;
      this.lastRead.set(tid, name);
      return name;
    } catch (err) {
      // Reaped: its task directory is gone (ENOENT), or the file kept open reads ESRCH.
      if (!hasCode(err, 'ENOENT', 'ESRCH')) throw err;
      this.close(tid);
      return this.lastRead.get(tid);
    }
  }

  forget(tid: number): void {
    this.lastRead.delete(tid);
    this.close(tid);
  }

  private close(tid: number): void {
    const fd = this.fds.get(tid);
    if (fd === undefined) return;
    this.fds.delete(tid);
    fs.closeSync(fd);
  }

  forgetAll(): void {
    for (const tid of [...this.fds.keys()]) this.close(tid);
    this.lastRead.clear();
  }
}
