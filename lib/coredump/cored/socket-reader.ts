/**
 * Reading the kernel's coredump connection fast. The kernel writes the core
 * a page at a time into a unix socket whose send buffer holds about 200 KiB
 * (net.core.wmem_default), so the reader must come back within microseconds
 * of each refill: Node's stream machinery (64 KiB reads, a wakeup and a
 * buffer per chunk) moved a 1 GiB core at a third of the rate a C reader
 * gets. So the accepted socket is never handed to libuv for reading (the
 * server accepts it paused): it is made non-blocking and read here with
 * synchronous reads filling two reused 1 MiB buffers, yielding to the event
 * loop with setImmediate while bytes flow (other crashes get their turn) and
 * sleeping a millisecond at a time only once the socket stayed empty for a few.
 */
import fs from 'node:fs';
import { HostkitError, fromNodeError } from '../../errors';
import { libc } from '../../native';

const F_GETFL = 3;
const F_SETFL = 4;
const CHUNK = 1 << 20;
/** How long after the last bytes an empty socket is polled every event-loop turn before sleeping: the kernel refills in tens of microseconds. */
const SPIN_MS = 5;

const immediate = () => new Promise<void>((resolve) => setImmediate(resolve));
const sleep = () => new Promise<void>((resolve) => setTimeout(resolve, 1));

export class SocketReader {
  /** Bytes read ahead of what read() returned (a short handshake read, or the ELF magic put back). */
  private leftover?: Buffer;
  private lastBytes = Date.now();

  constructor(private readonly fd: number) {
    const c = libc();
    c.fcntl(fd, F_SETFL, c.fcntl(fd, F_GETFL) | fs.constants.O_NONBLOCK);
  }

  /** read(2)s into `buffer` from `at` until it is full or the socket is empty: the bytes, `null` at end of stream, `undefined` when nothing is there yet. */
  private readSome(buffer: Buffer, at = 0): Buffer | null | undefined {
    let filled = at;
    while (filled < buffer.length) {
      let n: number;
      try {
        n = fs.readSync(this.fd, buffer, filled, buffer.length - filled, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') break;
        throw fromNodeError(err, { fd: this.fd });
      }
      if (n === 0) {
        if (filled > at) break; // the end comes with the next call
        return null;
      }
      filled += n;
    }
    return filled > at ? buffer.subarray(at, filled) : undefined;
  }

  private async wait(): Promise<void> {
    if (Date.now() - this.lastBytes < SPIN_MS) await immediate();
    else await sleep();
  }

  /** The next `length` bytes; throws once the peer has gone or `timeoutMs` passed without them. */
  async read(length: number, timeoutMs: number, what: string): Promise<Buffer> {
    const until = Date.now() + timeoutMs;
    let have = this.leftover ?? Buffer.alloc(0);
    this.leftover = undefined;
    while (have.length < length) {
      const got = this.readSome(Buffer.allocUnsafe(length - have.length));
      if (got === null) throw new HostkitError('ERR_HOSTKIT_PEER_GONE', `the peer closed before sending ${what}`);
      if (got === undefined) {
        if (Date.now() > until) throw new HostkitError('ERR_HOSTKIT_TIMEOUT', `no ${what} within ${timeoutMs} ms`);
        await this.wait();
        continue;
      }
      this.lastBytes = Date.now();
      have = have.length ? Buffer.concat([have, got]) : Buffer.from(got);
    }
    if (have.length > length) this.leftover = have.subarray(length);
    return have.subarray(0, length);
  }

  /** Puts bytes back in front of what comes next. */
  unread(bytes: Buffer): void {
    this.leftover = this.leftover ? Buffer.concat([bytes, this.leftover]) : bytes;
  }

  /**
   * Every byte left, until the peer closes. A chunk's memory is reused two
   * chunks later: copy what you keep.
   */
  async *chunks(): AsyncGenerator<Buffer> {
    if (this.leftover) {
      yield this.leftover;
      this.leftover = undefined;
    }
    const buffers = [Buffer.allocUnsafeSlow(CHUNK), Buffer.allocUnsafeSlow(CHUNK)];
    for (let turn = 0; ; ) {
      const got = this.readSome(buffers[turn]!);
      if (got === null) return;
      if (got === undefined) {
        await this.wait();
        continue;
      }
      this.lastBytes = Date.now();
      turn ^= 1;
      yield got;
    }
  }
}
