/**
 * One connection on the coredump socket. The kernel connects from the
 * crashing task; its pidfd (SO_PEERPIDFD) says who it is and that it is
 * dumping. /proc is read first, through that pidfd, while the kernel holds the
 * task: with `@@` (Linux 6.17+) it waits for our answer to its request, with
 * `@` it blocks on the socket's full buffer. Then, with `@@`, the decision:
 * REJECT before a byte of the core is written, or KERNEL, without WAIT, so
 * the task is released the moment the kernel has written its last byte.
 * A core that starts with the ELF magic is the plain `@` protocol.
 */
import fs from 'node:fs';
import type { Socket } from 'node:net';
import { pidfdInfo, peerPidfd, CoredumpMask } from '../../procfs/pidfd';
import { ELF_MAGIC } from '../elf';
import type { CoredConfig, SinkConfig } from './config';
import { ACK_SIZE_VER0, CoredumpAction, MARK_SIZE, REQUEST_SIZE_VER0, encodeAck, parseMark, parseRequest } from './coredump-protocol';
import type { CrashArgs } from './crash-args';
import { factsOf, noRoom, storeCrash } from './handler';
import { logLine } from './log';
import { collectMetadata } from './metadata';
import type { CrashRecord } from './record';
import { type RateCheck, decide } from './rules';
import { SocketReader } from './socket-reader';

/** The kernel sends its request as it connects; a peer that says nothing this long is not the kernel. */
const HANDSHAKE_MS = 5_000;
/** RLIMIT_CORE as the kernel passes %c for "unlimited". */
const UNLIMITED = '18446744073709551615';

export interface SocketCrashOptions {
  config: CoredConfig;
  configError?: string;
  rate?: RateCheck;
}

/**
 * The facts the kernel would have passed a pipe handler, from the pidfd (the
 * rest come from /proc and the core's notes), and whether the peer is a task
 * that is dumping core: only the kernel connects for one.
 */
function argsFromPidfd(pidfd: number): { args: CrashArgs; dumping: boolean } {
  const info = pidfdInfo(pidfd);
  if (info.pid === undefined || info.uid === undefined || info.gid === undefined) throw new Error('the crashing process is already gone');
  const dumping = ((info.coredumpMask ?? 0) & CoredumpMask.COREDUMPED) !== 0;
  const args: CrashArgs = {
    pid: info.pid,
    tid: info.pid, // the dumping thread is known from the core's first NT_PRSTATUS
    signal: info.coredumpSignal ?? 0, // 0: from the core's notes (kernels before 6.19 do not say)
    time: Math.floor(Date.now() / 1000),
    uid: info.uid,
    gid: info.gid,
    dumpMode: (info.coredumpMask ?? 0) & CoredumpMask.ROOT ? 2 : 1,
    rlimitCore: UNLIMITED,
    comm: '',
    pidfd,
  };
  return { args, dumping };
}

/** "Max core file size  unlimited  unlimited  bytes" from /proc/PID/limits, as the kernel's %c. */
function coreLimit(limits: string | undefined): string {
  const m = /^Max core file size\s+(\S+)/m.exec(limits ?? '');
  return m && /^\d+$/.test(m[1]!) ? m[1]! : UNLIMITED;
}

export async function serveCrashConnection(socket: Socket, options: SocketCrashOptions): Promise<CrashRecord | undefined> {
  const started = Date.now();
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  let pidfd: number | undefined;
  let who = 'a peer';
  const drop = (why: string) => {
    logLine(`connection refused: ${why}`);
    socket.destroy();
    return undefined;
  };
  try {
    if (fd === undefined || fd < 0) return drop('no file descriptor for the accepted socket');
    try {
      pidfd = peerPidfd(fd);
    } catch (err) {
      return drop(`SO_PEERPIDFD: ${(err as Error).message}`);
    }
    let peer: ReturnType<typeof argsFromPidfd>;
    try {
      peer = argsFromPidfd(pidfd);
    } catch (err) {
      return drop(`PIDFD_GET_INFO: ${(err as Error).message}`);
    }
    const { args } = peer;
    who = `pid ${args.pid}`;
    // Anyone else who can reach the socket (root, since it is 0600) gets nothing stored.
    if (!peer.dumping) return drop(`${who} is not dumping core`);

    const { config } = options;
    const meta = collectMetadata(args, config.metadata.redactEnviron);
    args.comm = meta.comm ?? '';
    args.rlimitCore = coreLimit(meta.limits);
    const reader = new SocketReader(fd);
    const first = await reader.read(REQUEST_SIZE_VER0, HANDSHAKE_MS, 'a coredump request or core');
    const facts = factsOf({ exe: meta.exe, signal: args.signal, uid: args.uid, expectedSize: undefined, dumpMode: args.dumpMode, time: args.time });
    let refused: string | undefined;
    let sinks: SinkConfig[] | undefined;
    if (first.subarray(0, 4).equals(ELF_MAGIC)) {
      reader.unread(first); // `@`: the core itself, no request; the decision waits for the headers
    } else {
      const request = parseRequest(first);
      if (request.size > REQUEST_SIZE_VER0) await reader.read(request.size - REQUEST_SIZE_VER0, HANDSHAKE_MS, 'the rest of the coredump request');
      const decision = decide(config, facts, { rate: options.rate, room: (chosen) => noRoom(config, chosen), final: false });
      if (decision.kind === 'refuse') refused = decision.reason;
      if (decision.kind === 'store') sinks = decision.sinks;
      const action = refused !== undefined ? CoredumpAction.REJECT : CoredumpAction.KERNEL;
      fs.writeSync(fd, encodeAck(request, action)); // 16 bytes into an empty socket buffer: never EAGAIN
      const mark = parseMark(await reader.read(MARK_SIZE, HANDSHAKE_MS, "the kernel's mark"));
      if (mark !== 'REQACK') return drop(`${who}: the kernel answered our ${ACK_SIZE_VER0}-byte ack with ${mark}`);
    }

    const record = storeCrash(
      {
        args,
        meta,
        config,
        configError: options.configError,
        started,
        rate: options.rate,
        sinks,
        refused,
        onRefused: () => socket.destroy(), // the kernel's next write fails: the dump stops there
      },
      { chunks: reader.chunks(), release: () => socket.destroy() },
    );
    return await record;
  } catch (err) {
    return drop(`${who}: ${(err as Error).message}`);
  } finally {
    if (pidfd !== undefined) fs.closeSync(pidfd);
  }
}
