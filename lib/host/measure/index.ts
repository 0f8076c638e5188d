/**
 * `hostkit measure`: what each kernel crossing costs on this host, in
 * repeated samples with a spread, with `perf bench` run beside the two it
 * has, and the soft-interrupt question answered in user space: how many
 * checks of a pending flag cost as much as one wake-up.
 */
import os from 'node:os';
import { addon } from '../../native';
import { type Mitigations, mitigations } from '../doctor/mitigations';
import { type AnchorRun, runPerfBench } from './anchors';
import { allowAll, forkexecLock, notifyGetppid, trapGetppid } from './filters';
import { type Summary, summarize } from './stats';

/** native/host.h enum hk_measure_kind. */
export const MeasureKind = {
  SYSCALL: 0,
  SECCOMP_FILTER: 1,
  SECCOMP_TRAP: 2,
  SECCOMP_NOTIFY: 3,
  PTRACE_STOP: 4,
  PTRACE_SYSCALL: 5,
  PIPE: 6,
  PAGE_FAULT: 7,
  FLAG_CHECK: 8,
  SIGNAL: 9,
  EVENTFD: 10,
} as const;

interface Benchmark {
  id: string;
  title: string;
  /** What one operation is. */
  per: string;
  kind: number;
  /** Operations per sample at scale 1: each sample takes roughly 50-100 ms here. */
  n: number;
  filter?: () => Buffer;
  /** perf bench arguments (without --loop) for the anchor, and its loops per run at scale 1. */
  anchor?: { args: string[]; loops: number };
}

const BENCHMARKS: Benchmark[] = [
  {
    id: 'syscall',
    title: 'bare syscall (getppid)',
    per: 'call',
    kind: MeasureKind.SYSCALL,
    n: 300_000,
    anchor: { args: ['syscall', 'basic'], loops: 300_000 },
  },
  { id: 'seccomp-allow', title: 'syscall under an allow-all seccomp filter', per: 'call', kind: MeasureKind.SECCOMP_FILTER, n: 300_000, filter: allowAll },
  { id: 'forkexec-lock', title: "syscall under forkexec's lock (fork, exec)", per: 'call', kind: MeasureKind.SECCOMP_FILTER, n: 300_000, filter: forkexecLock },
  { id: 'seccomp-trap', title: 'SECCOMP_RET_TRAP: SIGSYS and handler', per: 'call', kind: MeasureKind.SECCOMP_TRAP, n: 30_000, filter: trapGetppid },
  { id: 'seccomp-notify', title: 'seccomp user notification round trip', per: 'call', kind: MeasureKind.SECCOMP_NOTIFY, n: 1500, filter: notifyGetppid },
  { id: 'ptrace-stop', title: 'ptrace stop round trip (int3, wait, cont)', per: 'stop', kind: MeasureKind.PTRACE_STOP, n: 1500 },
  { id: 'ptrace-syscall', title: 'PTRACE_SYSCALL interception', per: 'call', kind: MeasureKind.PTRACE_SYSCALL, n: 800 },
  {
    id: 'pipe',
    title: 'pipe ping-pong between processes',
    per: 'round trip',
    kind: MeasureKind.PIPE,
    n: 1500,
    anchor: { args: ['sched', 'pipe'], loops: 1500 },
  },
  { id: 'page-fault', title: 'minor page fault (first write)', per: 'page', kind: MeasureKind.PAGE_FAULT, n: 20_000 },
  { id: 'flag-check', title: 'check of a pending flag', per: 'check', kind: MeasureKind.FLAG_CHECK, n: 100_000_000 },
  { id: 'signal-wake', title: 'signal taken (tgkill to self, handler)', per: 'signal', kind: MeasureKind.SIGNAL, n: 30_000 },
  { id: 'eventfd-wake', title: 'eventfd wake-up of a blocked process', per: 'wake-up', kind: MeasureKind.EVENTFD, n: 4000 },
];

export interface MeasureOptions {
  /** Samples per benchmark (default 5). */
  samples?: number;
  /** Multiplies every n (default 1; a test uses less). */
  scale?: number;
  /** Run perf bench beside (default true). */
  anchors?: boolean;
  /** Only these benchmark ids. */
  only?: string[];
  perf?: string;
}

export interface Measurement {
  id: string;
  title: string;
  per: string;
  unit: 'ns';
  n: number;
  ours: Summary;
  anchor?: { command: string; summary: Summary; ratio: number };
}

export interface Crossover {
  /** The wake-up compared with a flag check. */
  wake: 'signal-wake' | 'eventfd-wake';
  /** Checks per event at which polling the flag costs as much as one wake-up. */
  checksPerEvent: number;
}

