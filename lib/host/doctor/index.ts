/**
 * `hostkit doctor`: every kernel facility hostkit stands on, probed on this
 * host by a real call or file read (never guessed from the kernel version),
 * each probe harmless and quick.
 */
import os from 'node:os';
import { probeCoredump } from './coredump';
import { probeFanotify } from './fanotify';
import type { Finding } from './finding';
import { probeFsVerity } from './fsverity';
import { probeKcore } from './kcore';
import { probeLandlock } from './landlock';
import { probeMitigations } from './mitigations';
import { probePidfd } from './pidfd';
import { probeProcmapQuery } from './procmap';
import { probePtrace } from './ptrace';
import { probeSeccomp } from './seccomp';
import { probeXsave } from './xsave';

export type { Finding, State } from './finding';
export { type Mitigations, mitigations } from './mitigations';

const PROBES: (() => Finding | Finding[])[] = [
  probePtrace,
  probeSeccomp,
  probeLandlock,
  probeCoredump,
  probeKcore,
  () => probeFanotify(),
  () => probeFsVerity(),
  probeProcmapQuery,
  probePidfd,
  probeXsave,
  () => probeMitigations(),
];

export interface DoctorReport {
  kernel: string;
  findings: Finding[];
  /** Wall time of all probes. */
  elapsedMs: number;
}

export function doctor(): DoctorReport {
  const start = process.hrtime.bigint();
  const findings = PROBES.flatMap((probe) => probe());
  const elapsedMs = Number(process.hrtime.bigint() - start) / 1e6;
  return { kernel: os.release(), findings, elapsedMs };
}

const MARK: Record<Finding['state'], string> = { ok: 'ok', limited: 'limited', missing: 'MISSING', info: 'info' };

/** One line per facility, then what to do, for people. */
export function formatDoctor(report: DoctorReport): string {
  const width = Math.max(...report.findings.map((f) => f.facility.length));
  const lines = [`hostkit doctor: Linux ${report.kernel}, ${report.findings.length} facilities probed in ${report.elapsedMs.toFixed(0)} ms`];
  for (const f of report.findings) {
    lines.push(`${MARK[f.state].padEnd(7)} ${f.facility.padEnd(width)}  ${f.detail}`);
    lines.push(`${''.padEnd(7)} ${''.padEnd(width)}  needed by: ${f.neededBy}`);
    if (f.fix) lines.push(`${''.padEnd(7)} ${''.padEnd(width)}  to do: ${f.fix}`);
  }
  return `${lines.join('\n')}\n`;
}
