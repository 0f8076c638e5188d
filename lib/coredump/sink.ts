/**
 * Where a core goes: a regular file (written with positional writes, zero
 * pages left as holes, so the core is sparse), or anything sequential (a
 * pipe, a socket, a terminal, a Writable stream), which gets every byte.
 */
import fs from 'node:fs';
import type { Writable } from 'node:stream';
import { fromNodeError } from '../errors';

export type CoreOutput = string | number | Writable;

export interface CoreSink {
  /** True when zero pages become holes instead of bytes. */
  readonly sparse: boolean;
  /**
   * Appends `data`; with `mayHole`, page-aligned all-zero pages may be left
   * unwritten. Resolves once `data` may be reused by the caller.
   */
  write(data: Buffer, mayHole?: boolean): Promise<void>;
  /** Bytes accounted for so far (holes included). */
  readonly position: number;
  /** Number of bytes actually written (holes excluded). */
  readonly written: number;
  /** Ends the core at `size` bytes (a trailing hole needs the file extended) and closes what we opened. */
  finish(): Promise<void>;
  /** Closes what we opened after a failure. */
  abort(): void;
}

const PAGE = 4096;
const ZERO_PAGE = Buffer.alloc(PAGE);

/** Opens the right sink for `out`: a path (created or truncated), an fd, or a Writable. */
export interface SinkOptions {
  /**
   * Runs up to this size are written synchronously (default SYNC_WRITE_MAX).
   * A program writing a core beside other work keeps the default; cored,
   * whose event loop only moves cores, writes everything synchronously,
   * which keeps a thread-pool thread from competing with the kernel's dump
   * for the CPU.
   */
  syncWriteMax?: number;
}

export function openSink(out: CoreOutput, options: SinkOptions = {}): CoreSink {
  if (typeof out === 'string') {
    let fd: number;
    try {
      fd = fs.openSync(out, 'w', 0o600); // a core holds the process's secrets: owner-only, as the kernel does
    } catch (err) {
      throw fromNodeError(err, { path: out });
    }
    return fdSink(fd, true, options);
  }
  if (typeof out === 'number') {
    if (!Number.isInteger(out) || out < 0) throw new RangeError(`bad file descriptor ${out}`);
    return fdSink(out, false, options);
  }
  if (out && typeof (out as Writable).write === 'function') return new StreamSink(out);
  throw new TypeError('out must be a path, a file descriptor or a Writable stream');
}

function fdSink(fd: number, owned: boolean, options: SinkOptions): CoreSink {
  const stats = fs.fstatSync(fd);
  if (stats.isFile()) {
    // Positional writes from offset 0: the core replaces whatever the file held.
    // (Only when it held something: on ext4, truncating to 0 arms a flush at close, auto_da_alloc.)
    if (stats.size > 0) fs.ftruncateSync(fd, 0);
    return new SparseFileSink(fd, owned, options.syncWriteMax ?? SYNC_WRITE_MAX);
  }
  return new SequentialFdSink(fd, owned);
}

function writeAt(fd: number, data: Buffer, offset: number, length: number, position: number | null): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.write(fd, data, offset, length, position, (err, n) => (err ? reject(fromNodeError(err, { fd })) : resolve(n)));
  });
}

function writeSyncAt(fd: number, data: Buffer, offset: number, length: number, position: number): number {
  try {
    return fs.writeSync(fd, data, offset, length, position);
  } catch (err) {
    throw fromNodeError(err, { fd });
  }
}

const BLOCK = 64 * 1024;
const ZERO_BLOCK = Buffer.alloc(BLOCK);

/** True if data[at, at + length) is all zero. */
function isZero(data: Buffer, at: number, length: number): boolean {
  const zero = length === BLOCK ? ZERO_BLOCK : length === PAGE ? ZERO_PAGE : Buffer.alloc(length);
  return data.compare(zero, 0, length, at, at + length) === 0;
}

