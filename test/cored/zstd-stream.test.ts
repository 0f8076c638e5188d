/**
 * cored's in-process zstd: frames the real `zstd -d` reads (the oracle),
 * our decoder giving the same bytes back, the empty core, an fd that refuses
 * writes, and kill() part way leaving no threads or fds behind.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { SystemError } from '../../lib/errors';
import { storedFrame, zeroRunFrame, zstdDecompressFile, zstdStreamEncoder } from '../../lib/coredump/cored/sinks/zstd-stream';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zstd-stream-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const MiB = 1 << 20;
let n = 0;

/** A core-like mix: random pages, zero runs, a page with a few stray bytes, odd sizes. */
function sampleCore(): Buffer {
  const parts = [crypto.randomBytes(3 * MiB + 123), Buffer.alloc(5 * MiB), crypto.randomBytes(4096), Buffer.alloc(2 * MiB + 7)];
  const sparse = Buffer.alloc(MiB);
  sparse[17] = 1;
  sparse[MiB - 3] = 0xff;
  parts.splice(2, 0, sparse);
  return Buffer.concat(parts);
}

/** Feeds `data` in `size` pieces through one reused buffer, scribbling on it once each write resolves. */
async function compress(data: Buffer, size: number, workers: number): Promise<string> {
  const file = path.join(dir, `c${n++}.zst`);
  const fd = fs.openSync(file, 'w', 0o600);
  try {
    const encoder = zstdStreamEncoder(fd, { level: 1, workers });
    const chunk = Buffer.alloc(size);
    for (let at = 0; at < data.length; at += size) {
      const piece = chunk.subarray(0, Math.min(size, data.length - at));
      data.copy(piece, 0, at, at + piece.length);
      await encoder.write(piece);
      piece.fill(0xa5); // the pipe reader reuses its buffer: the encoder must be done with it
    }
    await encoder.end();
  } finally {
    fs.closeSync(fd);
  }
  return file;
}

function cliDecompress(file: string): Buffer {
  const r = spawnSync('zstd', ['-d', '-q', '-c', file], { maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`zstd -d failed: ${r.stderr}`);
  return r.stdout;
}

async function ourDecompress(file: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of zstdDecompressFile(file)) parts.push(part);
  return Buffer.concat(parts);
}

const sha = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');

for (const workers of [0, 1]) {
  t.test(`round trip with ${workers} worker thread(s), checked by zstd -d`, async (t) => {
    const data = sampleCore();
    for (const size of [MiB, 65536 + 1]) {
      const file = await compress(data, size, workers);
      t.ok(fs.statSync(file).size < data.length / 2, 'compressed');
      t.equal(sha(cliDecompress(file)), sha(data), `zstd -d reads it (chunks of ${size})`);
      t.equal(sha(await ourDecompress(file)), sha(data), `our decoder reads it (chunks of ${size})`);
    }
  });
}

t.test('zstd -1 output decodes in process, concatenated frames too', async (t) => {
  const data = sampleCore();
  const file = path.join(dir, 'cli.zst');
  fs.writeFileSync(file, spawnSync('zstd', ['-1', '-q', '-c'], { input: data, maxBuffer: 1 << 30 }).stdout);
  t.equal(sha(await ourDecompress(file)), sha(data));
  fs.appendFileSync(file, fs.readFileSync(file));
  t.equal(sha(await ourDecompress(file)), sha(Buffer.concat([data, data])), 'two frames back to back, as zstd -d reads them');
});

t.test('empty input makes a valid, empty frame', async (t) => {
  const file = await compress(Buffer.alloc(0), MiB, 1);
  t.ok(fs.statSync(file).size > 0, 'a frame header at least');
  t.equal(cliDecompress(file).length, 0);
  t.equal((await ourDecompress(file)).length, 0);
});

t.test('a truncated or corrupt file is an error, as with zstd -d', async (t) => {
  const file = await compress(crypto.randomBytes(MiB), MiB, 0);
  const whole = fs.readFileSync(file);
  fs.writeFileSync(file, whole.subarray(0, whole.length - 100));
  await t.rejects(ourDecompress(file), /truncated/);
  fs.writeFileSync(file, Buffer.concat([whole.subarray(0, 20), Buffer.alloc(100, 0x55), whole.subarray(120)]));
  await t.rejects(ourDecompress(file), /zstd: /);
});

t.test('an fd that refuses writes fails like Node fs errors do', async (t) => {
  const file = path.join(dir, 'readonly');
  fs.writeFileSync(file, '');
  const fd = fs.openSync(file, 'r');
  try {
    const encoder = zstdStreamEncoder(fd, { level: 1, workers: 1 });
    const data = crypto.randomBytes(MiB);
    const run = async (): Promise<void> => {
      for (let i = 0; i < 8; i++) await encoder.write(data);
      await encoder.end();
    };
    const err = await run().then(
      () => undefined,
      (e: unknown) => e,
    );
    t.type(err, SystemError);
    t.match(err, { code: 'EBADF', errno: -os.constants.errno.EBADF, syscall: 'write', fd });
    await t.rejects(encoder.write(data), { code: 'EBADF' }, 'and stays failed');
  } finally {
    fs.closeSync(fd);
  }
});

