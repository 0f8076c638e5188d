/**
 * What every `info os` table is made of (GDB manual, "Operating System
 * Information", osdata.dtd): items of named columns, and the few ways
 * gdbserver spells a value in them (user and group names, a process's
 * command, a time), so the tables read the same through gdbsock.
 */
import fs from 'node:fs';
import { comm } from '../procfs';

export type Row = [string, string | number][];

/** The document gdb parses; `type` is the table's own name for itself (gdbserver's, e.g. "shared memory"). */
export function table(type: string, rows: Row[]): string {
  const items = rows.map((row) => `<item>\n${row.map(([name, value]) => `<column name="${name}">${escapeXml(String(value))}</column>\n`).join('')}</item>\n`);
  return `<?xml version="1.0"?>\n<!DOCTYPE target SYSTEM "osdata.dtd">\n<osdata type="${type}">\n${items.join('')}</osdata>\n`;
}

function escapeXml(s: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it replaces
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`).replace(/[\x00-\x08\x0b\x0c\x0e-\x1f]/g, '?');
}

/** id -> name from a passwd-like file (/etc/passwd, /etc/group): name first, id third. */
function namesFrom(file: string): Map<number, string> {
  const names = new Map<number, string>();
  try {
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const [name, , id] = line.split(':');
      if (name && id !== undefined && !names.has(Number(id))) names.set(Number(id), name);
    }
  } catch {
    // no such file: no names
  }
  return names;
}

/** uid -> user name, from /etc/passwd. */
export function userNames(): Map<number, string> {
  return namesFrom('/etc/passwd');
}

/** gid -> group name, from /etc/group. */
export function groupNames(): Map<number, string> {
  return namesFrom('/etc/group');
}

/** A process's command name (comm), or its number when it is gone (gdbserver's command_from_pid). */
export function commandOf(pid: number): string {
  try {
    return comm(pid);
  } catch {
    return String(pid);
  }
}

/**
 * A process's command line, its arguments each followed by a space (the NULs
 * of /proc/PID/cmdline made spaces, as gdbserver shows them), or "[comm]" for
 * a process without one (a kernel thread).
 */
export function commandLineOf(pid: number): string {
  let raw: Buffer;
  try {
    raw = fs.readFileSync(`/proc/${pid}/cmdline`);
  } catch {
    return '';
  }
  if (raw.length === 0) return `[${commandOf(pid)}]`;
  return raw.toString().replaceAll('\0', ' ');
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Seconds since the epoch as ctime(3) writes them, local time, newline included; empty for 0 ("never"). */
export function ctime(seconds: number): string {
  if (!seconds) return '';
  const d = new Date(seconds * 1000);
  const two = (n: number) => String(n).padStart(2, '0');
  const day = String(d.getDate()).padStart(2, ' ');
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${day} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${d.getFullYear()}\n`;
}

/** The lines of a /proc table after its header line; none when the file is missing (no SysV IPC, no modules). */
export function procTableLines(file: string, header = true): string[][] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const lines = text.split('\n').filter((l) => l.trim());
  return (header ? lines.slice(1) : lines).map((l) => l.trim().split(/\s+/));
}
