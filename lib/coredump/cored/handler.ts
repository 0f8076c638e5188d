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
import { beginCrash, endCrash } from './journal';
import { logLine } from './log';
import { type ProcessMetadata, collectMetadata } from './metadata';
import { readInput } from './pipe-input';
import { peekHead, runPass } from './pipe-pass';
import type { CrashRecord } from './record';
import { type CrashFacts, type RateCheck, decide } from './rules';
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

/** Loads the config; a broken one must not lose the core, so it falls back to the default store and says why. */
export function loadConfigOrDefault(file: string | undefined): { config: CoredConfig; configError?: string } {
  try {
    return { config: file ? loadConfig(file) : defaultConfig() };
  } catch (err) {
    return { config: defaultConfig(), configError: (err as Error).message };
  }
}

/** Handles one crash from the kernel's pipe (`cored handle`); resolves with the record once every sink is done. */
export async function handleCrash(argv: readonly string[], options: HandleOptions = {}): Promise<CrashRecord> {
  const started = Date.now();
  const args = parseCrashArgs(argv);
  const { config, configError } = loadConfigOrDefault(options.configFile);
  // Backstop: even if a sink ignores every timeout, the process is released.
  const hardStop = setTimeout(
    () => {
      logLine(`pid ${args.pid}: time budget of ${config.limits.timeBudget} s exceeded by 10 s: exiting`);
      process.exit(3);
    },
    config.limits.timeBudget * 1000 + 10_000,
  );
  hardStop.unref();
  // /proc first: with core_pipe_limit 0 the kernel does not wait for us, but it cannot finish
  // writing a core bigger than the pipe before we drain it, so the process is still there.
  const meta = collectMetadata(args, config.metadata.redactEnviron);
  const fd = options.inputFd ?? 0;
  try {
    return await storeCrash({ args, meta, config, configError, started }, { chunks: readInput(fd)[Symbol.asyncIterator](), release: () => releaseInput(fd) });
  } finally {
    clearTimeout(hardStop);
  }
}

export interface CrashContext {
  /** The kernel's facts; in socket mode a signal of 0 and a tid equal to the pid mean "not known yet". */
  args: CrashArgs;
  meta: ProcessMetadata;
  config: CoredConfig;
  configError?: string;
  /** Date.now() when the crash arrived: the time budget counts from here. */
  started: number;
  /** The per-executable rate (default: count the store's index). */
  rate?: RateCheck;
  /** Sinks already chosen on the kernel's request (socket mode); otherwise chosen after the headers. */
  sinks?: SinkConfig[];
  /** Refused on the kernel's request (socket mode): no core comes; only the index and log lines are written. */
  refused?: string;
  /** Called when the decision after the headers refuses the core: the source can be dropped at once. */
  onRefused?(reason: string): void;
}

export interface CrashInput {
  chunks: AsyncIterator<Buffer>;
  /** Stops reading and lets the kernel go (closes the pipe or socket). */
  release(): void;
}

/**
 * One crash through the sinks: the headers decide (unless the request did),
 * the core streams once through every chosen sink, the input is released as
 * soon as it is read, and the index and log lines come last. The same code
 * for the pipe handler and the socket daemon.
 */
export async function storeCrash(context: CrashContext, input: CrashInput): Promise<CrashRecord> {
  const { args, meta, config, started } = context;
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
  if (context.refused !== undefined) {
    record.skipped = context.refused;
    input.release();
    finishRecord(record, store, context.configError);
    return record;
  }
  const chunks = input.chunks;
  const head = await peekHead(chunks);
  record.expectedSize = head.expectedSize;
  if (head.crash) {
    record.tid = head.crash.tid;
    record.signal = head.crash.signal;
    record.signalName = signalName(head.crash.signal);
  }

  let targets = context.sinks;
  if (!targets) {
    const rate = context.rate ?? (store ? indexRate(store, config) : undefined);
    const decision = decide(config, factsOf(record), { rate, room: (sinks) => noRoom(config, sinks), final: true });
    if (decision.kind === 'refuse') {
      record.skipped = decision.reason;
      context.onRefused?.(decision.reason);
    }
    targets = decision.kind === 'store' ? decision.sinks : [];
  }
  const sinks = openSinks(targets, record, config);
  const pending = store && sinks.length > 0 ? beginCrash(store, record) : undefined;
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
  // Everything is read: release the input now, which lets the crashing process go (in pipe mode
  // the kernel waits for the reader to close, fs/coredump.c wait_for_dump_helpers), before the
  // sinks' slower endings (compressor flush, HTTP response).
  input.release();
  record.heldMs = Date.now() - started;
  await finishSinks(sinks, record, config.limits.stallTimeout * 1000);
  await retryUploads(targets, record);
  for (const t of targets) if (t.type === 'directory') tryVacuum(config, t.path, record.id);
  finishRecord(record, store, context.configError, pending);
  return record;
}

/** The index line and the log line, last: a crash is listed once its sinks are done. */
function finishRecord(record: CrashRecord, store: SafeDir | undefined, configError?: string, pending?: string): void {
  if (store) {
    try {
      store.appendLine(INDEX, JSON.stringify(indexEntry(record)));
    } catch (err) {
      record.sinks.push({ name: 'index', ok: false, bytes: 0, error: (err as Error).message });
    } finally {
      endCrash(store, pending);
      store.close();
    }
  }
  logLine(describeCrash(record, configError));
}

export function factsOf(record: Pick<CrashRecord, 'exe' | 'signal' | 'uid' | 'expectedSize' | 'dumpMode' | 'time'>): CrashFacts {
  return { exe: record.exe, signal: record.signal || undefined, uid: record.uid, size: record.expectedSize, dumpMode: record.dumpMode, time: record.time };
}

/** The pipe handler's rate: each handler is its own process, so the index is the only memory. */
function indexRate(store: SafeDir, config: CoredConfig): RateCheck {
  const { ratePerExe, rateWindow } = config.limits;
  return (exe, now) => ratePerExe !== undefined && rateLimited(store, exe, ratePerExe, rateWindow, now);
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
      } else sinks.push(new SocketSink(target, record));
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

/**
 * The quota, asked before a byte is written: when every chosen sink is a
 * directory whose filesystem has less than keep_free even after the oldest
 * cores went, the crash is refused (why, in words) rather than written into
 * a disk that must stay free.
 */
export function noRoom(config: CoredConfig, sinks: readonly SinkConfig[]): string | undefined {
  const keepFree = config.store.keepFree;
  if (keepFree === undefined || sinks.length === 0 || sinks.some((s) => s.type !== 'directory')) return undefined;
  const short: string[] = [];
  for (const sink of sinks) {
    if (sink.type !== 'directory') continue;
    tryVacuum(config, sink.path);
    let free: number;
    try {
      const dir = SafeDir.open(sink.path);
      try {
        free = dir.space().free;
      } finally {
        dir.close();
      }
    } catch {
      return undefined; // the sink will say what is wrong with its directory
    }
    if (free >= keepFree) return undefined;
    short.push(`${free} bytes free in ${sink.path}`);
  }
  return `keep_free ${keepFree}: ${short.join(', ')}, even after deleting the oldest cores`;
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
