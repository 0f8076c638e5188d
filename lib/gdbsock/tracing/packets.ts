/**
 * The tracepoint packets (GDB manual, "Tracepoint Packets"), QT… and qT…,
 * parsed into typed requests: the only place that knows their syntax.
 * tracing.ts decides what they mean.
 */
import { ProtocolError, hexToBuffer, parseHex } from '../wire';

/** One collection a tracepoint does at each hit ("QTDP:-"): its actions. */
export type TraceAction =
  /** R mask: every register (gdbserver too collects them all, whatever the mask). */
  | { type: 'registers' }
  /** M basereg,offset,len: memory at offset, plus the register's value unless basereg is -1. */
  | { type: 'memory'; baseRegister: number | undefined; offset: bigint; length: number }
  /** X len,bytecode: an agent expression whose trace bytecodes collect. */
  | { type: 'expression'; code: Buffer };

export interface TracepointDefinition {
  number: number;
  address: bigint;
  enabled: boolean;
  /** while-stepping's count of steps. */
  stepCount: number;
  /** Tracing stops once this many hits collected (0: never). */
  passCount: number;
  condition: Buffer | undefined;
  /** F or S: a fast or static tracepoint, which needs gdbserver's in-process agent. */
  kind: 'trap' | 'fast' | 'static';
}

export type FrameSearch =
  | { by: 'number'; frame: number }
  | { by: 'pc'; pc: bigint }
  | { by: 'tracepoint'; number: number }
  | { by: 'range'; start: bigint; end: bigint }
  | { by: 'outside'; start: bigint; end: bigint };

export type TraceRequest =
  | { op: 'init' }
  /** `more`: the packet ended in '-', its actions follow. */
  | { op: 'define'; tracepoint: TracepointDefinition; more: boolean }
  /** Actions of a tracepoint already defined; `stepping`: the while-stepping ones. `text`: each as gdb sent it, for qTsP. */
  | { op: 'actions'; number: number; address: bigint; stepping: boolean; actions: TraceAction[]; text: string[]; more: boolean }
  /** QTDPsrc: a piece of the tracepoint's source text, kept for the next gdb (qTsP). */
  | { op: 'source'; number: number; address: bigint; text: string }
  | { op: 'variable'; number: number; initial: bigint; builtin: boolean; name: string }
  /** QTro: memory gdb knows never changes, readable from the process while a trace frame is selected. */
  | { op: 'readOnly'; ranges: { start: bigint; end: bigint }[] }
  | { op: 'start' }
  | { op: 'stop' }
  | { op: 'enable'; number: number; address: bigint; on: boolean }
  | { op: 'selectFrame'; search: FrameSearch }
  /** QTFrame:-1: back to the live process. */
  | { op: 'unselectFrame' }
  | { op: 'status' }
  | { op: 'tracepointStatus'; number: number; address: bigint }
  | { op: 'definitions'; first: boolean }
  | { op: 'variables'; first: boolean }
  | { op: 'variableValue'; number: number }
  | { op: 'buffer'; offset: number; length: number }
  | { op: 'bufferCircular'; on: boolean }
  /** undefined: the default size. */
  | { op: 'bufferSize'; size: number | undefined }
  | { op: 'notes'; user?: string; notes?: string; stopNote?: string }
  | { op: 'disconnected'; on: boolean };

