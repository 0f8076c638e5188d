/**
 * Parsing of the small pieces inside RSP packets: hex numbers, thread ids
 * (GDB manual, "Packets", thread-id syntax with the multiprocess extension
 * `pPID.TID`). Everything from the wire is checked here and turned into typed
 * values or a ProtocolError; replies.ts formats what goes back.
 */
import { hexValue } from './packet';

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
