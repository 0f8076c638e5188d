/**
 * One worker of `veriexec gen`'s pool: opens a file, reads enough to tell
 * its kind (classify.ts), and fingerprints it when it is one to list.
 * Messages: in { id, path, algorithm }, out { id, result } or { id, error }.
 */
import fs from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { type Kind, classify } from './classify';
import { type Algorithm, type Fingerprint, fingerprintFd } from './fingerprint';
import { type StatKey, statKey } from './page-table';

export interface WorkerRequest {
  id: number;
  path: string;
  algorithm: Algorithm;
}

export type WorkerAnswer =
  | { id: number; result: { kind: Kind; fingerprint: Fingerprint; stat: StatKey; mode: number } | null }
  | { id: number; error: { code?: string; message: string } };

/** Opens without following a symlink or blocking on a FIFO, so a hostile tree cannot hang or redirect the walk. */
const OPEN_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;
const HEAD = 64 * 1024;

export function fingerprintPath(file: string, algorithm: Algorithm): { kind: Kind; fingerprint: Fingerprint; stat: StatKey; mode: number } | null {
  const fd = fs.openSync(file, OPEN_FLAGS);
  try {
    const st = fs.fstatSync(fd, { bigint: true });
    if (!st.isFile()) return null;
    const head = Buffer.alloc(HEAD);
    const n = fs.readSync(fd, head, 0, HEAD, 0);
    const kind = classify(head.subarray(0, n), Number(st.mode));
    if (!kind) return null;
    const fingerprint = fingerprintFd(fd, algorithm);
    return { kind, fingerprint, stat: statKey(st), mode: Number(st.mode) };
  } finally {
    fs.closeSync(fd);
  }
}

export function answerFor(id: number, file: string, algorithm: Algorithm): WorkerAnswer {
  try {
    return { id, result: fingerprintPath(file, algorithm) };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { id, error: { code: e.code, message: e.message } };
  }
}

parentPort?.on('message', (request: WorkerRequest) => parentPort!.postMessage(answerFor(request.id, request.path, request.algorithm)));
