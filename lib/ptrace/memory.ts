import fs from 'node:fs';
import { SystemError, checkAddress, checkBuffer, hasCode } from '../errors';
import { addon } from '../native';

/**
 * A tracee's memory. Reads and ordinary writes use process_vm_readv/writev
 * (no stop needed, callable from any thread); writes into read-only text, such
 * as breakpoints, go through /proc/PID/mem, which the kernel lets a tracer
 * write with FOLL_FORCE.
 */
export class Memory {
  private memFd: number | undefined;
  /**
   * The task whose address space is read: the process's pid, or a live thread
   * once the leader has exited ahead of the others (pthread_exit from main):
   * a zombie leader has no mm, so process_vm_readv on it fails with ESRCH
   * (mm/process_vm_access.c) while its threads still share the address space.
   */
  private via: number;

  /** `threads` lists the tids to try when the pid's own task has no address space left. */
  constructor(
    readonly pid: number,
    private readonly threads?: () => Iterable<number>,
  ) {
    this.via = pid;
  }

  /** Reads up to `length` bytes; a shorter buffer means the range ran into unmapped memory. */
  read(address: bigint | number, length: number): Buffer {
    const buffer = Buffer.allocUnsafe(checkLength(length));
    const n = this.readInto(address, buffer);
    return n === length ? buffer : buffer.subarray(0, n);
  }

  /** Reads into `buffer`; returns how many bytes were read. Throws if none could be. */
  readInto(address: bigint | number, buffer: Buffer, offset = 0, length = buffer.length - offset): number {
    checkBuffer(buffer);
    if (length === 0) return 0;
    const at = checkAddress(address);
    return this.throughLiveTask((tid) => addon.vmRead(tid, at, buffer, offset, length));
  }

  /** Like read(), on libuv's thread pool, so a bulk read never blocks the event loop. */
  async readAsync(address: bigint | number, length: number): Promise<Buffer> {
    const buffer = Buffer.allocUnsafe(checkLength(length));
    const n = await this.readIntoAsync(address, buffer);
    return n === length ? buffer : buffer.subarray(0, n);
  }

  /**
   * Like readInto(), on libuv's thread pool. Bulk readers (snapshots) reuse one
   * buffer: a fresh 64 MiB buffer costs more in page faults than the copy itself.
   */
  readIntoAsync(address: bigint | number, buffer: Buffer, offset = 0, length = buffer.length - offset): Promise<number> {
    checkBuffer(buffer);
    const at = checkAddress(address);
    if (length === 0) return Promise.resolve(0);
    return new Promise((resolve, reject) => {
      addon.vmReadAsync(this.via, at, buffer, offset, length, (err, n) => (err ? reject(err) : resolve(n!)));
    });
  }

  /**
   * Writes `data`; falls back to /proc/PID/mem for the part that lies in
   * read-only mappings. Returns the bytes written (short at an unmapped page).
   */
  write(address: bigint | number, data: Buffer): number {
    const at = checkAddress(address);
    checkBuffer(data, 'data');
    let done = 0;
    try {
      done = data.length ? this.throughLiveTask((tid) => addon.vmWrite(tid, at, data, 0, data.length)) : 0;
    } catch (err) {
      if (!hasCode(err, 'EFAULT')) throw err;
    }
    if (done === data.length) return done;
    return done + this.writeForced(at + BigInt(done), data.subarray(done));
  }

  /** Writes through /proc/PID/mem, ignoring page protections (breakpoints in text). */
  writeForced(address: bigint | number, data: Buffer): number {
    const at = checkAddress(address);
    checkBuffer(data, 'data');
    if (data.length === 0) return 0;
    return addon.pwrite(this.fd(), data, 0, data.length, at);
  }

  /**
   * Reads through /proc/PID/mem, which reads with FOLL_FORCE as the kernel's
   * core dumper does (PROT_NONE pages, for one). Returns the bytes read.
   */
  readForced(address: bigint | number, buffer: Buffer, offset = 0, length = buffer.length - offset): number {
    const at = checkAddress(address);
    checkBuffer(buffer);
    if (length === 0) return 0;
    return addon.pread(this.fd(), buffer, offset, length, at);
  }

  /** `op` on the task last found with an address space; on ESRCH, on each other thread in turn. */
  private throughLiveTask<T>(op: (tid: number) => T): T {
    try {
      return op(this.via);
    } catch (err) {
      if (!hasCode(err, 'ESRCH') || !this.threads) throw err;
      for (const tid of [this.pid, ...this.threads()]) {
        if (tid === this.via) continue;
        try {
          const result = op(tid);
          this.via = tid;
          return result;
        } catch (again) {
          if (!hasCode(again, 'ESRCH')) throw again;
        }
      }
      throw err;
    }
  }

  /** Forgets the /proc/PID/mem descriptor: after exec it points at the old address space. */
  reopen(): void {
    this.close();
  }

  close(): void {
    if (this.memFd === undefined) return;
    fs.closeSync(this.memFd);
    this.memFd = undefined;
  }

  private fd(): number {
    if (this.memFd !== undefined) return this.memFd;
    const path = this.via === this.pid ? `/proc/${this.pid}/mem` : `/proc/${this.pid}/task/${this.via}/mem`;
    try {
      this.memFd = fs.openSync(path, 'r+'); // libuv adds O_CLOEXEC
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ENOENT') throw new SystemError(3, 'open', { pid: this.pid, path });
      throw new SystemError(e.errno ?? -5, 'open', { pid: this.pid, path });
    }
    return this.memFd;
  }
}

function checkLength(length: unknown): number {
  if (typeof length !== 'number' || !Number.isSafeInteger(length)) throw new TypeError('length must be an integer');
  if (length < 0 || length > 0x7fffffff) throw new RangeError(`length must be 0..2^31-1, got ${length}`);
  return length;
}
