/**
 * Reads a stopped process's memory in bulk into caller-owned buffers, on
 * libuv's thread pool (process_vm_readv, through the bridge's Memory),
 * so megabytes at a time never block the event loop. Pages that
 * process_vm_readv cannot read (PROT_NONE, I/O mappings) are retried
 * through /proc/PID/mem, which reads with FOLL_FORCE as the kernel's own
 * core dumper does; what stays unreadable becomes zeros, page by page, so
 * file offsets in the core stay right.
 */
import fs from 'node:fs';
import { addon } from '../native';
import { Memory } from '../ptrace/memory';

const PAGE = 4096;

export class BulkReader {
  private readonly memory: Memory;
  private pagemapFd: number | undefined | null;
  /** Bytes of absent anonymous pages filled with zeros without reading them. */
  skipped = 0;
  /** Bytes that could not be read at all and were written as zeros. */
  zeroFilled = 0;

  constructor(readonly pid: number) {
    this.memory = new Memory(pid);
  }

  /**
   * Fills buffer[0, length) with the memory at `address`. For private
   * anonymous memory (`anonymous`), pages that /proc/PID/pagemap says are
   * neither present nor swapped hold zeros by definition: they are not read.
   */
  async readInto(address: bigint, buffer: Buffer, length: number, anonymous = false): Promise<void> {
    const map = anonymous ? this.pagemap(address, length) : undefined;
    if (!map) return this.readRange(address, buffer, 0, length);
    const pages = map.length / 8;
    const present = (i: number) => map.readBigUInt64LE(i * 8) >> 62n !== 0n; // bit 63 present, bit 62 swapped
    for (let i = 0; i < pages; ) {
      const state = present(i);
      let j = i + 1;
      while (j < pages && present(j) === state) j++;
      const from = i * PAGE;
      const to = Math.min(length, j * PAGE);
      if (state) await this.readRange(address + BigInt(from), buffer, from, to - from);
      else {
        buffer.fill(0, from, to);
        this.skipped += to - from;
      }
      i = j;
    }
  }

  /** Page-table entries for the range (pagemap(5)), or undefined if they cannot be read. */
  private pagemap(address: bigint, length: number): Buffer | undefined {
    if (address % BigInt(PAGE) !== 0n) return undefined;
    if (this.pagemapFd === undefined) {
      try {
        this.pagemapFd = fs.openSync(`/proc/${this.pid}/pagemap`, 'r');
      } catch {
        this.pagemapFd = null;
      }
    }
    if (this.pagemapFd === null) return undefined;
    const entries = Buffer.alloc(Math.ceil(length / PAGE) * 8);
    try {
      const n = addon.pread(this.pagemapFd, entries, 0, entries.length, (address / BigInt(PAGE)) * 8n);
      return n === entries.length ? entries : undefined;
    } catch {
      return undefined;
    }
  }

  private async readRange(address: bigint, buffer: Buffer, offset: number, length: number): Promise<void> {
    let done = 0;
    while (done < length) {
      const at = address + BigInt(done);
      const n = await this.vmRead(at, buffer, offset + done, length - done);
      done += n;
      if (done >= length) break;
      // The page at `at + n` is unreadable to process_vm_readv.
      const pageEnd = Number(((address + BigInt(done)) / BigInt(PAGE) + 1n) * BigInt(PAGE) - address);
      const upTo = Math.min(length, pageEnd);
      if (!this.forcedRead(address + BigInt(done), buffer, offset + done, upTo - done)) {
        buffer.fill(0, offset + done, offset + upTo);
        this.zeroFilled += upTo - done;
      }
      done = upTo;
    }
  }

  /** A few bytes, synchronously (what is readable of them; empty if none). */
  peek(address: bigint, length: number): Buffer {
    try {
      return this.memory.read(address, length);
    } catch {
      return Buffer.alloc(0);
    }
  }

  /** What process_vm_readv could read at `address`: 0 when not even the first page. */
  private vmRead(address: bigint, buffer: Buffer, offset: number, length: number): Promise<number> {
    return this.memory.readIntoAsync(address, buffer, offset, length).catch(() => 0);
  }

  /** One page (or less) through /proc/PID/mem; false if that fails too. */
  private forcedRead(address: bigint, buffer: Buffer, offset: number, length: number): boolean {
    try {
      return this.memory.readForced(address, buffer, offset, length) === length;
    } catch {
      return false;
    }
  }

  close(): void {
    this.memory.close();
    if (typeof this.pagemapFd === 'number') fs.closeSync(this.pagemapFd);
    this.pagemapFd = undefined;
  }
}
