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
import { nextBoundary } from '../../sink';
import { CORED_SYNC_WRITE_MAX, type Encoder } from './types';

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

/** Writes all of data[0, length) at the fd's offset. */
function writeAll(fd: number, data: Buffer, length: number): Promise<void> {
  return writeParts(fd, [data.subarray(0, length)]);
}

/** Writes the parts in order at the fd's offset (writev), synchronously up to CORED_SYNC_WRITE_MAX; a short write goes on with the rest. */
async function writeParts(fd: number, parts: Buffer[]): Promise<void> {
  let rest = parts.filter((p) => p.length > 0);
  while (rest.length > 0) {
    const total = rest.reduce((sum, p) => sum + p.length, 0);
    let n: number;
    try {
      n =
        total <= CORED_SYNC_WRITE_MAX
          ? fs.writevSync(fd, rest)
          : await new Promise<number>((resolve, reject) => fs.writev(fd, rest, (err, written) => (err ? reject(err) : resolve(written))));
    } catch (err) {
      throw fromNodeError(err, { fd });
    }
    while (n > 0 && rest.length > 0) {
      const first = rest[0]!;
      if (n >= first.length) {
        n -= first.length;
        rest = rest.slice(1);
      } else {
        rest[0] = first.subarray(n);
        n = 0;
      }
    }
  }
}

/** Zero runs at least this long (whole pages) are written as RLE frames; shorter ones are compressed. */
const ZERO_RUN_MIN = 64 * 1024;
const ZERO_RUN = Buffer.alloc(ZERO_RUN_MIN);

/** RFC 8878: the frame magic, and a block's largest size (Block_Maximum_Size with a 128 KiB window). */
const ZSTD_MAGIC = 0xfd2fb528;
const BLOCK_MAX = 128 * 1024;

/**
 * Incompressible data (random pages, already compressed files) costs zstd -1
 * as much CPU as any other, and on a busy host that CPU is what holds the
 * crashing process. So the compressor is watched: when a probe of PROBE
 * bytes came out at more than INCOMPRESSIBLE of its size, the next
 * STORE_RAW bytes are stored in raw blocks, then the compressor is tried again.
 */
const PROBE = 4 << 20;
const INCOMPRESSIBLE = 0.95;
const STORE_RAW = 60 << 20;

/**
 * A zstd frame (RFC 8878) made of literal blocks, which any decoder reads
 * and no compressor has to produce: a header with the content size and a
 * 128 KiB window (so no decoder needs more memory for it), no checksum, then
 * blocks of at most 128 KiB, each RLE (one byte, repeated) or raw (stored).
 */
function literalFrame(length: number, blockBytes: (at: number, size: number) => number | Buffer): Buffer[] {
  const blocks = Math.max(1, Math.ceil(length / BLOCK_MAX));
  const parts: Buffer[] = [];
  const header = Buffer.alloc(14);
  header.writeUInt32LE(ZSTD_MAGIC, 0);
  header[4] = 0b11 << 6; // Frame_Header_Descriptor: an 8-byte Frame_Content_Size, a window, no checksum, no dictionary
  header[5] = (17 - 10) << 3; // Window_Descriptor: 2^17 bytes
  header.writeBigUInt64LE(BigInt(length), 6);
  parts.push(header);
  for (let i = 0, at = 0; i < blocks; i++, at += BLOCK_MAX) {
    const size = Math.min(length - at, BLOCK_MAX);
    const content = blockBytes(at, size);
    const rle = typeof content === 'number';
    const block = Buffer.alloc(3 + (rle ? 1 : 0));
    block.writeUIntLE((i === blocks - 1 ? 1 : 0) | ((rle ? 1 : 0) << 1) | (size << 3), 0, 3); // Last_Block, Block_Type (0 raw, 1 RLE), Block_Size
    if (rle) block[3] = content;
    parts.push(block);
    if (!rle) parts.push(content);
  }
  return parts;
}

/** `length` zero bytes as a frame of RLE blocks: 32 KiB of frame per GiB of zeros. */
export function zeroRunFrame(length: number): Buffer {
  return Buffer.concat(literalFrame(length, () => 0));
}

/** `data` stored as it is, in raw blocks: for data the compressor just found incompressible. Views into `data`, not copies. */
export function storedFrame(data: Buffer): Buffer[] {
  return literalFrame(data.length, (at, size) => data.subarray(at, at + size));
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
  let probeIn = 0;
  let probeOut = 0;
  let storeRaw = 0;

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
      probeIn += taken;
      probeOut += produced;
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

  // Runs of zero pages (most of a big heap) bypass the compressor: the frame in progress is
  // closed and the run is written as a frame of RLE blocks, costing no CPU beyond the memcmp.
  // Shorter runs, not worth a frame, go through the compressor with the data around them.
  let zeros = 0;
  let started = false;
  const flushZeros = async (): Promise<void> => {
    if (zeros === 0) return;
    const run = zeros;
    zeros = 0;
    if (run < ZERO_RUN_MIN) return pump(ZERO_RUN.subarray(0, run), zstd.EndDirective.continue);
    if (midFrame) await pump(Buffer.alloc(0), zstd.EndDirective.end);
    const frame = zeroRunFrame(run);
    inFlight = writeAll(fd, frame, frame.length);
    await inFlight;
  };

  /** Data through the compressor, or stored raw while the last probe said it does not compress. */
  const writeData = async (data: Buffer): Promise<void> => {
    if (storeRaw > 0) {
      if (failure) throw failure;
      storeRaw -= data.length;
      inFlight = writeParts(fd, storedFrame(data));
      return inFlight;
    }
    await pump(data, zstd.EndDirective.continue);
    if (probeIn >= PROBE) {
      // Closing the frame flushes what the workers still hold: the probe's ratio is then exact.
      await pump(Buffer.alloc(0), zstd.EndDirective.end);
      if (probeOut > probeIn * INCOMPRESSIBLE) storeRaw = STORE_RAW;
      probeIn = probeOut = 0;
    }
  };

  return {
    async write(chunk) {
      if (failure) throw failure;
      started = true;
      for (let at = 0; at < chunk.length; ) {
        const dataEnd = nextBoundary(chunk, at, false);
        if (dataEnd > at) {
          await flushZeros();
          await writeData(chunk.subarray(at, dataEnd));
        }
        at = nextBoundary(chunk, dataEnd, true);
        zeros += at - dataEnd;
      }
    },
    async end() {
      await flushZeros();
      // A frame is open, or nothing was ever written (an empty core is still one valid frame).
      if (midFrame || !started) await pump(Buffer.alloc(0), zstd.EndDirective.end);
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