function threads(): number {
  return Number(/^Threads:\s+(\d+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]);
}

t.test('kill() part way leaves no threads, fds or partial work behind', async (t) => {
  const data = crypto.randomBytes(MiB);
  const cycle = async (awaitWrites: boolean): Promise<void> => {
    const fd = fs.openSync(path.join(dir, `killed${n++}`), 'w', 0o600);
    const encoder = zstdStreamEncoder(fd, { level: 1, workers: 2 });
    if (awaitWrites) for (let i = 0; i < 5; i++) await encoder.write(data);
    const pending = encoder.write(data).catch((e: Error) => e);
    await encoder.kill(); // resolves once no write to fd is in flight: only then may the fd close
    fs.closeSync(fd);
    const late = await pending;
    if (late instanceof Error) t.match(late.message, /killed/, 'a write cut short says why');
    await t.rejects(encoder.write(data), /killed/, 'no writes after kill');
  };
  await cycle(true); // the first cycle creates the context and its worker threads
  const before = { threads: threads(), fds: fs.readdirSync('/proc/self/fd').length };
  // Many cycles: a killed multi-threaded frame reset while its jobs ran on crashed a later frame's jobs
  // (SIGSEGV in ZSTDMT_compressionJob) within a few dozen reuses.
  for (let i = 0; i < 60; i++) await cycle(i % 2 === 0);
  t.equal(threads(), before.threads, 'killed contexts are reused, not left to the collector with their threads');
  t.equal(fs.readdirSync('/proc/self/fd').length, before.fds, 'no fd left open');

  // A context that was killed mid-frame starts the next frame clean.
  const file = await compress(data, MiB, 2);
  t.equal(sha(cliDecompress(file)), sha(data));
});

t.test('whole chunks of zeros leave the compressor as RLE frames: tiny, and read back by zstd -d and by us', async (t) => {
  const zeros = Buffer.alloc(8 * MiB);
  const onlyZeros = await compress(zeros, MiB, 1);
  t.ok(fs.statSync(onlyZeros).size < 1024, `8 MiB of zeros in ${fs.statSync(onlyZeros).size} bytes`);
  t.same(cliDecompress(onlyZeros), zeros, 'zstd -d (the oracle)');
  t.same(await ourDecompress(onlyZeros), zeros);
  // Data, a zero run, data, a zero run at the end: frames alternate.
  const mixed = Buffer.concat([crypto.randomBytes(MiB + 5), Buffer.alloc(3 * MiB), crypto.randomBytes(100), Buffer.alloc(2 * MiB)]);
  for (const size of [MiB, 256 * 1024]) {
    const file = await compress(mixed, size, 1);
    t.same(cliDecompress(file), mixed, `zstd -d, ${size}-byte chunks`);
    t.same(await ourDecompress(file), mixed, `ours, ${size}-byte chunks`);
  }
  const frame = zeroRunFrame(300 * 1024);
  t.equal(frame.readUInt32LE(0), 0xfd2fb528, 'the zstd magic');
  t.equal(frame.length, 14 + 3 * 4, 'three RLE blocks of at most 128 KiB');
});

t.test('incompressible data is stored in raw blocks after a probe, and compressed again once it compresses', async (t) => {
  // 70 MiB of random bytes: the 4 MiB probes find them incompressible, so 60 MiB at a time are stored.
  // Then 100 MiB of text that compresses well: once the stored stretch ends, a probe must find that out.
  const text = Buffer.alloc(100 * MiB);
  for (let at = 0; at < text.length; at += 64) text.write(`line ${at.toString(16).padStart(12, '0')} of a log\n`.padEnd(64, '.'), at);
  const data = Buffer.concat([crypto.randomBytes(70 * MiB), text]);
  const file = await compress(data, MiB, 1);
  t.same(cliDecompress(file), data, 'zstd -d (the oracle)');
  t.same(await ourDecompress(file), data);
  const size = fs.statSync(file).size;
  // Stored: 4..64 and 68..128 MiB (the last 58 of them text); compressed: the probes and 132..170 MiB.
  t.ok(size < 140 * MiB, `the text compressed again: ${size} bytes for 170 MiB`);
  t.ok(size > 125 * MiB, 'and the random part was stored, not squeezed');
  const stored = storedFrame(Buffer.from('abc'));
  t.equal(Buffer.concat(stored).length, 14 + 3 + 3, 'header, one raw block header, the bytes');
});
