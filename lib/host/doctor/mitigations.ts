/**
 * The CPU vulnerability mitigations the kernel has in force, as it reports
 * them (/sys/devices/system/cpu/vulnerabilities/*), and KPTI: on when the
 * meltdown entry says "Mitigation: PTI". Both change what a kernel crossing
 * costs, so `measure` prints them beside its numbers.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Finding } from './finding';

export const VULNERABILITIES = '/sys/devices/system/cpu/vulnerabilities';

export interface Mitigations {
  /** Each vulnerability and the kernel's sentence about it. */
  entries: Record<string, string>;
  /** Kernel page-table isolation (Linux's SVS): every user/kernel crossing switches page tables. */
  kpti: boolean | null;
}

export function mitigations(dir = VULNERABILITIES): Mitigations {
  const entries: Record<string, string> = {};
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir).sort();
  } catch {
    return { entries, kpti: null };
  }
  for (const name of names) {
    try {
      entries[name] = fs.readFileSync(path.join(dir, name), 'utf8').trim();
    } catch {
      // an entry that cannot be read is left out
    }
  }
  const meltdown = entries.meltdown;
  return { entries, kpti: meltdown === undefined ? null : /\bPTI\b/.test(meltdown) };
}

export function probeMitigations(m: Mitigations = mitigations()): Finding[] {
  const names = Object.keys(m.entries);
  const vulnerable = names.filter((n) => m.entries[n]!.startsWith('Vulnerable'));
  const mitigated = names.filter((n) => m.entries[n]!.startsWith('Mitigation'));
  return [
    {
      facility: 'KPTI',
      state: 'info',
      detail:
        m.kpti === null
          ? `unknown (${VULNERABILITIES}/meltdown absent)`
          : m.kpti
            ? `on (${m.entries.meltdown}): every syscall switches page tables`
            : `off (meltdown: ${m.entries.meltdown})`,
      neededBy: 'the cost of every kernel crossing (hostkit measure)',
      facts: { kpti: m.kpti },
    },
    {
      facility: 'CPU mitigations',
      state: 'info',
      detail: names.length
        ? `${mitigated.length} mitigated${mitigated.length ? ` (${mitigated.join(', ')})` : ''}; ${vulnerable.length} vulnerable${vulnerable.length ? ` (${vulnerable.join(', ')})` : ''}; ${names.length - mitigated.length - vulnerable.length} not affected`
        : `${VULNERABILITIES} cannot be read`,
      neededBy: 'the cost of every kernel crossing (hostkit measure)',
      facts: { ...m.entries },
    },
  ];
}
