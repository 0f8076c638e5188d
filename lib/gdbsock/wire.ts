/**
 * Parsing of the small pieces inside RSP packets: hex numbers, thread ids
 * (GDB manual, "Packets", thread-id syntax with the multiprocess extension
 * `pPID.TID`), signals, vCont actions, breakpoint conditions. Everything from the wire is checked here and turned into typed
 * values or a ProtocolError; replies.ts formats what goes back.
 */
import { hexValue } from './packet';
import { fromGdbSignal } from './signals';
import type { ResumeAction } from './target';

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
  if (text.length % 2 !== 0) throw new ProtocolError('bad hex data');
  const bytes = Buffer.allocUnsafe(text.length / 2);
  // Node's hex decoding stops at the first pair that is not two hex digits: short means bad.
  if (bytes.write(text, 'hex') !== bytes.length) throw new ProtocolError('bad hex data');
  return bytes;
}

/** -1 means "all", 0 means "any". */
export interface ThreadId {
  pid?: number;
  tid: number;
}

function parseIdPart(text: string, from: number, to: number): number {
  if (to - from === 2 && text.charCodeAt(from) === 0x2d && text.charCodeAt(from + 1) === 0x31) return -1; // "-1"
  return parseIdIn(text, from, to, 'thread id');
}

export function parseId(text: string, what = 'pid'): number {
  return parseIdIn(text, 0, text.length, what);
}

/**
 * A pid or tid of up to 16 hex digits: LLDB pads them with zeros to 16
 * (`D;000000000000397c`), more than parseHexIn's 13. Leading zeros beyond 13
 * digits are skipped; a value that needs more digits is no pid.
 */
export function parseIdIn(text: string, from: number, to: number, what = 'pid'): number {
  if (to - from <= 13 || to - from > 16) return parseHexIn(text, from, to, what);
  let at = from;
  while (to - at > 13 && text.charCodeAt(at) === 0x30) at++;
  return at === to - 13 ? parseHexIn(text, at, to, what) : parseHexIn(text, from, to, what);
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

/** A Z packet's conditions: after one ';', "X<len>,<hex bytecode>" back to back. */
export function parseConditions(text: string): Buffer[] | undefined {
  const conditions: Buffer[] = [];
  for (const extra of text.split(';')) if (!extra.startsWith('cmds:')) conditions.push(...agentExpressions(extra, 'condition'));
  return conditions.length ? conditions : undefined;
}

/** A Z packet's commands: ";cmds:<persist>,", then "X<len>,<hex bytecode>" back to back. */
export function parseCommands(text: string): Buffer[] | undefined {
  const commands: Buffer[] = [];
  for (const extra of text.split(';')) {
    if (!extra.startsWith('cmds:')) continue;
    const comma = extra.indexOf(',');
    if (comma < 0) throw new ProtocolError('cmds: without a persist flag');
    commands.push(...agentExpressions(extra.slice(comma + 1), 'command'));
  }
  return commands.length ? commands : undefined;
}

function agentExpressions(text: string, what: string): Buffer[] {
  const list: Buffer[] = [];
  let rest = text;
  while (rest.startsWith('X')) {
    const comma = rest.indexOf(',');
    if (comma < 0) throw new ProtocolError(`${what} without a length`);
    const len = parseHex(rest.slice(1, comma), `${what} length`);
    if (rest.length < comma + 1 + len * 2) throw new ProtocolError(`${what} shorter than its length`);
    list.push(hexToBuffer(rest.slice(comma + 1, comma + 1 + len * 2)));
    rest = rest.slice(comma + 1 + len * 2);
  }
  if (rest) throw new ProtocolError(`${what} list: unexpected "${rest.slice(0, 16)}"`);
  return list;
}

/** vCont;action[:thread-id];... (GDB manual, "Packets", vCont), parsed in place. */
export function parseVCont(text: string): ResumeAction[] {
  const actions: ResumeAction[] = [];
  for (let at = text.indexOf(';'); at >= 0 && at < text.length; ) {
    let end = text.indexOf(';', at + 1);
    if (end < 0) end = text.length;
    let colon = text.indexOf(':', at + 1);
    if (colon < 0 || colon > end) colon = end;
    const id = colon < end ? parseThreadId(text, colon + 1, end) : undefined;
    const tid = id === undefined || id.tid === -1 ? undefined : id.tid;
    const parsed = parseVContAction(text, at + 1, colon);
    if (tid !== undefined) parsed.tid = tid;
    else if (id?.pid !== undefined && id.pid > 0) parsed.pid = id.pid; // pPID.-1: that process only
    // The first action that applies to a thread wins, so keep gdb's order.
    actions.push(parsed);
    at = end;
  }
  if (actions.length === 0) throw new ProtocolError('vCont without actions');
  return actions;
}

/** One vCont action, text[from, to): c, Csig, s, Ssig, t, rstart,end. */
function parseVContAction(text: string, from: number, to: number): ResumeAction {
  switch (text[from]) {
    case 'c':
      if (to === from + 1) return { type: 'continue', signal: 0 };
      break;
    case 'C':
      return { type: 'continue', signal: linuxSignal(parseHexIn(text, from + 1, to, 'signal')) };
    case 's':
      if (to === from + 1) return { type: 'step', signal: 0 };
      break;
    case 'S':
      return { type: 'step', signal: linuxSignal(parseHexIn(text, from + 1, to, 'signal')) };
    case 't':
      if (to === from + 1) return { type: 'stop' };
      break;
    case 'r': {
      const comma = text.indexOf(',', from);
      if (comma < 0 || comma > to) throw new ProtocolError('vCont;r needs start,end');
      return { type: 'range', start: parseAddressIn(text, from + 1, comma), end: parseAddressIn(text, comma + 1, to) };
    }
  }
  throw new ProtocolError(`unknown vCont action '${text.slice(from, Math.min(to, from + 40))}'`);
}

export function linuxSignal(gdb: number): number {
  const linux = fromGdbSignal(gdb);
  if (linux === undefined) throw new ProtocolError(`signal ${gdb} does not exist on Linux`);
  return linux;
}

/** QPassSignals' list: gdb signal numbers in hex, the ones Linux lacks left out. */
export function signalList(value: string): Set<number> {
  const out = new Set<number>();
  for (const s of value.split(';')) {
    if (!s) continue;
    const linux = fromGdbSignal(parseHex(s, 'signal'));
    if (linux) out.add(linux);
  }
  return out;
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
