/**
 * The two facts of /proc/PID/smaps the dump filter needs per mapping:
 * whether it holds anonymous (private, written) pages, and its VmFlags
 * (proc(5): "dd" do not dump, "io" I/O mapping, "ht" hugetlb, "sh" shared).
 */
import fs from 'node:fs';
import { fromNodeError } from '../errors';

export interface SmapsEntry {
  anonymousKb: number;
  vmFlags: Set<string>;
}

const HEADER = /^([0-9a-f]+)-[0-9a-f]+ /;

/** smaps entries keyed by mapping start. */
export function readSmaps(pid: number): Map<bigint, SmapsEntry> {
  const path = `/proc/${pid}/smaps`;
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (err) {
    throw fromNodeError(err, { pid, path });
  }
  return parseSmaps(text);
}

export function parseSmaps(text: string): Map<bigint, SmapsEntry> {
  const result = new Map<bigint, SmapsEntry>();
  let current: SmapsEntry | undefined;
  for (const line of text.split('\n')) {
    const header = HEADER.exec(line);
    if (header) {
      current = { anonymousKb: 0, vmFlags: new Set() };
      result.set(BigInt(`0x${header[1]}`), current);
    } else if (current && line.startsWith('Anonymous:')) {
      current.anonymousKb = Number.parseInt(line.slice(10), 10) || 0;
    } else if (current && line.startsWith('VmFlags:')) {
      current.vmFlags = new Set(line.slice(8).trim().split(/\s+/));
    }
  }
  return result;
}
