/**
 * `cored handle`: what the kernel runs for each crash. The order matters:
 * /proc is read first, while the kernel holds the process; then the core
 * streams once through every chosen sink; the index line and the log line
 * come last. Whatever goes wrong, the pipe is read or closed promptly so the
 * crashing process is never held longer than the time budget.
 */
import fs from 'node:fs';
import { type CoredConfig, type SinkConfig, defaultConfig, loadConfig } from './config';
import { type CrashArgs, parseCrashArgs, signalName } from './crash-args';
import { logLine } from './log';
import { collectMetadata } from './metadata';
import { readInput } from './pipe-input';
import { peekHead, runPass } from './pipe-pass';
import type { CrashRecord } from './record';
import { chooseSinks } from './rules';
import { SafeDir } from './safe-dir';
import { CommandSink } from './sinks/command';
import { DirectorySink, writeMetadata } from './sinks/directory';
import { HttpSink } from './sinks/http';
import { SocketSink } from './sinks/socket';
import type { CrashSink, SinkResult } from './sinks/types';
import { INDEX, crashId, indexEntry, rateLimited, vacuum } from './store';
import { coreBytes } from './stored-core';

export interface HandleOptions {
  configFile?: string;
  /** Where the core comes from (the kernel's pipe is fd 0). */
  inputFd?: number;
}

/** Handles one crash; resolves with the record once every sink is done. */
export async function handleCrash(argv: readonly string[], options: HandleOptions = {}): Promise<CrashRecord> {
  const started = Date.now();
  const args = parseCrashArgs(argv);
  let config: CoredConfig;
  let configError: string | undefined;
  try {
    config = options.configFile ? loadConfig(options.configFile) : defaultConfig();
  } catch (err) {
    // A broken config must not lose the core: fall back to the default store.
    configError = (err as Error).message;
    config = defaultConfig();
  }
  // Backstop: even if a sink ignores every timeout, the process is released.
  const hardStop = setTimeout(() => {
    logLine(`pid ${args.pid}: time budget of ${config.limits.timeBudget} s exceeded by 10 s: exiting`);
    process.exit(3);
  }, config.limits.timeBudget * 1000 + 10_000);
  hardStop.unref();

  const meta = collectMetadata(args, config.metadata.redactEnviron);
  const record: CrashRecord = {
    id: crashId(args.time, args.pid, args.comm),
    pid: args.pid,
    tid: args.tid,
    signal: args.signal,
    signalName: signalName(args.signal),
    time: args.time,
    uid: args.uid,
    gid: args.gid,
    dumpMode: args.dumpMode,
    rlimitCore: args.rlimitCore,
    comm: args.comm,
    exe: meta.exe,
    process: meta,
    sinks: [],
  };

  const store = openStore(config, record);
  const chunks = readInput(options.inputFd ?? 0)[Symbol.asyncIterator]();
  const head = await peekHead(chunks);
  record.expectedSize = head.expectedSize;

  const targets = selectSinks(config, args, record, store);
  const sinks = openSinks(targets, record, config);
  if (sinks.length > 0) {
    const limits = config.limits;
    const pass = await runPass(head.replay, chunks, head.ended, {
      sinks,
      maxBytes: limits.maxCoreSize,
      deadline: started + limits.timeBudget * 1000,
      stallMs: limits.stallTimeout * 1000,
      copyUntil: head.dataStart,
      onSinkFailed: (sink, error) => {
        record.sinks.push({ name: sink.name, ok: false, bytes: 0, error });
        sinks.splice(sinks.indexOf(sink), 1);
      },
    });
    record.size = pass.bytes;
    if (pass.truncated) record.truncated = true;
    if (pass.budgetExceeded) {
      record.truncated = true;
      record.skipped = `time budget of ${limits.timeBudget} s exceeded: core truncated`;
    }
    if (pass.summary) record.core = pass.summary;
    else if (pass.parseError) record.core = { threads: [], buildIds: [], files: 0, parseError: pass.parseError };
  }
  // Everything is read: close the pipe now, which releases the crashing process (the kernel
  // waits for the reader to close it, fs/coredump.c wait_for_dump_helpers), before the sinks'
  // slower endings (compressor flush, HTTP response).
  releaseInput(options.inputFd ?? 0);
  record.heldMs = Date.now() - started;
  await finishSinks(sinks, record, config.limits.stallTimeout * 1000);
  await retryUploads(targets, record);
  for (const t of targets) if (t.type === 'directory') tryVacuum(config, t.path, record.id);

  if (store) {
    try {
      store.appendLine(INDEX, JSON.stringify(indexEntry(record)));
    } catch (err) {
      record.sinks.push({ name: 'index', ok: false, bytes: 0, error: (err as Error).message });
    } finally {
      store.close();
    }
  }
  logLine(describeCrash(record, configError));
  clearTimeout(hardStop);
  return record;
}

/**
 * An upload that failed once bytes had left cannot be retried from the
 * pipe, which is read once; it is retried from the copy a directory sink
 * stored (decompressed on the way), up to the sink's `retries`, backing off.
 */
