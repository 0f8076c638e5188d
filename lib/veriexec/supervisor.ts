/**
 * failMode 'closed': a supervisor process keeps a copy of the group fd, so
 * the group and its marks outlive a decider that dies. Until the next decider
 * comes, events wait in the group's queue (an exec blocks) instead of being
 * allowed, which is what the kernel does once a group's last fd is closed
 * (fanotify_release). The supervisor (supervisor-main.ts) listens on a unix
 * socket; one decider at a time is connected. On the connection the decider's
 * reader thread writes the fd number of each event it reads before deciding
 * it, and "done" once answered; when the connection ends without "bye" the
 * decider died, and the supervisor denies every number still held: the
 * kernel matches a response to a pending event by that number alone, from
 * whichever process writes it (fanotify_user.c, process_access_response).
 * Only then does it greet the next decider, which takes the group fd with
 * pidfd_getfd(2).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { HostkitError, hasCode } from '../errors';
import { addon, libc } from '../native';
import type { Group } from './fanotify';

/** The group fd's number in the supervisor (stdio 3). */
export const SUPERVISOR_GROUP_FD = 3;
export const DEFAULT_SOCKET = '/run/hostkit/veriexec-guard.sock';

export interface Hello {
  pid: number;
  fd: number;
  preContent: boolean;
  /** Events a dead decider held that the supervisor denied before greeting this one. */
  denied: number;
}

export interface SupervisorLink {
  group: Group;
  channel: number;
  pid: number;
  /** Whether this decider started the supervisor (else it took over a running one). */
  started: boolean;
  hello: Hello;
}

function supervisorScript(): string {
  const beside = path.join(__dirname, 'supervisor-main.js');
  if (fs.existsSync(beside)) return beside;
  // Running from lib/ (TypeScript under tap): the compiled one.
  return path.resolve(__dirname, '..', '..', 'dist', 'veriexec', 'supervisor-main.js');
}

/** Reads the supervisor's one-line greeting (a blocking socket; it writes it at once when free). */
function readHello(channel: number): Hello | 'busy' {
  const buf = Buffer.alloc(512);
  let len = 0;
  while (!buf.subarray(0, len).includes(10)) {
    const n = fs.readSync(channel, buf, len, buf.length - len, null);
    if (n === 0) throw new HostkitError('ERR_HOSTKIT_SUPERVISOR_GONE', 'the veriexec supervisor closed the connection before greeting');
    len += n;
  }
  const line = buf.subarray(0, buf.indexOf(10)).toString();
  if (line === 'busy') return 'busy';
  return JSON.parse(line) as Hello;
}

async function connect(socket: string): Promise<{ channel: number; hello: Hello } | null> {
  for (let attempt = 0; ; attempt++) {
    let channel: number;
    try {
      channel = addon.unixConnect(socket);
    } catch (err) {
      if (hasCode(err, 'ENOENT', 'ECONNREFUSED')) return null;
      throw err;
    }
    const hello = readHello(channel);
    if (hello !== 'busy') return { channel, hello };
    libc().close(channel);
    // The previous decider's end may not have been seen yet.
    if (attempt === 50) throw new HostkitError('ERR_HOSTKIT_SUPERVISOR_BUSY', `another decider holds the veriexec supervisor at ${socket}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Joins the supervisor at `socket`, taking its group; or, when none answers,
 * starts one with `newGroup()` (before anything is marked: the supervisor's
 * own exec must not wait on us).
 */
export async function linkSupervisor(socket: string, newGroup: () => Group): Promise<SupervisorLink> {
  const running = await connect(socket);
  if (running) {
    const pidfd = libc().pidfdOpen(running.hello.pid);
    let fd: number;
    try {
      fd = libc().pidfdGetfd(pidfd, running.hello.fd);
    } finally {
      libc().close(pidfd);
    }
    const link = fs.readlinkSync(`/proc/self/fd/${fd}`);
    if (link !== 'anon_inode:[fanotify]') {
      libc().close(fd);
      throw new HostkitError(
        'ERR_HOSTKIT_SUPERVISOR_FD',
        `fd ${running.hello.fd} of the supervisor (pid ${running.hello.pid}) is ${link}, not a fanotify group`,
      );
    }
    // O_NONBLOCK lives in the open file description, which the copy shares: already set.
    return { group: { fd, preContent: running.hello.preContent }, channel: running.channel, pid: running.hello.pid, started: false, hello: running.hello };
  }
  const group = newGroup();
  fs.mkdirSync(path.dirname(socket), { recursive: true });
  const child = spawn(process.execPath, [supervisorScript(), socket, group.preContent ? '1' : '0'], {
    detached: true,
    stdio: ['ignore', 'pipe', 'inherit', group.fd],
  });
  const ready = await new Promise<string>((resolve) => {
    let said = '';
    child.stdout!.on('data', (d: Buffer) => {
      said += d.toString();
      if (said.includes('\n')) resolve(said);
    });
    child.on('exit', (code, signal) => resolve(`exited ${code ?? signal}`));
  });
  child.stdout!.destroy();
  child.unref();
  if (!ready.startsWith('ready')) {
    libc().close(group.fd);
    throw new HostkitError('ERR_HOSTKIT_SUPERVISOR_START', `the veriexec supervisor did not start: ${ready.trim()}`);
  }
  const joined = await connect(socket);
  if (!joined) throw new HostkitError('ERR_HOSTKIT_SUPERVISOR_START', `the veriexec supervisor does not answer at ${socket}`);
  return { group, channel: joined.channel, pid: joined.hello.pid, started: true, hello: joined.hello };
}
