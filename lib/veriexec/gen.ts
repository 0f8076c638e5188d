/**
 * `veriexec gen`: fingerprints every executable, script and shared library
 * beneath some directories into a signatures file and its page table. In
 * parallel (a pool of worker threads), and incremental: a file whose stat
 * (dev, inode, size, mtime, ctime) is the one the previous page table holds
 * is not read again. Flags a person added by hand (`untrusted`) are kept.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { type Kind, flagsOf } from './classify';
import type { Algorithm } from './fingerprint';
import { type WorkerAnswer, answerFor } from './fingerprint-worker';
import { type PageRecord, pageTableFile, readPageTable, sameStat, statKey, writePageTable } from './page-table';
import { type Entry, type Flag, formatSignatures, readSignatures } from './signatures';
import { type WalkProblem, walk } from './walk';

export interface GenOptions {
  roots: string[];
  output: string;
  algorithm?: Algorithm;
  jobs?: number;
  /** Called as files are done. */
  progress?: (done: number, total: number, bytes: number) => void;
}

export interface GenReport {
  listed: number;
  /** Fingerprinted this time; the rest of `listed` came from the previous table unchanged. */
  hashed: number;
  reused: number;
  bytesHashed: number;
  kinds: Record<Kind, number>;
  problems: WalkProblem[];
}

/** Flags a person may add that gen does not derive: kept from the previous file. */
const HAND_FLAGS: readonly Flag[] = ['untrusted'];

export async function generate(options: GenOptions): Promise<GenReport> {
  const algorithm = options.algorithm ?? 'sha256';
  const problems: WalkProblem[] = [];
  const files = walk(options.roots, problems);
  const previous = readPrevious(options.output);
  const entries: Entry[] = [];
  const records: PageRecord[] = [];
  const report: GenReport = {
    listed: 0,
    hashed: 0,
    reused: 0,
    bytesHashed: 0,
    kinds: { 'elf-executable': 0, 'elf-shared': 0, 'elf-loader': 0, script: 0 },
    problems,
  };

  const todo: string[] = [];
  for (const file of files) {
    const old = previous.entries.get(file);
    const record = previous.pages.get(file);
    let st: fs.BigIntStats | undefined;
    try {
      st = fs.lstatSync(file, { bigint: true });
    } catch {
      continue; // gone since the walk
    }
    if (old && record && old.algorithm === algorithm && sameStat(record.stat, statKey(st))) {
      entries.push(old);
      records.push(record);
      report.reused++;
    } else todo.push(file);
  }

  let done = report.reused;
  const total = report.reused + todo.length;
  await runPool(todo, algorithm, options.jobs ?? os.availableParallelism(), (file, answer) => {
    done++;
    if ('error' in answer) {
      if (answer.error.code !== 'ENOENT') problems.push({ path: file, ...answer.error });
    } else if (answer.result) {
      const { kind, fingerprint, stat } = answer.result;
      const kept = HAND_FLAGS.filter((f) => previous.entries.get(file)?.flags.has(f));
      entries.push({
        path: file,
        algorithm,
        digest: fingerprint.digest,
        flags: new Set([...flagsOf(kind), ...kept]),
        size: fingerprint.size,
        pageRoot: fingerprint.pageRoot,
      });
      records.push({ path: file, algorithm, size: fingerprint.size, stat, pages: Buffer.from(fingerprint.pages) });
      report.hashed++;
      report.bytesHashed += fingerprint.size;
      report.kinds[kind]++;
    }
    options.progress?.(done, total, report.bytesHashed);
  });
  for (const e of entries) if (previous.entries.get(e.path) === e) report.kinds[kindOf(e)]++;
  report.listed = entries.length;

  writeAtomically(options.output, formatSignatures(entries));
  writePageTable(pageTableFile(options.output), records);
  return report;
}

function kindOf(e: Entry): Kind {
  if (e.flags.has('indirect')) return 'elf-loader';
  if (!e.flags.has('direct')) return 'elf-shared';
  return 'elf-executable'; // scripts and executables share flags: counted as executables when reused
}

function readPrevious(output: string): { entries: Map<string, Entry>; pages: Map<string, PageRecord> } {
  if (!fs.existsSync(output) || !fs.existsSync(pageTableFile(output))) return { entries: new Map(), pages: new Map() };
  return { entries: readSignatures(output), pages: readPageTable(pageTableFile(output)) };
}

function writeAtomically(file: string, text: string): void {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  fs.writeFileSync(temporary, text);
  fs.renameSync(temporary, file);
}

/** Below this many files, starting workers costs more than it saves: they are fingerprinted here. */
const POOL_THRESHOLD = 32;

/** Hands the files to `jobs` workers, one at a time each; `onAnswer` in the order they finish. */
async function runPool(files: string[], algorithm: Algorithm, jobs: number, onAnswer: (file: string, answer: WorkerAnswer) => void): Promise<void> {
  if (files.length === 0) return;
  if (jobs === 1 || files.length < POOL_THRESHOLD) {
    for (const [id, file] of files.entries()) onAnswer(file, answerFor(id, file, algorithm));
    return;
  }
  const count = Math.min(jobs, files.length);
  const script = path.join(__dirname, 'fingerprint-worker.js');
  let next = 0;
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const worker = new Worker(script);
      const ids = new Map<number, string>();
      const feed = () => {
        if (next >= files.length) {
          void worker.terminate().then(() => resolve());
          return;
        }
        const id = next++;
        ids.set(id, files[id]!);
        worker.postMessage({ id, path: files[id], algorithm });
      };
      worker.on('message', (answer: WorkerAnswer) => {
        onAnswer(ids.get(answer.id)!, answer);
        ids.delete(answer.id);
        feed();
      });
      worker.on('error', reject);
      feed();
    });
  await Promise.all(Array.from({ length: count }, one));
}
