/**
 * Parsing and formatting of the small pieces inside RSP packets: hex numbers,
 * thread ids (GDB manual, "Packets", thread-id syntax with the multiprocess
 * extension `pPID.TID`), stop replies. Everything from the wire is checked here
 * and turned into typed values or a ProtocolError.
 */
import { escapeBinary } from './packet';
import { toGdbSignal } from './signals';
import type { StopEvent } from './target';

export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

export function parseHex(text: string, what = 'number'): number {
  if (!/^[0-9a-fA-F]{1,13}$/.test(text)) throw new ProtocolError(`bad ${what} '${text.slice(0, 40)}'`);
  return parseInt(text, 16);
}

export function parseAddress(text: string): bigint {
  if (!/^[0-9a-fA-F]{1,16}$/.test(text)) throw new ProtocolError(`bad address '${text.slice(0, 40)}'`);
  return BigInt(`0x${text}`);
}

export function hexToBuffer(text: string): Buffer {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) throw new ProtocolError('bad hex data');
  return Buffer.from(text, 'hex');
}

/** -1 means "all", 0 means "any". */
export interface ThreadId {
  pid?: number;
  tid: number;
}

function parseIdPart(text: string): number {
  if (text === '-1') return -1;
  return parseHex(text, 'thread id');
}

export function parseThreadId(text: string): ThreadId {
  if (text.startsWith('p')) {
    const [pid, tid] = text.slice(1).split('.');
    return { pid: parseIdPart(pid ?? ''), tid: tid === undefined ? -1 : parseIdPart(tid) };
  }
  return { tid: parseIdPart(text) };
}

export function formatThreadId(pid: number, tid: number, multiprocess: boolean): string {
  return multiprocess ? `p${pid.toString(16)}.${tid.toString(16)}` : tid.toString(16);
}

const hex2 = (n: number) => n.toString(16).padStart(2, '0');

/** The reply for a StopEvent (GDB manual, "Stop Reply Packets"). */
export function formatStopReply(
  event: StopEvent,
  pid: number,
  options: { multiprocess: boolean; expedite?: (tid: number) => string; pidOf?: (tid: number) => number | undefined },
): string {
  // With forks kept under trace, the event's own process, not the first one's.
  const process = (p: number) => (options.multiprocess ? `;process:${p.toString(16)}` : '');
  const threadPid = (tid: number) => options.pidOf?.(tid) ?? pid;
  switch (event.kind) {
    case 'exited':
      return `W${hex2(event.code & 0xff)}${process(event.pid)}`;
    case 'killed':
      return `X${hex2(toGdbSignal(event.signal))}${process(event.pid)}`;
    case 'no-resumed':
      return 'N';
    case 'thread-exited':
      return `w${hex2(event.code & 0xff)};${formatThreadId(event.pid ?? pid, event.tid, options.multiprocess)}`;
    case 'signal': {
      let reply = `T${hex2(toGdbSignal(event.signal))}`;
      const r = event.reason;
      if (r) {
        switch (r.type) {
          case 'swbreak':
          case 'hwbreak':
          case 'create':
          case 'vforkdone':
            reply += `${r.type}:;`;
            break;
          case 'watch':
          case 'rwatch':
          case 'awatch':
            reply += `${r.type}:${r.address.toString(16)};`;
            break;
          case 'syscall_entry':
          case 'syscall_return':
            reply += `${r.type}:${r.nr.toString(16)};`;
            break;
          case 'exec':
            reply += `exec:${Buffer.from(r.path).toString('hex')};`;
            break;
          case 'fork':
          case 'vfork':
            reply += `${r.type}:${formatThreadId(r.childPid, r.childTid, options.multiprocess)};`;
            break;
        }
      }
      reply += options.expedite?.(event.tid) ?? '';
      return `${reply}thread:${formatThreadId(threadPid(event.tid), event.tid, options.multiprocess)};`;
    }
  }
}

/** A qXfer read reply: 'l' for the last piece, 'm' when more follows; binary, escaped. */
export function xferChunk(data: Buffer, offset: number, length: number): Buffer {
  const piece = data.subarray(Math.min(offset, data.length), Math.min(offset + length, data.length));
  const more = offset + length < data.length;
  return Buffer.concat([Buffer.from(more ? 'm' : 'l'), escapeBinary(piece)]);
}

/** gdb's CRC-32 for qCRC (polynomial 0x04c11db7, MSB first, seed 0xffffffff; GDB manual "General Query Packets"). */
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let j = 0; j < 8; j++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    table[i] = c >>> 0;
  }
  return table;
})();

export function gdbCrc32(data: Buffer, seed = 0xffffffff): number {
  let crc = seed >>> 0;
  for (const b of data) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ b) & 0xff]!) >>> 0;
  return crc >>> 0;
}
