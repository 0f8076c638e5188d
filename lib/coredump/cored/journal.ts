/**
 * Crashes in flight, on disk: while a core streams, the store holds
 * `.ID.pending.json` with its record so far and who is writing it (pid and
 * start time). Should that handler die (the daemon killed mid-core, a pipe
 * handler shot), the next daemon start, or `cored recover`, finds the journal
 * entry whose writer is gone, keeps whatever part of the core reached the
 * disk as a truncated core, and gives the crash its JSON and index line, so
 * the store never has a crash it does not list nor a half-written file
 * nobody owns.
 */
import fs from 'node:fs';
import { liveStartTime } from '../../procfs/stat';
import type { CoredConfig } from './config';
import type { CrashRecord } from './record';
import { SafeDir } from './safe-dir';
import { EXTENSIONS, writeMetadata } from './sinks/directory';
import { INDEX, indexEntry } from './store';

const PENDING = /^\.(.+)\.pending\.json$/;

interface PendingEntry {
  writer: { pid: number; startTime: string };
  record: CrashRecord;
}

const pendingName = (id: string) => `.${id}.pending.json`;

/** Notes the crash as in flight; returns the journal entry's name, or undefined if the store refused it. */
export function beginCrash(store: SafeDir, record: CrashRecord): string | undefined {
  const name = pendingName(record.id);
  const entry: PendingEntry = { writer: { pid: process.pid, startTime: liveStartTime(process.pid)?.toString() ?? '' }, record };
  try {
    const fd = store.createExclusive(name);
    try {
      fs.writeSync(fd, JSON.stringify(entry));
    } finally {
      fs.closeSync(fd);
    }
    return name;
  } catch {
    return undefined; // a journal entry is a safety net, not a reason to lose the core
  }
}

export function endCrash(store: SafeDir, name: string | undefined): void {
  if (name === undefined) return;
  try {
    store.unlink(name);
  } catch {
    /* gone already */
  }
}

/** A journal entry whose writer is still running is not interrupted, only in flight. */
function writerAlive(writer: PendingEntry['writer']): boolean {
  return liveStartTime(writer.pid)?.toString() === writer.startTime;
}

/** The partial files a directory sink left for `id` (`.ID.core.zst.RANDOM.partial`), largest first. */
function partialCores(dir: SafeDir, id: string): { name: string; final: string; bytes: number }[] {
  const found: { name: string; final: string; bytes: number }[] = [];
  const names = dir.list();
  for (const ext of Object.values(EXTENSIONS)) {
    const prefix = `.${id}${ext}.`;
    for (const name of names) {
      if (!name.startsWith(prefix) || !name.endsWith('.partial') || name.slice(prefix.length, -'.partial'.length).includes('.')) continue;
      const st = dir.lstat(name);
      if (st?.isFile()) found.push({ name, final: `${id}${ext}`, bytes: st.size });
    }
  }
  return found.sort((a, b) => b.bytes - a.bytes);
}

/**
 * Finishes the crashes whose writer died: each keeps what reached the disk,
 * marked truncated, with its JSON and index line. Returns their records.
 */
export function recoverInterrupted(config: CoredConfig, log: (line: string) => void): CrashRecord[] {
  let store: SafeDir;
  try {
    store = SafeDir.open(config.store.directory, false);
  } catch {
    return []; // no store yet: nothing was ever in flight
  }
  const recovered: CrashRecord[] = [];
  try {
    for (const name of store.list()) {
      const id = PENDING.exec(name)?.[1];
      if (id === undefined) continue;
      let entry: PendingEntry;
      try {
        entry = JSON.parse(store.readFile(name)?.toString('utf8') ?? '') as PendingEntry;
      } catch {
        store.unlink(name); // torn by the kill itself: nothing to say about it
        continue;
      }
      if (writerAlive(entry.writer)) continue;
      const record = entry.record;
      record.truncated = true;
      record.skipped = `cored (pid ${entry.writer.pid}) stopped while this core was being written`;
      for (const sink of config.sinks) {
        if (sink.type !== 'directory') continue;
        let dir: SafeDir;
        try {
          dir = SafeDir.open(sink.path, false);
        } catch {
          continue;
        }
        try {
          const [best, ...rest] = partialCores(dir, id);
          for (const extra of rest) dir.unlink(extra.name);
          if (!best) continue;
          dir.rename(best.name, best.final);
          record.size = Math.max(record.size ?? 0, best.bytes);
          const location = dir.shown(best.final);
          record.sinks.push({ name: sink.name, ok: true, location, bytes: best.bytes, note: 'kept as far as it was written' });
          writeMetadata(dir, id, record);
        } finally {
          dir.close();
        }
      }
      store.appendLine(INDEX, JSON.stringify(indexEntry(record)));
      store.unlink(name);
      log(
        `pid ${record.pid} ${JSON.stringify(record.comm)}: recovered an interrupted crash: ${record.sinks.map((s) => s.location).join(', ') || 'no bytes had reached the disk'}`,
      );
      recovered.push(record);
    }
  } finally {
    store.close();
  }
  return recovered;
}