export interface MeasureReport {
  host: { kernel: string; cpu: string; cpus: number; kpti: boolean | null; mitigations: Mitigations['entries'] };
  measurements: Measurement[];
  crossovers: Crossover[];
}

export function benchmarkIds(): string[] {
  return BENCHMARKS.map((b) => b.id);
}

export function measure(options: MeasureOptions = {}): MeasureReport {
  const samples = options.samples ?? 5;
  const scale = options.scale ?? 1;
  if (!Number.isInteger(samples) || samples < 1) throw new RangeError(`samples must be a positive integer, got ${samples}`);
  if (!(scale > 0)) throw new RangeError(`scale must be positive, got ${scale}`);
  const unknown = (options.only ?? []).filter((id) => !benchmarkIds().includes(id));
  if (unknown.length) throw new RangeError(`unknown benchmark ${unknown.join(', ')}; known: ${benchmarkIds().join(', ')}`);
  const chosen = options.only?.length ? BENCHMARKS.filter((b) => options.only!.includes(b.id)) : BENCHMARKS;
  const measurements = chosen.map((b) => run(b, samples, scale, options));
  const m = mitigations();
  return {
    host: { kernel: os.release(), cpu: os.cpus()[0]?.model ?? 'unknown', cpus: os.cpus().length, kpti: m.kpti, mitigations: m.entries },
    measurements,
    crossovers: crossovers(measurements),
  };
}

function run(b: Benchmark, samples: number, scale: number, options: MeasureOptions): Measurement {
  const n = Math.max(1, Math.round(b.n * scale));
  const filter = b.filter ? b.filter() : null;
  addon.measure(b.kind, Math.max(1, Math.round(n / 10)), filter); // warm-up: page in the code, wake the CPUs
  const ours = summarize(Array.from({ length: samples }, () => addon.measure(b.kind, n, filter)));
  const result: Measurement = { id: b.id, title: b.title, per: b.per, unit: 'ns', n, ours };
  if (b.anchor && options.anchors !== false) {
    const loops = Math.max(1, Math.round(b.anchor.loops * scale));
    const anchorRun: AnchorRun = runPerfBench([...b.anchor.args, '--loop', String(loops)], Math.min(samples, 3), options.perf);
    const summary = summarize(anchorRun.samples);
    result.anchor = { command: anchorRun.command, summary, ratio: ours.median / summary.median };
  }
  return result;
}

function crossovers(measurements: Measurement[]): Crossover[] {
  const check = measurements.find((m) => m.id === 'flag-check');
  if (!check) return [];
  return (['signal-wake', 'eventfd-wake'] as const).flatMap((wake) => {
    const w = measurements.find((m) => m.id === wake);
    return w ? [{ wake, checksPerEvent: w.ours.median / check.ours.median }] : [];
  });
}

function ns(value: number): string {
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)} ms`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(2)} µs`;
  return `${value.toFixed(value < 10 ? 2 : 1)} ns`;
}

/** The table for people: ours, the spread, and the anchor with the ratio where there is one. */
export function formatMeasure(report: MeasureReport): string {
  const h = report.host;
  const lines = [
    `hostkit measure: Linux ${h.kernel}, ${h.cpu}, ${h.cpus} CPUs, KPTI ${h.kpti === null ? 'unknown' : h.kpti ? 'on' : 'off'}`,
    `medians of ${report.measurements[0]?.ours.samples.length ?? 0} samples; spread = (max - min) / median`,
    '',
  ];
  const rows = [['what', 'per', 'median', 'spread', 'anchor', 'anchor median', 'ours/anchor']];
  for (const m of report.measurements) {
    rows.push([
      m.title,
      m.per,
      ns(m.ours.median),
      `${(m.ours.spread * 100).toFixed(0)}%`,
      m.anchor ? m.anchor.command.replace(/ --loop \d+/, '') : '',
      m.anchor ? ns(m.anchor.summary.median) : '',
      m.anchor ? m.anchor.ratio.toFixed(2) : '',
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows)
    lines.push(
      r
        .map((cell, i) => (i >= 2 && i !== 4 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    );
  if (report.crossovers.length) {
    lines.push('', 'pending-work flag checked on every pass, or a wake-up per event (splx against an interrupt):');
    for (const c of report.crossovers) {
      lines.push(
        `  ${c.wake}: checking is cheaper while fewer than ${Math.round(c.checksPerEvent).toLocaleString('en')} checks are made per event; past that, being woken costs less`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
