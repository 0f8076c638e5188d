import { readProcText } from './read';

/** The fields of /proc/PID/stat that hostkit uses (proc(5)). */
export interface Stat {
  pid: number;
  /** The process name, exactly as set (it may hold spaces, parentheses, newlines). */
  comm: string;
  /** R, S, D, T, t (tracing stop), Z, X, I ... */
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  ttyNr: number;
  tpgid: number;
  flags: number;
  utime: bigint;
  stime: bigint;
  priority: number;
  nice: number;
  numThreads: number;
  /** Clock ticks after boot: with the pid, it names a process uniquely over time. */
  startTime: bigint;
  vsize: bigint;
  rss: bigint;
  /** The CPU it last ran on. */
  processor: number;
  exitSignal: number;
}

export function stat(pid: number, tid?: number): Stat {
  return parseStat(readProcText(pid, 'stat', tid));
}

/**
 * The name sits between the first '(' and the LAST ')': a process can call
 * itself ") S 1 (" to fool parsers that split on spaces (apport CVE-2021-25682).
 */
export function parseStat(text: string): Stat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`malformed stat: ${JSON.stringify(text.slice(0, 80))}`);
  // f[0] is field 3 (state) in proc(5)'s numbering.
  const f = text
    .slice(close + 2)
    .trim()
    .split(' ');
  if (f.length < 37) throw new Error(`stat has ${f.length + 2} fields, expected at least 39`);
  const field = (n: number) => f[n - 3]!;
  return {
    pid: Number(text.slice(0, open).trim()),
    comm: text.slice(open + 1, close),
    state: field(3),
    ppid: Number(field(4)),
    pgrp: Number(field(5)),
    session: Number(field(6)),
    ttyNr: Number(field(7)),
    tpgid: Number(field(8)),
    flags: Number(field(9)),
    utime: BigInt(field(14)),
    stime: BigInt(field(15)),
    priority: Number(field(18)),
    nice: Number(field(19)),
    numThreads: Number(field(20)),
    startTime: BigInt(field(22)),
    vsize: BigInt(field(23)),
    rss: BigInt(field(24)),
    exitSignal: Number(field(38)),
    processor: Number(field(39)),
  };
}

/**
 * The start time of a live process (clock ticks after boot), undefined once
 * it has ended (gone, or a zombie): with the pid it names the process, where
 * the pid alone may name another one after this one ends (proc(5), starttime).
 */
export function liveStartTime(pid: number): bigint | undefined {
  try {
    const s = stat(pid);
    return s.state === 'Z' || s.state === 'X' ? undefined : s.startTime;
  } catch {
    return undefined;
  }
}
