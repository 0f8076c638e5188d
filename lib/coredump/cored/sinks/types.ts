/** What every cored sink does with the one pass over the kernel's pipe. */
import type { CrashRecord } from '../record';

export interface SinkResult {
  name: string;
  ok: boolean;
  /** Where the core went (a file, a URL, a command). */
  location?: string;
  /** Bytes the sink accepted. */
  bytes: number;
  error?: string;
  /** How it got there, when that is worth knowing (a retry from the stored copy). */
  note?: string;
}

export interface CrashSink {
  readonly name: string;
  /**
   * Takes the next chunk; resolves when the sink can take another and no
   * longer refers to `chunk` (the pipe reader reuses its buffers).
   */
  write(chunk: Buffer): Promise<void>;
  /** The core ended (possibly truncated); `record` holds the final metadata. */
  finish(record: CrashRecord): Promise<SinkResult>;
  /** Gives up (the sink failed, stalled, or the time budget ran out): release everything, leave no partial output. */
  abort(reason: string): void;
}

/** Environment variables describing a crash, for commands (never spliced into a command line). */
export function crashEnvironment(record: CrashRecord): Record<string, string> {
  const env: Record<string, string> = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    CORED_ID: record.id,
    CORED_PID: String(record.pid),
    CORED_TID: String(record.tid),
    CORED_SIGNAL: String(record.signal),
    CORED_SIGNAL_NAME: record.signalName,
    CORED_TIME: String(record.time),
    CORED_UID: String(record.uid),
    CORED_GID: String(record.gid),
    CORED_DUMP_MODE: String(record.dumpMode),
    CORED_COMM: record.comm,
    CORED_EXE: record.exe ?? '',
  };
  if (record.expectedSize !== undefined) env.CORED_SIZE = String(record.expectedSize);
  // execve refuses NUL bytes; the kernel never puts them in comm, but be sure.
  for (const k of Object.keys(env)) env[k] = env[k]!.replace(/\0/g, '');
  return env;
}

/**
 * cored's event loop only moves cores: it writes synchronously up to this
 * size. A write handed to the thread pool costs a thread that competes with
 * the kernel's dump and cored's reader for the CPU (on two cores, random
 * 1 GiB cores were held about 20% longer), and blocks nothing here that
 * matters more than the core being written.
 */
export const CORED_SYNC_WRITE_MAX = 4 << 20;

/** What a directory sink writes through, one per format. */
export interface Encoder {
  /** Resolves when `chunk` may be reused. */
  write(chunk: Buffer): Promise<void>;
  /** Completes the output (flushes, closes a compressed frame). */
  end(): Promise<void>;
  /**
   * Gives up at once; a returned promise resolves when nothing more will be
   * written to the fd, which must stay open until then.
   */
  kill(): void | Promise<void>;
}
