/**
 * The store: the directory where cores and their JSON live, plus
 * `index.jsonl`, one line per crash (stored or not), appended with O_APPEND
 * so concurrent handlers in a crash storm never interleave lines. The quota
 * (max use, keep free) deletes the oldest cores first; the rate limit counts
 * an executable's recent crashes in the index.
 */
import type { CrashRecord } from './record';
import type { SafeDir } from './safe-dir';

export const INDEX = 'index.jsonl';
const CORE_FILE = /^(.+)\.core(\.zst|\.gz)?$/;

/** What `list` shows and the index holds: the record without the bulky /proc texts. */
export interface IndexEntry {
  id: string;
  time: number;
  pid: number;
  uid: number;
  signal: number;
  signalName: string;
  comm: string;
  exe?: string;
  size?: number;
  truncated?: boolean;
  skipped?: string;
  sinks: { name: string; ok: boolean; location?: string; error?: string; note?: string }[];
}

/** A file-name-safe id: time, pid and the comm with anything but [A-Za-z0-9_+-] as '_'. */
export function crashId(time: number, pid: number, comm: string): string {
  const safe = comm.replace(/[^A-Za-z0-9_+-]/g, '_').slice(0, 32) || '_';
  return `${time}.${pid}.${safe}`;
}

export function indexEntry(record: CrashRecord): IndexEntry {
  const entry: IndexEntry = {
    id: record.id,
    time: record.time,
    pid: record.pid,
    uid: record.uid,
    signal: record.signal,
    signalName: record.signalName,
    comm: record.comm,
    exe: record.exe,
    size: record.size,
    sinks: record.sinks.map(({ name, ok, location, error, note }) => ({ name, ok, location, error, note })),
  };
  if (record.truncated) entry.truncated = true;
  if (record.skipped) entry.skipped = record.skipped;
  return entry;
}

/** Every index line that parses; a torn or hand-edited line is skipped, not fatal. */
export function readIndex(dir: SafeDir): IndexEntry[] {
  const text = dir.readFile(INDEX)?.toString('utf8') ?? '';
  const entries: IndexEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line) as IndexEntry;
      if (typeof e.id === 'string' && typeof e.time === 'number') entries.push(e);
    } catch {
      /* skip */
    }
  }
  return entries;
}

/** True when `exe` already crashed `limit` times (and was stored) within the last `window` seconds. */
export function rateLimited(dir: SafeDir, exe: string, limit: number, window: number, now: number): boolean {
  let recent = 0;
  for (const e of readIndex(dir)) {
    if (e.exe === exe && now - e.time < window && !e.skipped) recent++;
  }
  return recent >= limit;
}

/**
 * The per-executable rate for a resident daemon: seeded from the index once,
 * then told of every crash it accepts, so crashes still being written (all of
 * a storm's) count before their index lines exist.
 */
export class CrashRate {
  private readonly times = new Map<string, number[]>();

  constructor(
    private readonly limit: number,
    private readonly window: number,
  ) {}

  seed(entries: readonly IndexEntry[]): void {
    for (const e of entries) if (e.exe !== undefined && !e.skipped) this.note(e.exe, e.time);
  }

  /** True when `exe` is at its limit; otherwise counts this crash and answers false. */
  take(exe: string, now: number): boolean {
    const recent = (this.times.get(exe) ?? []).filter((t) => now - t < this.window);
    this.times.set(exe, recent);
    if (recent.length >= this.limit) return true;
    recent.push(now);
    return false;
  }

  private note(exe: string, time: number): void {
    const list = this.times.get(exe) ?? [];
    list.push(time);
    this.times.set(exe, list);
  }
}

export interface StoredCore {
  id: string;
  file: string;
  bytes: number;
  mtimeMs: number;
}

/** Core files in the store, oldest first; bytes are blocks actually used (sparse files count their data only). */
export function storedCores(dir: SafeDir): StoredCore[] {
  const cores: StoredCore[] = [];
  for (const name of dir.list()) {
    const m = CORE_FILE.exec(name);
    if (!m || name.startsWith('.')) continue;
    const st = dir.lstat(name);
    if (!st?.isFile()) continue;
    cores.push({ id: m[1]!, file: name, bytes: st.blocks * 512, mtimeMs: st.mtimeMs });
  }
  return cores.sort((a, b) => a.mtimeMs - b.mtimeMs || a.id.localeCompare(b.id));
}

/**
 * Deletes the oldest cores (and their JSON) until the store uses at most
 * `maxUse` bytes and the filesystem keeps `keepFree` bytes free, sparing
 * `keep` (the core just written). Returns the ids deleted.
 */
export function vacuum(dir: SafeDir, limits: { maxUse?: number; keepFree?: number }, keep?: string): string[] {
  if (limits.maxUse === undefined && limits.keepFree === undefined) return [];
  const cores = storedCores(dir);
  let used = cores.reduce((sum, c) => sum + c.bytes, 0);
  let free = dir.space().free;
  const deleted: string[] = [];
  for (const core of cores) {
    const overUse = limits.maxUse !== undefined && used > limits.maxUse;
    const underFree = limits.keepFree !== undefined && free < limits.keepFree;
    if (!overUse && !underFree) break;
    if (core.id === keep) continue;
    dir.unlink(core.file);
    dir.unlink(`${core.id}.json`);
    used -= core.bytes;
    free += core.bytes;
    deleted.push(core.id);
  }
  return deleted;
}
