/**
 * The page table beside a signatures file (FILE.pages): each listed file's
 * page digests, and the stat of the file when it was fingerprinted (so a
 * later `gen` re-reads only what changed). Binary, because it is 1/128 of
 * the files' size; trusted only through the signatures file: each file's
 * page digests must give the page root its line names (checked on load).
 *
 * Layout: "HKVXPG01", then per file: u32 path length, the path (UTF-8),
 * u8 algorithm (1 sha256, 2 sha512), u64 size, u64 dev, u64 ino, i64 mtime
 * and ctime in ns, then one digest per 4 KiB page.
 */
import fs from 'node:fs';
import { type Algorithm, digestLength, pageCount, pageRoot } from './fingerprint';
import { type Entry, SignaturesError } from './signatures';

const MAGIC = Buffer.from('HKVXPG01');
const ALGORITHM_IDS: Record<Algorithm, number> = { sha256: 1, sha512: 2 };

/** What identifies a file's content without reading it: any change to the file changes one of these. */
export interface StatKey {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

export interface PageRecord {
  path: string;
  algorithm: Algorithm;
  size: number;
  stat: StatKey;
  pages: Buffer;
}

export function statKey(st: fs.BigIntStats): StatKey {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
}

export function sameStat(a: StatKey, b: StatKey): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

export function pageTableFile(signatures: string): string {
  return `${signatures}.pages`;
}

export function writePageTable(file: string, records: Iterable<PageRecord>): void {
  const parts: Buffer[] = [MAGIC];
  for (const r of records) {
    const name = Buffer.from(r.path);
    const head = Buffer.alloc(4 + name.length + 1 + 8 * 5);
    let at = head.writeUInt32LE(name.length, 0);
    at += name.copy(head, at);
    at = head.writeUInt8(ALGORITHM_IDS[r.algorithm], at);
    at = head.writeBigUInt64LE(BigInt(r.size), at);
    at = head.writeBigUInt64LE(r.stat.dev, at);
    at = head.writeBigUInt64LE(r.stat.ino, at);
    at = head.writeBigInt64LE(r.stat.mtimeNs, at);
    head.writeBigInt64LE(r.stat.ctimeNs, at);
    parts.push(head, r.pages);
  }
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, Buffer.concat(parts));
  fs.renameSync(temporary, file); // a reader sees the old table or the new one, never half
}

/** Reads a page table; a record that does not fit in the file is a SignaturesError naming the byte offset as its "line". */
export function readPageTable(file: string): Map<string, PageRecord> {
  const data = fs.readFileSync(file);
  const out = new Map<string, PageRecord>();
  if (!data.subarray(0, MAGIC.length).equals(MAGIC)) throw new SignaturesError('not a hostkit veriexec page table', file, 0);
  let at = MAGIC.length;
  const need = (n: number) => {
    if (at + n > data.length) throw new SignaturesError(`truncated at byte ${at}`, file, at);
  };
  while (at < data.length) {
    const start = at;
    need(4);
    const nameLength = data.readUInt32LE(at);
    at += 4;
    need(nameLength + 41);
    const name = data.toString('utf8', at, at + nameLength);
    at += nameLength;
    const id = data.readUInt8(at++);
    const algorithm = (Object.keys(ALGORITHM_IDS) as Algorithm[]).find((a) => ALGORITHM_IDS[a] === id);
    if (!algorithm) throw new SignaturesError(`unknown algorithm ${id} at byte ${start}`, file, start);
    const size = Number(data.readBigUInt64LE(at));
    const stat: StatKey = {
      size: BigInt(size),
      dev: data.readBigUInt64LE(at + 8),
      ino: data.readBigUInt64LE(at + 16),
      mtimeNs: data.readBigInt64LE(at + 24),
      ctimeNs: data.readBigInt64LE(at + 32),
    };
    at += 40;
    const length = pageCount(size) * digestLength(algorithm);
    need(length);
    out.set(name, { path: name, algorithm, size, stat, pages: data.subarray(at, at + length) });
    at += length;
  }
  return out;
}

/** The page digests of `entry`, if the table has them and they give the root its signature line names. */
export function trustedPages(entry: Entry, record: PageRecord | undefined): Buffer | undefined {
  if (!record || record.algorithm !== entry.algorithm || record.size !== entry.size) return undefined;
  return pageRoot(record.pages, record.size, record.algorithm) === entry.pageRoot ? record.pages : undefined;
}
