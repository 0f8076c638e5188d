/**
 * NetBSD's strict levels as a Decider over a signatures table:
 *
 * 0 learning: nothing is denied; what level 2 would deny is logged.
 * 1 IDS: a listed file whose fingerprint does not match is denied (at exec
 *   and at open: a library, a script an interpreter reads); a listed file
 *   without `direct`/`indirect` may not be executed.
 * 2 IPS: also unlisted programs may not be executed, and unlisted ELF
 *   objects and scripts may not be opened (so not loaded as libraries).
 * 3 lockdown: also no file outside the table may be opened (or created) in
 *   a directory that holds listed files.
 *
 * What fanotify cannot give, and so this does not do: deny opening a listed
 * file for writing (a permission event does not carry the open's flags), or
 * a chmod +x. A file changed after its verdict is caught at its next exec or
 * open: the verdict cache is keyed on the file's state.
 */
import fs from 'node:fs';
import path from 'node:path';
import { classify } from './classify';
import type { AccessEvent, Verdict } from './fanotify';
import { fingerprintFd } from './fingerprint';
import type { Decider } from './guard';
import type { VeriexecTable } from './table';

export type Level = 0 | 1 | 2 | 3;
export const LEVELS: readonly Level[] = [0, 1, 2, 3];

export function tableDecider(table: VeriexecTable, level: Level): Decider {
  const listedDirectories = new Set([...table.all()].map((e) => path.dirname(e.path)));
  return {
    decide(event: AccessEvent): Verdict {
      const { problem, untrusted } = judge(table, listedDirectories, level, event);
      const cache = !untrusted;
      if (problem === null || problem.level > Math.max(level, 2)) return { allow: true, cache };
      if (problem.level > level && level > 0) return { allow: true, cache };
      if (level === 0) return { allow: true, warning: `would deny: ${problem.reason}`, cache };
      return { allow: false, reason: problem.reason, cache };
    },
  };
}

interface Problem {
  reason: string;
  /** The lowest level that denies it (level 0 logs those of level 2 and below). */
  level: Level;
}

function judge(table: VeriexecTable, listedDirectories: Set<string>, level: Level, event: AccessEvent): { problem: Problem | null; untrusted: boolean } {
  const entry = table.get(event.path);
  if (!entry) {
    if (event.kind === 'exec') return { problem: { reason: 'not in the table', level: 2 }, untrusted: false };
    if (runnable(event)) return { problem: { reason: 'not in the table (an ELF object or script)', level: 2 }, untrusted: false };
    if (level >= 3 && listedDirectories.has(path.dirname(event.path)))
      return { problem: { reason: 'not in the table (lockdown)', level: 3 }, untrusted: false };
    return { problem: null, untrusted: false };
  }
  const untrusted = entry.flags.has('untrusted');
  if (event.kind === 'exec' && !entry.flags.has('direct') && !entry.flags.has('indirect'))
    return { problem: { reason: 'listed without direct or indirect: not to be executed', level: 1 }, untrusted };
  if (event.stat.size !== BigInt(entry.size))
    return { problem: { reason: `size ${event.stat.size} differs from the table's ${entry.size}`, level: 1 }, untrusted };
  const found = fingerprintFd(event.fd, entry.algorithm);
  if (found.digest !== entry.digest) return { problem: { reason: `fingerprint mismatch (${entry.algorithm} ${found.digest})`, level: 1 }, untrusted };
  return { problem: null, untrusted };
}

/** Whether the file behind the event is an ELF object or a script (its first bytes, read through the event's fd). */
function runnable(event: AccessEvent): boolean {
  if ((event.stat.mode & 0o170000) !== 0o100000) return false; // directories and devices: never runnable
  const head = Buffer.alloc(4096);
  const n = fs.readSync(event.fd, head, 0, head.length, 0);
  return classify(head.subarray(0, n), event.stat.mode | 0o111) !== null;
}
