/** Finding a stored core and turning it back into a plain (sparse) file for gdb or `cored dump`. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { openSink } from '../sink';
import type { CrashRecord } from './record';
import type { SafeDir } from './safe-dir';
import { EXTENSIONS } from './sinks/directory';
import { zstdDecompressFile } from './sinks/zstd-stream';

export interface Located {
  file: string;
  format: 'raw' | 'zstd' | 'gzip';
}

export function locateCore(dir: SafeDir, id: string): Located | undefined {
  if (!/^[A-Za-z0-9_.+-]+$/.test(id) || id.startsWith('.')) throw new RangeError(`bad core id ${JSON.stringify(id)}`);
  for (const [format, ext] of Object.entries(EXTENSIONS) as [Located['format'], string][]) {
    if (dir.lstat(`${id}${ext}`)?.isFile()) return { file: dir.shown(`${id}${ext}`), format };
  }
  return undefined;
}

export function readRecord(dir: SafeDir, id: string): CrashRecord | undefined {
  const text = dir.readFile(`${id}.json`);
  return text ? (JSON.parse(text.toString('utf8')) as CrashRecord) : undefined;
}

/** The stored core's bytes, decompressed in process (no zstd binary needed), in order. */
export async function* coreBytes(core: Located): AsyncGenerator<Buffer> {
  if (core.format === 'raw') {
    yield* fs.createReadStream(core.file, { highWaterMark: 1 << 20 });
    return;
  }
  if (core.format === 'gzip') {
    yield* fs.createReadStream(core.file).pipe(zlib.createGunzip());
    return;
  }
  yield* zstdDecompressFile(core.file);
}

/** Writes the decompressed core to `out` (created 0600), leaving zero pages as holes. */
export async function decompressTo(core: Located, out: string): Promise<void> {
  const fd = fs.openSync(out, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW, 0o600);
  try {
    const sink = openSink(fd);
    for await (const chunk of coreBytes(core)) await sink.write(chunk, true);
    await sink.finish();
  } finally {
    fs.closeSync(fd);
  }
}

/** A plain core file for tools that need one: the stored file itself, or a temporary decompressed copy. */
export async function plainCore(core: Located): Promise<{ file: string; cleanup(): void }> {
  if (core.format === 'raw') return { file: core.file, cleanup: () => undefined };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cored-'));
  const file = path.join(dir, 'core');
  await decompressTo(core, file);
  return { file, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
