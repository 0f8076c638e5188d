/**
 * qXfer:osdata:read:TYPE (GDB manual, "General Query Packets", qXfer osdata;
 * the document's shape: "Operating System Information" and osdata.dtd): what
 * `info os` shows. Each table is a list of items of named columns, read from
 * /proc of the machine gdbsock runs on. The empty annex lists the types.
 * Served here: processes and threads; gdbserver also lists procgroups,
 * files, sockets, shm, semaphores, msg and modules.
 */
import fs from 'node:fs';
import { cmdline, comm, stat, tasks } from '../procfs';

type Row = [string, string | number][];

const TYPES: [string, string, string][] = [
  ['processes', 'Listing of all processes', 'Processes'],
  ['threads', 'Listing of all threads', 'Threads'],
];

/** The document for `annex`, or undefined for a type gdbsock does not serve. */
export function osdata(annex: string): string | undefined {
  switch (annex) {
    case '':
      return table(
        'types',
        TYPES.map(([type, description, title]) => [
          ['Type', type],
          ['Description', description],
          ['Title', title],
        ]),
      );
    case 'processes':
      return table('processes', processes());
    case 'threads':
      return table('threads', threads());
    default:
      return undefined;
  }
}

function pids(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .sort((a, b) => a - b);
}

/** uid -> user name, from /etc/passwd; the number where it has no name. */
function userNames(): Map<number, string> {
  const names = new Map<number, string>();
  try {
    for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [name, , uid] = line.split(':');
      if (name && uid !== undefined && !names.has(Number(uid))) names.set(Number(uid), name);
    }
  } catch {
    // no passwd: numbers
  }
  return names;
}

function processes(): Row[] {
  const users = userNames();
  const rows: Row[] = [];
  for (const pid of pids()) {
    try {
      const uid = fs.statSync(`/proc/${pid}`).uid;
      const args = cmdline(pid);
      // Kernel threads have no command line: their name, as ps shows it.
      const command = args.length ? args.join(' ') : comm(pid);
      const cores = [...new Set(tasks(pid).map((tid) => safeCore(pid, tid)))].filter((c) => c >= 0).sort((a, b) => a - b);
      rows.push([
        ['pid', pid],
        ['user', users.get(uid) ?? String(uid)],
        ['command', command],
        ['cores', cores.join(',')],
      ]);
    } catch {
      // gone while listed
    }
  }
  return rows;
}

function threads(): Row[] {
  const rows: Row[] = [];
  for (const pid of pids()) {
    try {
      const command = comm(pid);
      for (const tid of tasks(pid)) {
        rows.push([
          ['pid', pid],
          ['command', command],
          ['tid', tid],
          ['core', safeCore(pid, tid)],
        ]);
      }
    } catch {
      // gone while listed
    }
  }
  return rows;
}

function safeCore(pid: number, tid: number): number {
  try {
    return stat(pid, tid).processor;
  } catch {
    return -1;
  }
}

function table(type: string, rows: Row[]): string {
  const items = rows.map((row) => `<item>\n${row.map(([name, value]) => `<column name="${name}">${escapeXml(String(value))}</column>\n`).join('')}</item>\n`);
  return `<?xml version="1.0"?>\n<!DOCTYPE target SYSTEM "osdata.dtd">\n<osdata type="${type}">\n${items.join('')}</osdata>\n`;
}

function escapeXml(s: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it replaces
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`).replace(/[\x00-\x08\x0b\x0c\x0e-\x1f]/g, '?');
}
