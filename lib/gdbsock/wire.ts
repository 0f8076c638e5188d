/**
 * Parsing and formatting of the small pieces inside RSP packets: hex numbers,
 * thread ids (GDB manual, "Packets", thread-id syntax with the multiprocess
 * extension `pPID.TID`), stop replies. Everything from the wire is checked here
 * and turned into typed values or a ProtocolError.
 */
import { escapeBinary, hexValue } from './packet';
import { toGdbSignal } from './signals';
import type { StopEvent } from './target';

export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

export function parseHex(text: string, what = 'number'): number {
  return parseHexIn(text, 0, text.length, what);
}

/**
 * text[from, to) as a hex number of 1 to 13 digits (13 fit a double exactly).
 * The hot packets (m, Z, vCont) are parsed in place with these: no split, no
 * regex, no substring per field.
 */
export function parseHexIn(text: string, from: number, to: number, what = 'number'): number {
  const value = hexDigits(text, from, to);
  if (value < 0) throw new ProtocolError(`bad ${what} '${text.slice(from, Math.min(to, from + 40))}'`);
  return value;
}

export function parseAddress(text: string): bigint {
  return parseAddressIn(text, 0, text.length);
}

/** text[from, to) as an address of 1 to 16 hex digits. */
export function parseAddressIn(text: string, from: number, to: number): bigint {
  const digits = to - from;
  const value = digits <= 13 ? hexDigits(text, from, to) : -1;
  if (value >= 0) return BigInt(value);
  // Above 2^52 (kernel addresses): too many digits for a double.
  if (digits > 13 && digits <= 16 && hexDigits(text, from, from + 8) >= 0 && hexDigits(text, from + 8, to) >= 0) {
    return BigInt(`0x${text.slice(from, to)}`);
  }
  throw new ProtocolError(`bad address '${text.slice(from, Math.min(to, from + 40))}'`);
}

/** The value of 1 to 13 hex digits at text[from, to), or -1 if that is not what is there. */
function hexDigits(text: string, from: number, to: number): number {
  if (to <= from || to - from > 13) return -1;
  let value = 0;
  for (let i = from; i < to; i++) {
    const digit = hexValue(text.charCodeAt(i));
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
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

function parseIdPart(text: string, from: number, to: number): number {
  if (to - from === 2 && text.charCodeAt(from) === 0x2d && text.charCodeAt(from + 1) === 0x31) return -1; // "-1"
  return parseHexIn(text, from, to, 'thread id');
}

export function parseThreadId(text: string, from = 0, to = text.length): ThreadId {
  if (text.charCodeAt(from) === 0x70) {
    // pPID.TID, or pPID alone (all its threads)
    const dot = text.indexOf('.', from);
    if (dot < 0 || dot >= to) return { pid: parseIdPart(text, from + 1, to), tid: -1 };
    return { pid: parseIdPart(text, from + 1, dot), tid: parseIdPart(text, dot + 1, to) };
  }
  return { tid: parseIdPart(text, from, to) };
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
