/**
 * The directory sink: the core as a sparse raw file (all-zero pages left as
 * holes, through the core engine's sink), or compressed by zstd (in process,
 * ./zstd-stream) or gzip (node:zlib); a JSON metadata file beside it.
 * Both are written under a temporary name and renamed when complete, so a
 * reader never sees half a core, and a failure leaves nothing behind.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import zlib from 'node:zlib';
import { type CoreSink, openSink } from '../../sink';
import type { CoreFormat, DirectorySinkConfig } from '../config';
import type { CrashRecord } from '../record';
import type { SafeDir } from '../safe-dir';
import { CORED_SYNC_WRITE_MAX, type CrashSink, type Encoder, type SinkResult } from './types';
import { zstdStreamEncoder } from './zstd-stream';

export const EXTENSIONS: Record<CoreFormat, string> = { raw: '.core', zstd: '.core.zst', gzip: '.core.gz' };

function rawEncoder(fd: number): Encoder {
  const sink: CoreSink = openSink(fd, { syncWriteMax: CORED_SYNC_WRITE_MAX });
  return {
    write: (chunk) => sink.write(chunk, true),
    end: () => sink.finish(),
    kill: () => undefined,
  };
}

function streamEncoder(stdin: NodeJS.WritableStream, done: Promise<void>, kill: () => void): Encoder {
  let failure: Error | undefined;
  done.catch((err) => (failure = err as Error));
  return {
    async write(chunk) {
      if (failure) throw failure;
      // Wait for the write callback, not just 'drain': the caller reuses `chunk` afterwards.
      await Promise.race([new Promise((r) => stdin.write(chunk, r)), done.then(() => undefined)]);
      if (failure) throw failure;
    },
    async end() {
      stdin.end();
      await done;
    },
    kill,
  };
}

/**
 * zstd -1 frames compressed in process on one libzstd worker thread:
 * scripts/bench/zstd.js measured it faster than spawning `zstd -1` per crash
 * (and than 0 workers on random data), with a shorter event-loop stall than 2 workers.
 */
function zstdEncoder(fd: number): Encoder {
  return zstdStreamEncoder(fd, { level: 1, workers: 1 });
}

function gzipEncoder(fd: number): Encoder {
  const gzip = zlib.createGzip({ level: 1 });
  const out = fs.createWriteStream('', { fd, autoClose: false });
  gzip.pipe(out);
  const done = new Promise<void>((resolve, reject) => {
    gzip.on('error', reject);
    out.on('error', reject);
    out.on('finish', resolve);
  });
  return streamEncoder(gzip, done, () => gzip.destroy());
}

export class DirectorySink implements CrashSink {
  readonly name: string;
  private readonly tmp: string;
  private readonly final: string;
  private readonly fd: number;
  private readonly encoder: Encoder;
  private bytes = 0;
  private closed = false;

  constructor(
    config: DirectorySinkConfig,
    private readonly dir: SafeDir,
    private readonly id: string,
  ) {
    this.name = config.name;
    this.final = `${id}${EXTENSIONS[config.format]}`;
    this.tmp = partialName(this.final);
    this.fd = dir.createExclusive(this.tmp);
    try {
      this.encoder = config.format === 'raw' ? rawEncoder(this.fd) : config.format === 'zstd' ? zstdEncoder(this.fd) : gzipEncoder(this.fd);
    } catch (err) {
      this.abort();
      throw err;
    }
  }

  async write(chunk: Buffer): Promise<void> {
    await this.encoder.write(chunk);
    this.bytes += chunk.length;
  }

  async finish(record: CrashRecord): Promise<SinkResult> {
    await this.encoder.end();
    this.closeFd();
    this.dir.rename(this.tmp, this.final);
    const location = this.dir.shown(this.final);
    writeMetadata(this.dir, this.id, { ...record, sinks: [...record.sinks, { name: this.name, ok: true, location, bytes: this.bytes }] });
    return { name: this.name, ok: true, location, bytes: this.bytes };
  }

  abort(): void {
    const stopped = this.encoder?.kill();
    // An in-process encoder may have a write in flight on our fd: close it only once that settles,
    // so the write cannot land on whatever file reuses the number.
    if (stopped) stopped.then(() => this.closeFd()).catch(() => undefined);
    else this.closeFd();
    try {
      this.dir.unlink(this.tmp);
    } catch {
      /* nothing more to do; the caller logs the sink's failure */
    }
  }

  private closeFd(): void {
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.fd);
  }
}

/** Writes ID.json atomically (temporary name, then rename). */
export function writeMetadata(dir: SafeDir, id: string, record: CrashRecord): void {
  const tmp = partialName(`${id}.json`);
  const fd = dir.createExclusive(tmp);
  try {
    fs.writeSync(fd, `${JSON.stringify(record, null, 2)}\n`);
  } finally {
    fs.closeSync(fd);
  }
  dir.rename(tmp, `${id}.json`);
}

/** A temporary name nobody can predict, so nothing can be planted there first. */
function partialName(final: string): string {
  return `.${final}.${crypto.randomBytes(6).toString('hex')}.partial`;
}