/** undefined for a packet that is no tracepoint packet of ours (answered empty: gdb then knows we lack it). */
export function parseTracePacket(text: string): TraceRequest | undefined {
  if (text.startsWith('q')) return parseQuery(text);
  if (text === 'QTinit') return { op: 'init' };
  if (text === 'QTStart') return { op: 'start' };
  if (text === 'QTStop') return { op: 'stop' };
  if (text.startsWith('QTDP:-')) return parseActions(text.slice('QTDP:-'.length));
  if (text.startsWith('QTDP:')) return parseDefinition(text.slice('QTDP:'.length));
  if (text.startsWith('QTDPsrc:')) {
    const [number, address] = text.slice('QTDPsrc:'.length).split(':');
    return { op: 'source', number: parseNumber(number), address: parseAddress(address), text: text.slice('QTDPsrc:'.length) };
  }
  if (text.startsWith('QTDV:')) {
    const [number, initial, builtin, name = ''] = text.slice('QTDV:'.length).split(':');
    return { op: 'variable', number: parseNumber(number), initial: parseSigned(initial), builtin: builtin === '1', name: hexToBuffer(name).toString('latin1') };
  }
  if (text.startsWith('QTro')) return { op: 'readOnly', ranges: parseRanges(text.slice('QTro'.length)) };
  if (text.startsWith('QTEnable:') || text.startsWith('QTDisable:')) {
    const on = text.startsWith('QTEnable:');
    const [number, address] = text.slice(text.indexOf(':') + 1).split(':');
    return { op: 'enable', number: parseNumber(number), address: parseAddress(address), on };
  }
  if (text.startsWith('QTFrame:')) return parseFrame(text.slice('QTFrame:'.length));
  if (text.startsWith('QTBuffer:circular:')) return { op: 'bufferCircular', on: text.slice('QTBuffer:circular:'.length) !== '0' };
  if (text.startsWith('QTBuffer:size:')) {
    const size = text.slice('QTBuffer:size:'.length);
    return { op: 'bufferSize', size: size === '-1' ? undefined : parseHex(size, 'trace buffer size') };
  }
  if (text.startsWith('QTNotes:')) return parseNotes(text.slice('QTNotes:'.length));
  if (text.startsWith('QTDisconnected:')) return { op: 'disconnected', on: text.slice('QTDisconnected:'.length) !== '0' };
  return undefined;
}

function parseQuery(text: string): TraceRequest | undefined {
  switch (text) {
    case 'qTStatus':
      return { op: 'status' };
    case 'qTfP':
    case 'qTsP':
      return { op: 'definitions', first: text === 'qTfP' };
    case 'qTfV':
    case 'qTsV':
      return { op: 'variables', first: text === 'qTfV' };
  }
  if (text.startsWith('qTP:')) {
    const [number, address] = text.slice('qTP:'.length).split(':');
    return { op: 'tracepointStatus', number: parseNumber(number), address: parseAddress(address) };
  }
  if (text.startsWith('qTV:')) return { op: 'variableValue', number: parseNumber(text.slice('qTV:'.length)) };
  if (text.startsWith('qTBuffer:')) {
    const [offset, length] = text.slice('qTBuffer:'.length).split(',');
    return { op: 'buffer', offset: parseHex(offset ?? '', 'offset'), length: parseHex(length ?? '', 'length') };
  }
  return undefined;
}

/** QTDP:n:addr:E|D:step:pass[:Fn|:S|:Xlen,bytes]...[-] */
function parseDefinition(body: string): TraceRequest {
  const fields = body.split(':');
  const [number, address, enabled, step, pass] = fields;
  if (enabled !== 'E' && enabled !== 'D') throw new ProtocolError('QTDP: enabled is neither E nor D');
  const tracepoint: TracepointDefinition = {
    number: parseNumber(number),
    address: parseAddress(address),
    enabled: enabled === 'E',
    stepCount: parseHex(step ?? '', 'step count'),
    passCount: parseHex((pass ?? '').replace(/-$/, ''), 'pass count'),
    condition: undefined,
    kind: 'trap',
  };
  for (const extra of fields.slice(5)) {
    const field = extra.replace(/-$/, '');
    if (field.startsWith('F')) tracepoint.kind = 'fast';
    else if (field === 'S') tracepoint.kind = 'static';
    else if (field.startsWith('X')) tracepoint.condition = parseExpression(field).code;
  }
  return { op: 'define', tracepoint, more: body.endsWith('-') };
}