/**
 * The offset of the first page at or after `from` that is (`zero` true: not)
 * all zero; a partial last page counts as data. Zero runs are skipped a
 * 64 KiB block at a time, the common case in big, mostly empty heaps.
 */
export function nextBoundary(data: Buffer, from: number, zero: boolean): number {
  let at = from;
  while (at < data.length) {
    if (zero && at + BLOCK <= data.length && isZero(data, at, BLOCK)) {
      at += BLOCK;
      continue;
    }
    const end = Math.min(at + PAGE, data.length);
    const pageIsZero = end - at === PAGE && isZero(data, at, PAGE);
    if (pageIsZero !== zero) return at;
    at = end;
  }
  return at;
}

/** Runs below this size are written synchronously: a threadpool round trip costs more than the copy. */
export const SYNC_WRITE_MAX = 256 * 1024;

class SparseFileSink implements CoreSink {
  readonly sparse = true;
  position = 0;
  written = 0;

  constructor(
    private readonly fd: number,
    private readonly owned: boolean,
    private readonly syncWriteMax: number,
  ) {}

  async write(data: Buffer, mayHole = false): Promise<void> {
    // Holes only for whole pages on page boundaries of the file, so blocks line up.
    if (!mayHole || this.position % PAGE !== 0) {
      await this.writeRange(data, 0, data.length);
      return;
    }
    let at = 0;
    while (at < data.length) {
      const dataEnd = nextBoundary(data, at, false);
      if (dataEnd > at) await this.writeRange(data, at, dataEnd);
      at = nextBoundary(data, dataEnd, true);
      this.position += at - dataEnd; // a hole
    }
  }

  private async writeRange(data: Buffer, from: number, to: number): Promise<void> {
    while (from < to) {
      const n =
        to - from <= this.syncWriteMax
          ? writeSyncAt(this.fd, data, from, to - from, this.position)
          : await writeAt(this.fd, data, from, to - from, this.position);
      from += n;
      this.position += n;
      this.written += n;
    }
  }

  async finish(): Promise<void> {
    // A core that ends in a hole must still be its full size.
    fs.ftruncateSync(this.fd, this.position);
    if (this.owned) fs.closeSync(this.fd);
  }

  abort(): void {
    if (this.owned) fs.closeSync(this.fd);
  }
}

class SequentialFdSink implements CoreSink {
  readonly sparse = false;
  position = 0;
  written = 0;

  constructor(
    private readonly fd: number,
    private readonly owned: boolean,
  ) {}

  async write(data: Buffer): Promise<void> {
    let at = 0;
    while (at < data.length) {
      let n: number;
      try {
        n = await writeAt(this.fd, data, at, data.length - at, null);
      } catch (err) {
        // A non-blocking pipe (a shell may hand us one) is full: wait for the reader.
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      at += n;
    }
    this.position += data.length;
    this.written += data.length;
  }

  async finish(): Promise<void> {
    if (this.owned) fs.closeSync(this.fd);
  }

  abort(): void {
    if (this.owned) fs.closeSync(this.fd);
  }
}

class StreamSink implements CoreSink {
  readonly sparse = false;
  position = 0;
  written = 0;
  private failure: Error | undefined;
  // A closed pipe (EPIPE) or reset socket is reported as an 'error' event too:
  // keep it for the write that fails instead of letting it crash the process.
  private readonly onError = (err: Error) => (this.failure ??= err);

  constructor(private readonly stream: Writable) {
    stream.on('error', this.onError);
  }

  write(data: Buffer): Promise<void> {
    // The stream keeps a reference to `data` until it is flushed: wait for that before handing it back.
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      this.stream.write(data, (err) => {
        if (err) return reject(err);
        this.position += data.length;
        this.written += data.length;
        resolve();
      });
    });
  }

  async finish(): Promise<void> {
    this.stream.off('error', this.onError);
  }

  abort(): void {
    this.stream.off('error', this.onError);
  }
}