async function retryUploads(targets: SinkConfig[], record: CrashRecord): Promise<void> {
  const stored = record.sinks.find((s) => s.ok && s.location && /\.core(\.zst|\.gz)?$/.test(s.location));
  if (!stored || record.truncated) return;
  const m = /^(.*?)(\.zst|\.gz)?$/.exec(stored.location!)!;
  const core = { file: stored.location!, format: m[2] === '.zst' ? 'zstd' : m[2] === '.gz' ? 'gzip' : 'raw' } as const;
  for (const target of targets) {
    if (target.type !== 'http') continue;
    const at = record.sinks.findIndex((s) => s.name === target.name);
    if (at < 0 || record.sinks[at]!.ok) continue;
    const errors = [record.sinks[at]!.error];
    for (let attempt = 0; attempt < target.retries; attempt++) {
      await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
      const sink = new HttpSink({ ...target, retries: 0 }, record, record.size);
      try {
        for await (const chunk of coreBytes(core)) await sink.write(chunk);
        const result = await sink.finish();
        if (result.ok) {
          record.sinks[at] = { ...result, note: `retried from ${core.file} after: ${errors.join('; ')}` };
          break;
        }
        errors.push(result.error);
      } catch (err) {
        sink.abort();
        errors.push((err as Error).message);
      }
      record.sinks[at]!.error = errors.join('; ');
    }
  }
}

function releaseInput(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    /* already closed */
  }
}

function openStore(config: CoredConfig, record: CrashRecord): SafeDir | undefined {
  try {
    return SafeDir.open(config.store.directory);
  } catch (err) {
    record.sinks.push({ name: 'index', ok: false, bytes: 0, error: `store ${config.store.directory}: ${(err as Error).message}` });
    return undefined;
  }
}

function selectSinks(config: CoredConfig, args: CrashArgs, record: CrashRecord, store: SafeDir | undefined): SinkConfig[] {
  const limits = config.limits;
  if (limits.maxCoreSize !== undefined && limits.onOversize === 'skip' && record.expectedSize !== undefined && record.expectedSize > limits.maxCoreSize) {
    record.skipped = `core of ${record.expectedSize} bytes exceeds max_core_size ${limits.maxCoreSize}`;
    return [];
  }
  if (limits.ratePerExe !== undefined && store && record.exe !== undefined && rateLimited(store, record.exe, limits.ratePerExe, limits.rateWindow, args.time)) {
    record.skipped = `rate limit: ${limits.ratePerExe} crashes of this executable in ${limits.rateWindow} s`;
    return [];
  }
  const chosen = chooseSinks(config, { exe: record.exe, signal: args.signal, uid: args.uid, size: record.expectedSize });
  if (chosen.rule !== undefined && chosen.sinks.length === 0) {
    record.skipped = chosen.rule < 0 ? 'no rule matched' : `rule ${chosen.rule} ignores it`;
    return [];
  }
  // %d 2: dumped only because fs.suid_dumpable = 2; such a core may hold another user's secrets
  // (systemd CVE-2022-4415): only sinks marked `restricted` (root-only directories by default) get it.
  const allowed = args.dumpMode === 1 ? chosen.sinks : chosen.sinks.filter((s) => s.restricted);
  if (allowed.length === 0) record.skipped = `dump mode ${args.dumpMode}: no sink accepts restricted cores`;
  return allowed;
}

function openSinks(targets: SinkConfig[], record: CrashRecord, config: CoredConfig): CrashSink[] {
  const sinks: CrashSink[] = [];
  for (const target of targets) {
    try {
      if (target.type === 'directory') {
        tryVacuum(config, target.path);
        const dir = SafeDir.open(target.path);
        sinks.push(new DirectorySink(target, dir, record.id));
      } else if (target.type === 'command') sinks.push(new CommandSink(target, record));
      else if (target.type === 'http') {
        const max = config.limits.maxCoreSize;
        const length = record.expectedSize !== undefined && max !== undefined ? Math.min(record.expectedSize, max) : record.expectedSize;
        sinks.push(new HttpSink(target, record, length));
      }
      else sinks.push(new SocketSink(target, record));
    } catch (err) {
      record.sinks.push({ name: target.name, ok: false, bytes: 0, error: (err as Error).message });
    }
  }
  return sinks;
}

async function finishSinks(sinks: CrashSink[], record: CrashRecord, stallMs: number): Promise<void> {
  const results = await Promise.all(
    sinks.map(async (sink): Promise<SinkResult> => {
      let timer: NodeJS.Timeout | undefined;
      try {
        const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('stalled while finishing')), Math.max(stallMs, 30_000))));
        return await Promise.race([sink.finish({ ...record }), timeout]);
      } catch (err) {
        sink.abort((err as Error).message);
        return { name: sink.name, ok: false, bytes: 0, error: (err as Error).message };
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  record.sinks.push(...results);
}

function tryVacuum(config: CoredConfig, path: string, keep?: string): void {
  if (config.store.maxUse === undefined && config.store.keepFree === undefined) return;
  try {
    const dir = SafeDir.open(path);
    try {
      vacuum(dir, config.store, keep);
    } finally {
      dir.close();
    }
  } catch {
    /* the sink itself reports the directory's trouble */
  }
}

/** The one log line: what crashed and where its core went. Crash-supplied strings are JSON-quoted. */
export function describeCrash(record: CrashRecord, configError?: string): string {
  const what = `pid ${record.pid} ${JSON.stringify(record.comm)} (${record.exe ? JSON.stringify(record.exe) : 'exe unknown'}) uid ${record.uid} ${record.signalName}`;
  const size = record.size !== undefined ? `, ${record.size} bytes${record.truncated ? ' (truncated)' : ''}` : '';
  const sinks = record.sinks.map((s) => (s.ok ? `${s.name} -> ${s.location}` : `${s.name} FAILED: ${s.error}`)).join('; ');
  const parts = [`${what}${size}`];
  if (record.skipped) parts.push(`not stored: ${record.skipped}`);
  if (sinks) parts.push(sinks);
  if (!record.process.pidVerified && record.process.procError) parts.push(record.process.procError);
  if (configError) parts.push(`config error, used the defaults: ${configError}`);
  if (record.heldMs !== undefined) parts.push(`held ${(record.heldMs / 1000).toFixed(2)} s`);
  return parts.join(' | ');
}

export { writeMetadata };
