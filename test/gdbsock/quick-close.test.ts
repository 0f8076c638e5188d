/**
 * A killed gdbsock's connection closes before its memory is freed
 * (quick-close.ts, native/address_space.c): the holder process it starts,
 * checked against the kernel's own accounts (kcmp(2) for the shared memory,
 * /proc for the holder's files, signal mask and parent), and the order of
 * the close and the holder's end made visible by stopping the holder.
 */
import fs from 'node:fs';
import { once } from 'node:events';
import t from 'tap';
import { HOLDER_NAME } from '../../lib/gdbsock/quick-close';
import { status } from '../../lib/procfs/status';
import { eventually, fixture } from '../helpers';
import { rspClient, startGdbsock } from './gdb';

const program = fixture('gdbsock');
const SYS_KCMP = 312; // x86_64
const KCMP_VM = 1;
// SIGKILL (9) and SIGSTOP (19) cannot be blocked: the kernel leaves them out of the mask.
const ALL_BLOCKABLE = ~((1n << 8n) | (1n << 18n)) & 0xffff_ffff_ffff_ffffn;

/** kcmp(a, b, KCMP_VM): 0 when both processes run on the same memory. */
function compareMemory(a: number, b: number): number {
  const koffi = require('koffi') as typeof import('koffi');
  const syscall = koffi.load('libc.so.6').func('long syscall(long number, ...)');
  return Number(syscall(SYS_KCMP, 'int', a, 'int', b, 'int', KCMP_VM, 'unsigned long', 0, 'unsigned long', 0));
}

/** The pid of gdbsock's holder: its child named HOLDER_NAME. */
function holderOf(pid: number): number {
  const found = fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((p) => {
      try {
        const s = status(p);
        return s.ppid === pid && s.name === HOLDER_NAME;
      } catch {
        return false; // gone meanwhile
      }
    });
  if (found.length !== 1) throw new Error(`gdbsock ${pid} has ${found.length} holders`);
  return found[0]!;
}

/** Gone, or a zombie its new parent has yet to reap. */
const ended = (pid: number): boolean => {
  try {
    return status(pid).state === 'Z';
  } catch {
    return true;
  }
};

async function serving() {
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', program, 'sleep']);
  const holder = holderOf(server.proc.pid!);
  t.teardown(() => {
    for (const pid of [server.proc.pid!, holder]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
  });
  return { server, holder };
}

t.test("the holder runs on gdbsock's memory, holds no file and takes no signal", async (t) => {
  const { server, holder } = await serving();
  t.equal(compareMemory(server.proc.pid!, holder), 0, 'kcmp: the same memory');
  t.not(compareMemory(process.pid, holder), 0, "and not this test's (kcmp tells them apart)");
  const fds = fs.readdirSync(`/proc/${holder}/fd`);
  t.equal(fds.length, 1, "one open file, none of gdbsock's sockets");
  t.equal(fs.readlinkSync(`/proc/${holder}/fd/${fds[0]}`), 'anon_inode:[pidfd]', 'a pidfd');
  t.match(
    fs.readFileSync(`/proc/${holder}/fdinfo/${fds[0]}`, 'utf8'),
    new RegExp(`^Pid:\\s+${server.proc.pid}$`, 'm'),
    "gdbsock's: the holder waits for it to end",
  );
  const s = status(holder);
  t.equal(s.sigBlocked, ALL_BLOCKABLE, "every signal blocked: no handler of gdbsock's runs on its stack");
  t.equal(s.ppid, server.proc.pid, "gdbsock's child");
  await server.stop();
  await eventually(() => ended(holder), 'the holder to end after gdbsock');
});

t.test('killed, gdbsock closes its connection while the holder still holds its memory', async (t) => {
  const { server, holder } = await serving();
  const c = await rspClient(server.target);
  // Served, with nothing left unread (a connection still in the listen queue, or
  // an ack gdbsock has yet to read, would be reset by the close instead).
  await c.ask('QStartNoAckMode');
  await c.ask('?');
  const closed = once(c.socket, 'end');
  process.kill(holder, 'SIGSTOP'); // stopped, it cannot end: the memory stays held
  process.kill(server.proc.pid!, 'SIGKILL');
  await closed;
  t.pass('end of file while the memory is held: the close did not wait for it to be freed');
  t.equal(status(holder).state, 'T', 'the holder, stopped, still there');
  c.close();
  await server.exited;
  process.kill(holder, 'SIGCONT');
  await eventually(() => ended(holder), 'the holder to end once gdbsock is gone');
});
