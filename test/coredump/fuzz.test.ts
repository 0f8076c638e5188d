/**
 * Random truncations and bit flips of real and synthetic cores: every
 * reader must either parse or throw CoreFormatError (or, for memory, say
 * UnavailableMemoryError); never another error, never a hang.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import t from 'tap';
import { CoreFormatError, Machine, UnavailableMemoryError, parseCoreBuffer, readCoreStream, snapshot, writeCore, type Core } from '../../lib/coredump';
import { fixture, startDetached } from '../helpers';
import { tempDir } from './gdb';
import { syntheticNotes, syntheticSegments } from './synthetic';

/** xorshift32: the same mutations on every run, and a seed to replay a failure. */
function random(seed: number) {
  let x = seed || 1;
  return (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

function mutate(base: Buffer, seed: number): Buffer {
  const rnd = random(seed);
  if (rnd(3) === 0) return base.subarray(0, rnd(base.length));
  const copy = Buffer.from(base);
  // Mostly in the headers and notes, where the structure is; sometimes anywhere.
  const span = rnd(4) === 0 ? copy.length : Math.min(copy.length, 8192);
  for (let flips = 1 + rnd(8); flips > 0; flips--) copy[rnd(span)] ^= 1 << rnd(8);
  return copy;
}

const expected = (err: unknown) => err instanceof CoreFormatError || err instanceof UnavailableMemoryError;

/** Uses everything a parsed core offers, as a consumer would. */
function exercise(core: Core): void {
  for (const th of core.threads) void th.registers;
  void core.buildIds();
  for (const seg of core.memory.segments.slice(0, 50)) {
    try {
      core.memory.readAvailable(seg.vaddr, Math.min(seg.filesz, 4096));
    } catch (err) {
      if (!expected(err)) throw err;
    }
  }
}

async function bases(): Promise<[string, Buffer][]> {
  const dir = tempDir();
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const synthetic = path.join(dir, 'synthetic.core');
  await writeCore(synthetic, Machine.X86_64, syntheticNotes(), syntheticSegments());
  const target = await startDetached(fixture('core-target'), ['threads']);
  const live = path.join(dir, 'live.core');
  try {
    await snapshot(target.pid, live, { mode: 'minimal' });
  } finally {
    target.kill();
  }
  return [
    ['synthetic', fs.readFileSync(synthetic)],
    ['minimal snapshot of 9 threads', fs.readFileSync(live)],
  ];
}

t.test('truncations and bit flips never crash or hang the readers', async (t) => {
  for (const [name, base] of await bases()) {
    let parsed = 0;
    let rejected = 0;
    for (let seed = 1; seed <= 1500; seed++) {
      const bytes = mutate(base, seed * 2654435761);
      try {
        exercise(parseCoreBuffer(bytes));
        parsed++;
      } catch (err) {
        if (!expected(err)) {
          t.fail(`${name}, seed ${seed}: ${(err as Error).stack}`);
          return;
        }
        rejected++;
      }
      if (seed % 5 === 0) {
        // The stream reader, fed in small pieces; a hang would trip the timer.
        const chunks = Array.from({ length: Math.ceil(bytes.length / 4093) }, (_, i) => bytes.subarray(i * 4093, (i + 1) * 4093));
        let timer: NodeJS.Timeout | undefined;
        const hang = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('hang')), 5000)));
        try {
          exercise((await Promise.race([readCoreStream(Readable.from(chunks)), hang])) as Core);
        } catch (err) {
          if (!expected(err)) {
            t.fail(`${name}, seed ${seed}, stream reader: ${(err as Error).stack}`);
            return;
          }
        } finally {
          clearTimeout(timer);
        }
      }
    }
    t.ok(parsed > 0 && rejected > 0, `${name}: ${parsed} mutants parsed, ${rejected} rejected with CoreFormatError`);
  }
});
