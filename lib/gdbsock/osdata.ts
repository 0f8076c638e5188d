/**
 * qXfer:osdata:read:TYPE (GDB manual, "General Query Packets", qXfer osdata;
 * the document's shape: "Operating System Information" and osdata.dtd): what
 * `info os` shows. Each table is a list of items of named columns, read from
 * /proc of the machine gdbsock runs on. The empty annex lists the types.
 * Served here: every type gdbserver serves, with its columns: the tables of
 * processes (processes, procgroups, threads, files) in this module, the
 * System V IPC ones in osdata-ipc.ts, sockets, modules and cpus in
 * osdata-system.ts.
 */
import fs from 'node:fs';
import { comm, stat, tasks } from '../procfs';
import { type Row, commandLineOf, commandOf, table, userNames } from './osdata-table';
import { messageQueues, semaphores, sharedMemory } from './osdata-ipc';
import { cpus, modules, sockets } from './osdata-system';

/** type, description, title, the document's own type name, its rows; in gdbserver's order. */
const TYPES: [string, string, string, string, () => Row[]][] = [
  ['cpus', 'Listing of all cpus/cores on the system', 'CPUs', 'cpus', cpus],
  ['files', 'Listing of all file descriptors', 'File descriptors', 'files', files],
  ['modules', 'Listing of all loaded kernel modules', 'Kernel modules', 'modules', modules],
  ['msg', 'Listing of all message queues', 'Message queues', 'message queues', messageQueues],
  ['processes', 'Listing of all processes', 'Processes', 'processes', processes],
  ['procgroups', 'Listing of all process groups', 'Process groups', 'process groups', processGroups],
  ['semaphores', 'Listing of all semaphores', 'Semaphores', 'semaphores', semaphores],
  ['shm', 'Listing of all shared-memory regions', 'Shared-memory regions', 'shared memory', sharedMemory],
  ['sockets', 'Listing of all internet-domain sockets', 'Sockets', 'I sockets', sockets],
  ['threads', 'Listing of all threads', 'Threads', 'threads', threads],
];

/** The document for `annex`; nothing at all for a type gdbsock does not serve (gdb then warns "Wrong osdata type?", as with gdbserver). */
export function osdata(annex: string): string {
  if (annex === '') {
    return table(
      'types',
      TYPES.map(([type, description, title]) => [
        ['Type', type],
        ['Description', description],
        ['Title', title],
      ]),
    );
  }
  const served = TYPES.find(([type]) => type === annex);
  return served ? table(served[3], served[4]()) : '';
}

function pids(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .sort((a, b) => a - b);
}

function processes(): Row[] {
  const users = userNames();
  const rows: Row[] = [];
  for (const pid of pids()) {
    try {
      const uid = fs.statSync(`/proc/${pid}`).uid;
      // As gdbserver: the arguments each followed by a space; a kernel thread's name in brackets.
      const command = commandLineOf(pid);
      const cores = [...new Set(tasks(pid).map((tid) => safeCore(pid, tid)))].filter((c) => c >= 0).sort((a, b) => a - b);
      rows.push([
        ['pid', pid],
        ['user', users.get(uid) ?? ''],
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

/** Every process under its group, the groups by number, each group's leader first (as gdbserver sorts them). */
function processGroups(): Row[] {
  const members: { pid: number; pgid: number }[] = [];
  for (const pid of pids()) {
    try {
      const pgid = stat(pid).pgrp;
      if (pgid > 0) members.push({ pid, pgid });
    } catch {
      // gone while listed
    }
  }
  members.sort((a, b) => a.pgid - b.pgid || Number(b.pid === b.pgid) - Number(a.pid === a.pgid) || a.pid - b.pid);
  return members.map(({ pid, pgid }) => [
    ['pgid', pgid],
    ['leader command', commandOf(pgid)],
    ['pid', pid],
    ['command line', commandLineOf(pid)],
  ]);
}

/** Every open file descriptor of every process, with what it names (its number where the link cannot be read, as gdbserver). */
function files(): Row[] {
  const rows: Row[] = [];
  for (const pid of pids()) {
    let open: string[];
    try {
      open = fs.readdirSync(`/proc/${pid}/fd`).filter((name) => /^\d+$/.test(name));
    } catch {
      continue; // gone, or not ours to read
    }
    const command = commandOf(pid);
    for (const fd of open.sort((a, b) => Number(a) - Number(b))) {
      let name = fd;
      try {
        name = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        // closed meanwhile, or not readable: the number
      }
      rows.push([
        ['pid', pid],
        ['command', command],
        ['file descriptor', fd],
        ['name', name],
      ]);
    }
  }
  return rows;
}
