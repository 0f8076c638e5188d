/**
 * The veriexec supervisor process (supervisor.ts says why): `node
 * supervisor-main.js SOCKET PRECONTENT` with the fanotify group as fd 3. It
 * loads nothing after start and opens no file: while no decider runs, an open
 * under a mark would wait on the very group it keeps.
 */
import fs from 'node:fs';
import net from 'node:net';

const GROUP = 3;
const HELD = 1;
const DONE = 2;
const BYE = 3;
const FAN_DENY = 2;

const [socket, preContent] = process.argv.slice(2);
if (!socket) {
  process.stderr.write('usage: supervisor-main.js SOCKET PRECONTENT (group on fd 3)\n');
  process.exit(2);
}
const log = (line: string) => {
  try {
    fs.writeSync(2, `veriexec supervisor ${process.pid}: ${line}\n`);
  } catch {
    // nowhere to say it
  }
};

let current: net.Socket | null = null;
let deniedLast = 0;
const waiting: net.Socket[] = [];

function deny(fd: number): boolean {
  const response = Buffer.alloc(8);
  response.writeInt32LE(fd, 0);
  response.writeUInt32LE(FAN_DENY, 4);
  try {
    fs.writeSync(GROUP, response);
    return true;
  } catch {
    return false; // ENOENT: answered already, or never an event
  }
}

function serve(conn: net.Socket): void {
  current = conn;
  const held = new Map<number, number>();
  let bye = false;
  let rest: Buffer = Buffer.alloc(0);
  conn.write(`${JSON.stringify({ pid: process.pid, fd: GROUP, preContent: preContent === '1', denied: deniedLast })}\n`);
  conn.on('data', (chunk: Buffer) => {
    rest = rest.length ? Buffer.concat([rest, chunk]) : chunk;
    let at = 0;
    for (; at + 8 <= rest.length; at += 8) {
      const op = rest.readInt32LE(at);
      const fd = rest.readInt32LE(at + 4);
      if (op === HELD) held.set(fd, (held.get(fd) ?? 0) + 1);
      else if (op === DONE) {
        const n = (held.get(fd) ?? 0) - 1;
        if (n > 0) held.set(fd, n);
        else held.delete(fd);
      } else if (op === BYE) bye = true;
    }
    rest = rest.subarray(at);
  });
  conn.on('error', () => {});
  conn.on('close', () => {
    current = null;
    if (bye) {
      // The decider leaves on purpose: closing our copy of the group (at exit) removes its marks once the decider's is closed too.
      server.close();
      try {
        fs.unlinkSync(socket!);
      } catch {
        // gone already
      }
      process.exit(0);
    }
    let denied = 0;
    for (const fd of held.keys()) if (deny(fd)) denied++;
    deniedLast = denied;
    log(`decider gone without a word: denied ${denied} event(s) it held (${[...held.keys()].join(', ') || 'none'}); waiting for the next`);
    next();
  });
}

function next(): void {
  if (current) return;
  const conn = waiting.shift();
  if (conn) serve(conn);
}

const server = net.createServer((conn) => {
  if (current) {
    // One decider at a time; the one before may be ending: the newcomer asks again.
    conn.end('busy\n');
    return;
  }
  waiting.push(conn);
  next();
});
try {
  fs.unlinkSync(socket);
} catch {
  // none left over
}
server.listen(socket, () => {
  fs.writeSync(1, 'ready\n');
});
for (const signal of ['SIGINT', 'SIGHUP', 'SIGPIPE'] as const) process.on(signal, () => {});
