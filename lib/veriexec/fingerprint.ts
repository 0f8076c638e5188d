/**
 * A file's fingerprint: the digest of its whole content, and the digest of
 * each 4 KiB page with a root over them (a Merkle tree shaped as fs-verity's:
 * each level hashes 4 KiB blocks of the level below, until one digest is
 * left, and the root binds that digest to the file's size). The whole-file
 * digest is what exec-time checks compare; the page digests let one page be
 * checked alone when it is read back in (the FUSE mount), and the root lets
 * the page table be checked against the signatures file that names it.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';

export type Algorithm = 'sha256' | 'sha512';
export const ALGORITHMS: readonly Algorithm[] = ['sha256', 'sha512'];
export const PAGE_SIZE = 4096;
/** Bytes read at a time: large enough that a read costs little beside the hashing. */
const CHUNK = 1 << 20;

export function digestLength(algorithm: Algorithm): number {
  return algorithm === 'sha256' ? 32 : 64;
}

export interface Fingerprint {
  algorithm: Algorithm;
  /** Hex digest of the whole file. */
  digest: string;
  size: number;
  /** The digest of each page, one after another (the last page as it is, not padded). */
  pages: Buffer;
  /** Hex root over the page digests and the size. */
  pageRoot: string;
}

/** Fingerprints an open file by pread from offset 0 (the fd's own offset is left alone). */
export function fingerprintFd(fd: number, algorithm: Algorithm, head?: (first: Buffer) => void): Fingerprint {
  const whole = createHash(algorithm);
  const pageDigests: Buffer[] = [];
  const chunk = Buffer.allocUnsafe(CHUNK);
  let size = 0;
  for (;;) {
    const n = readFull(fd, chunk, size);
    if (n === 0) break;
    const data = chunk.subarray(0, n);
    if (size === 0) head?.(data);
    whole.update(data);
    for (let at = 0; at < n; at += PAGE_SIZE) pageDigests.push(hashPage(data.subarray(at, Math.min(at + PAGE_SIZE, n)), algorithm));
    size += n;
    if (n < CHUNK) break;
  }
  if (size === 0) head?.(Buffer.alloc(0));
  const pages = Buffer.concat(pageDigests);
  return { algorithm, digest: whole.digest('hex'), size, pages, pageRoot: pageRoot(pages, size, algorithm) };
}

/** Fingerprints the file at `file` (opened without following a final symlink). */
export function fingerprintFile(file: string, algorithm: Algorithm, head?: (first: Buffer) => void): Fingerprint {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    return fingerprintFd(fd, algorithm, head);
  } finally {
    fs.closeSync(fd);
  }
}

export function hashPage(page: Buffer, algorithm: Algorithm): Buffer {
  return createHash(algorithm).update(page).digest();
}

/**
 * The root over page digests: each level is the digests of the 4 KiB blocks
 * of the one below (the last block zero-padded), until one digest is left;
 * the root is the digest of the size (8 bytes, little-endian) and that one.
 */
export function pageRoot(pages: Buffer, size: number, algorithm: Algorithm): string {
  const length = digestLength(algorithm);
  let level = pages;
  while (level.length > length) {
    const next: Buffer[] = [];
    for (let at = 0; at < level.length; at += PAGE_SIZE) {
      const block = Buffer.alloc(PAGE_SIZE);
      level.copy(block, 0, at, Math.min(at + PAGE_SIZE, level.length));
      next.push(hashPage(block, algorithm));
    }
    level = Buffer.concat(next);
  }
  const sizeField = Buffer.alloc(8);
  sizeField.writeBigUInt64LE(BigInt(size));
  return createHash(algorithm).update(sizeField).update(level).digest('hex');
}

export function pageCount(size: number): number {
  return Math.ceil(size / PAGE_SIZE);
}

function readFull(fd: number, buffer: Buffer, position: number): number {
  let got = 0;
  while (got < buffer.length) {
    const n = fs.readSync(fd, buffer, got, buffer.length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}
