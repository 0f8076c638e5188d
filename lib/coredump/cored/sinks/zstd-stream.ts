/**
 * zstd in process (zstd-napi, libzstd built from its bundled sources): a
 * streaming encoder that writes one standard .zst frame to an fd, and a
 * streaming decoder, so a zstd store needs no zstd binary to write or read.
 *
 * The daemon handles many crashes in one event loop, so compression runs on
 * libzstd's own worker threads (ZSTD_c_nbWorkers): the main thread only
 * hands over input and writes out what the workers produced. When every job
 * slot is busy, ZSTD_compressStream2 waits for the oldest job, so the
 * longest stall is about one job (2 MiB at level 1); scripts/bench/zstd.js
 * measures it.
 */
import fs from 'node:fs';
import * as zstd from 'zstd-napi/binding';
import { fromNodeError } from '../../../errors';
import type { Encoder } from './types';

export interface ZstdStreamOptions {
  /** Compression level; 1 as `zstd -1`. */
  level?: number;
  /** libzstd worker threads; 0 compresses on the calling (main) thread. */
  workers?: number;
}

/** Output buffer: big enough that a 1 MiB chunk of random data leaves in one or two writes. */
const OUT_SIZE = 1 << 20;

/**
 * Compression contexts are kept between crashes: a context owns its worker
 * threads and frees them only when garbage-collected, so reusing a few bounds
 * the threads a busy daemon holds instead of leaving them to the collector.
 */
const idleContexts = new Map<string, zstd.CCtx[]>();
const IDLE_MAX = 4;

function takeContext(level: number, workers: number): zstd.CCtx {
  const reused = idleContexts.get(`${level}/${workers}`)?.pop();
  if (reused) return reused;
  const cctx = new zstd.CCtx();
  cctx.setParameter(zstd.CParameter.compressionLevel, level);
  // As the CLI does: zstd -d and our decoder verify the content checksum.
  cctx.setParameter(zstd.CParameter.checksumFlag, 1);
  cctx.setParameter(zstd.CParameter.nbWorkers, workers);
  return cctx;
}

/** Scratch output for closing a dropped frame: synchronous, so one buffer serves every encoder. */
let drainBuffer: Buffer | undefined;

/**
 * Back to the pool, closing a frame left open (a kill or a failed write) first,
 * its output thrown away. Resetting a multi-threaded context mid-frame is not
 * enough: its jobs run on, and the next frame's start frees what they use
 * (a SIGSEGV in ZSTDMT_compressionJob with libzstd 1.5.7).
 */
function returnContext(cctx: zstd.CCtx, level: number, workers: number, midFrame: boolean): void {
  try {
    if (midFrame) {
      drainBuffer ??= Buffer.allocUnsafe(OUT_SIZE);
      while (cctx.compressStream2(drainBuffer, Buffer.alloc(0), zstd.EndDirective.end)[0] !== 0);
    }
    cctx.reset(zstd.ResetDirective.sessionOnly);
  } catch {
    return; // a context in an unknown state is left to the collector, never reused
  }
  const key = `${level}/${workers}`;
  const list = idleContexts.get(key) ?? [];
  if (list.length < IDLE_MAX) list.push(cctx);
  idleContexts.set(key, list);
}

function writeAll(fd: number, data: Buffer, length: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const next = (from: number): void => {
      if (from >= length) return resolve();
      fs.write(fd, data, from, length - from, null, (err, n) => (err ? reject(fromNodeError(err, { fd })) : next(from + n)));
    };
    next(0);
  });
}

/**
 * An encoder writing a zstd frame to `fd` (at its current offset). write()
 * resolves once the chunk has been taken in and may be reused; end() closes
 * the frame; kill() drops it, and resolves once no write to `fd` is in flight,
 * so the caller can close `fd` without a late write landing on a reused number.
 */
export function zstdStreamEncoder(fd: number, options: ZstdStreamOptions = {}): Encoder {
  const level = options.level ?? 1;
  const workers = options.workers ?? 1;
  let cctx: zstd.CCtx | undefined = takeContext(level, workers);
  const out = Buffer.allocUnsafe(OUT_SIZE);
  let failure: Error | undefined;
  let inFlight: Promise<void> = Promise.resolve();
  let midFrame = false;

  const release = (): void => {
    if (!cctx) return;
    const done = cctx;
    cctx = undefined;
    returnContext(done, level, workers, midFrame);
  };

  /** Runs compressStream2 until `input` is consumed (and, for `end`, the frame is closed). */
  const pump = async (input: Buffer, directive: zstd.EndDirective): Promise<void> => {
    let consumed = 0;
    for (;;) {
      if (failure) throw failure;
      if (!cctx) throw new Error('zstd stream was killed');
      const [remaining, produced, taken] = cctx.compressStream2(out, input.subarray(consumed), directive);
      consumed += taken;
      midFrame = directive !== zstd.EndDirective.end || remaining !== 0;
      if (produced > 0) {
        inFlight = writeAll(fd, out, produced);
        try {
          await inFlight;
        } catch (err) {
          failure = err as Error;
          release();
          throw failure;
        }
      }
      const finished = directive === zstd.EndDirective.end ? remaining === 0 : consumed === input.length;
      if (finished) return;
    }
  };

  return {
    write: (chunk) => pump(chunk, zstd.EndDirective.continue),
    async end() {
      await pump(Buffer.alloc(0), zstd.EndDirective.end);
      release();
    },
    kill() {
      failure ??= new Error('zstd stream was killed');
      const settled = inFlight.catch(() => undefined);
      release();
      return settled;
    },
  };
}

/** Input read per step, and the most output one decompress call makes: about 1 ms of main-thread work. */
const READ_SIZE = 128 * 1024;
const DECODE_OUT = 1 << 20;

/**
 * The decompressed bytes of a .zst file (one or more frames), in order, each
 * chunk a fresh Buffer. A file that ends inside a frame is an error, as with
 * `zstd -d`; so is a checksum mismatch.
 */
export async function* zstdDecompressFile(file: string): AsyncGenerator<Buffer> {
  const dctx = new zstd.DCtx();
  let inFrame = false;
  for await (const input of fs.createReadStream(file, { highWaterMark: READ_SIZE }) as AsyncIterable<Buffer>) {
    let consumed = 0;
    // Keep calling while input remains, or while the last call filled the output (more may be buffered inside).
    for (let full = true; consumed < input.length || full; ) {
      const out = Buffer.allocUnsafe(DECODE_OUT);
      let result: [number, number, number];
      try {
        result = dctx.decompressStream(out, input.subarray(consumed));
      } catch (err) {
        throw new Error(`zstd: ${file}: ${(err as Error).message}`);
      }
      const [remaining, produced, taken] = result;
      consumed += taken;
      // A call that did nothing (the output was drained already) reports the next frame's header size, not this one's state.
      if (taken > 0 || produced > 0) inFrame = remaining !== 0;
      full = produced === out.length;
      if (produced > 0) yield out.subarray(0, produced);
      // A consumer that turns zero pages into holes awaits only microtasks: without this, a highly
      // compressed core would decode in one long turn of the event loop.
      await new Promise(setImmediate);
    }
  }
  if (inFrame) throw new Error(`zstd: ${file}: truncated (the file ends inside a frame)`);
}