/** QTDP:-n:addr:[S]action...[-]: R, M and X actions back to back. */
function parseActions(body: string): TraceRequest {
  const first = body.indexOf(':');
  const second = body.indexOf(':', first + 1);
  if (first < 0 || second < 0) throw new ProtocolError('QTDP:- without an address');
  const number = parseNumber(body.slice(0, first));
  const address = parseAddress(body.slice(first + 1, second));
  let rest = body.slice(second + 1);
  const stepping = rest.startsWith('S');
  if (stepping) rest = rest.slice(1);
  const more = rest.endsWith('-');
  if (more) rest = rest.slice(0, -1);
  const actions: TraceAction[] = [];
  const text: string[] = [];
  while (rest.length) {
    const start = rest;
    switch (rest[0]) {
      case 'R': {
        const end = /^R[0-9a-fA-F]*/.exec(rest)![0].length;
        actions.push({ type: 'registers' });
        rest = rest.slice(end);
        break;
      }
      case 'M': {
        const match = /^M(-?[0-9a-fA-F]+),([0-9a-fA-F]+),([0-9a-fA-F]+)/.exec(rest);
        if (!match) throw new ProtocolError('malformed M action');
        const base = match[1] === '-1' ? undefined : parseHex(match[1]!, 'base register');
        actions.push({ type: 'memory', baseRegister: base, offset: BigInt(`0x${match[2]}`), length: parseHex(match[3]!, 'length') });
        rest = rest.slice(match[0].length);
        break;
      }
      case 'X': {
        const { code, length } = parseExpression(rest);
        actions.push({ type: 'expression', code });
        rest = rest.slice(length);
        break;
      }
      default:
        throw new ProtocolError(`unknown tracepoint action ${rest[0]}`);
    }
    text.push(start.slice(0, start.length - rest.length));
  }
  return { op: 'actions', number, address, stepping, actions, text, more };
}

/** Xlen,bytecode: the bytecode and how many characters it took. */
function parseExpression(text: string): { code: Buffer; length: number } {
  const comma = text.indexOf(',');
  if (comma < 0) throw new ProtocolError('expression without a length');
  const bytes = parseHex(text.slice(1, comma), 'expression length');
  const end = comma + 1 + bytes * 2;
  if (text.length < end) throw new ProtocolError('expression shorter than its length');
  return { code: hexToBuffer(text.slice(comma + 1, end)), length: end };
}

function parseFrame(body: string): TraceRequest {
  if (body === '-1' || body === 'ffffffff') return { op: 'unselectFrame' };
  const [what, a = '', b = ''] = body.split(':');
  switch (what) {
    case 'pc':
      return { op: 'selectFrame', search: { by: 'pc', pc: parseAddress(a) } };
    case 'tdp':
      return { op: 'selectFrame', search: { by: 'tracepoint', number: parseNumber(a) } };
    case 'range':
    case 'outside':
      return { op: 'selectFrame', search: { by: what, start: parseAddress(a), end: parseAddress(b) } };
  }
  return { op: 'selectFrame', search: { by: 'number', frame: parseNumber(what) } };
}

/** QTro:start,end:start,end... */
function parseRanges(body: string): { start: bigint; end: bigint }[] {
  return body
    .split(':')
    .filter((r) => r.length)
    .map((r) => {
      const [start, end] = r.split(',');
      return { start: parseAddress(start), end: parseAddress(end) };
    });
}

/** QTNotes:user:HEX;notes:HEX;tstop:HEX; */
function parseNotes(body: string): TraceRequest {
  const request: TraceRequest & { op: 'notes' } = { op: 'notes' };
  for (const field of body.split(';')) {
    const colon = field.indexOf(':');
    if (colon < 0) continue;
    const value = hexToBuffer(field.slice(colon + 1)).toString('latin1');
    const name = field.slice(0, colon);
    if (name === 'user') request.user = value;
    else if (name === 'notes') request.notes = value;
    else if (name === 'tstop') request.stopNote = value;
  }
  return request;
}

function parseNumber(text: string | undefined): number {
  return parseHex(text ?? '', 'tracepoint number');
}

function parseAddress(text: string | undefined): bigint {
  if (!text || !/^[0-9a-fA-F]+$/.test(text)) throw new ProtocolError(`bad address '${text ?? ''}'`);
  return BigInt(`0x${text}`);
}

/** A trace state variable's initial value: hex of a 64-bit two's complement, or with a minus sign. */
function parseSigned(text: string | undefined): bigint {
  const t = text ?? '';
  const negative = t.startsWith('-');
  const value = parseAddress(negative ? t.slice(1) : t);
  return BigInt.asIntN(64, negative ? -value : value);
}
