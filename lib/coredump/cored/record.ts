/** One crash as cored records it: the kernel's arguments, /proc, the core's notes and what the sinks did. */
import type { CrashArgs } from './crash-args';
import type { ProcessMetadata } from './metadata';
import type { SinkResult } from './sinks/types';

export interface ThreadSummary {
  tid: number;
  signal: number;
}

/** The kernel's arguments as they were (the pidfd was a descriptor of the handler's, not worth keeping). */
export interface CrashRecord extends Omit<CrashArgs, 'pidfd'> {
  id: string;
  signalName: string;
  exe?: string;
  /** From the program headers, before the data arrived. */
  expectedSize?: number;
  /** Bytes read from the pipe. */
  size?: number;
  truncated?: boolean;
  /** Why nothing (or less) was stored: "rate limit", "max_core_size", "time budget", "rule". */
  skipped?: string;
  process: ProcessMetadata;
  core?: {
    threads: ThreadSummary[];
    crashingThread?: { tid: number; registers: Record<string, string> };
    siginfo?: { signo: number; code: number; errno: number; addr?: string; pid?: number; uid?: number };
    buildIds: { path: string; buildId: string }[];
    files: number;
    parseError?: string;
  };
  sinks: SinkResult[];
  /** Milliseconds from start until the pipe was released. */
  heldMs?: number;
}
