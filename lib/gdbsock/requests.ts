/**
 * Turns a packet's payload into a typed request (GDB manual, "Packets",
 * "General Query Packets"): the one place that knows the syntax of what gdb
 * asks. The server decides what requests mean and never sees packet text;
 * replies.ts spells its answers. A payload that cannot be parsed is a
 * 'malformed' request; one the server does not know is 'unknown', answered
 * with the empty reply so gdb can probe.
 */
import { unescapeBinary } from './packet';
import { type TraceRequest, parseTracePacket } from './tracing/packets';
import type { ThreadOptionsEntry } from './thread-options';
import type { BreakpointType, ResumeAction } from './target';
import {
  ProtocolError,
  hexToBuffer,
  linuxSignal,
  parseAddress,
  parseAddressIn,
  parseCommands,
  parseConditions,
  parseHex,
  parseHexIn,
  parseId,
  parseIdIn,
  type ThreadId,
  parseThreadId,
  parseVCont,
  signalList,
} from './wire';

/**
 * The hot packets (g, p, m, Z/z, vCont) come back in one object per kind,
 * owned by the parser and overwritten by the next parse: read their fields
 * before anything awaits.
 */
/**
 * `tid` in the register packets: the thread LLDB names in a `;thread:TID;`
 * suffix once QThreadSuffixSupported said OK (lldbgdbremote.md); 0 for the
 * thread Hg chose.
 */
export interface ReadRegisters {
  kind: 'readRegisters';
  tid: number;
}
export interface ReadRegister {
  kind: 'readRegister';
  regno: number;
  tid: number;
}
/** m, and x (`binary`: gdb 16's binary read, GDB manual "Packets", x). */
export interface ReadMemory {
  kind: 'readMemory';
  addr: bigint;
  length: number;
  binary: boolean;
}
export interface Breakpoint {
  kind: 'breakpoint';
  insert: boolean;
  type: BreakpointType;
  addr: bigint;
  /** The Z packet's kind: the breakpoint's length in bytes on x86. */
  length: number;
  /** Agent-expression bytecodes gdb wants evaluated before stopping. */
  conditions: Buffer[] | undefined;
  /** Agent-expression bytecodes gdb wants run at each hit instead of a stop (cmds:). */
  commands: Buffer[] | undefined;
}
export interface VCont {
  kind: 'vCont';
  actions: ResumeAction[];
}

export type Request =
  | { kind: 'stopReason' }
  | ReadRegisters
  | { kind: 'writeRegisters'; data: Buffer; tid: number }
  | ReadRegister
  | { kind: 'writeRegister'; regno: number; value: Buffer; tid: number }
  | ReadMemory
  /** M and X; `binary` is X (whose empty write is gdb's probe for it). */
  | { kind: 'writeMemory'; addr: bigint; data: Buffer; binary: boolean }
  | Breakpoint
  /** H op thread-id; tid 0 means any thread, -1 all of them. */
  | { kind: 'selectThread'; op: 'g' | 'c' | 's'; pid: number | undefined; tid: number }
  | { kind: 'threadAlive'; pid: number | undefined; tid: number }
  /** c, s, C, S: the signal already a Linux one. */
  | { kind: 'legacyResume'; step: boolean; signal: number }
  | VCont
  | { kind: 'vContQuery' }
  /** D, or D;PID for one process of several. */
  | { kind: 'detach'; pid: number | undefined }
  | { kind: 'kill' }
  /** vKill, or vKill;PID. */
  | { kind: 'vKill'; pid: number | undefined }
  | { kind: 'extendedMode' }
  /** R XX: extended-remote's restart, the last program run again (GDB manual, "Packets"); no reply. */
  | { kind: 'restart' }
  | { kind: 'vAttach'; pid: number }
  /** Kept as bytes, not decoded: a program's path and arguments need not be UTF-8. */
  | { kind: 'vRun'; argv: Buffer[] }
  | { kind: 'vFile'; body: Buffer }
  | { kind: 'qSupported'; features: Set<string> }
  | { kind: 'currentThread' }
  | { kind: 'attached' }
  | { kind: 'threadListFirst' }
  | { kind: 'threadListNext' }
  | { kind: 'symbolLookup' }
  /** `pid`: exec-file's annex, the process whose program gdb wants. */
  | { kind: 'qXfer'; object: string; annex: string; pid: number | undefined; offset: number; length: number }
  | { kind: 'qXferWrite'; object: 'siginfo'; annex: string; offset: number; data: Buffer }
  | { kind: 'monitor'; command: string }
  | { kind: 'crc'; addr: bigint; length: number }
  | { kind: 'searchMemory'; addr: bigint; length: number; pattern: Buffer }
  | { kind: 'startNoAckMode' }
  | { kind: 'nonStop'; on: boolean }
  /** gdb took the last stop notification (GDB manual, "Remote Non-Stop"): the next one, or OK. */
  | { kind: 'vStopped' }
  /** Ctrl-C as a packet, in non-stop mode. */
  | { kind: 'vCtrlC' }
  /** Linux signal numbers. */
  | { kind: 'passSignals'; signals: Set<number> }
  /** Linux signal numbers. */
  | { kind: 'programSignals'; signals: Set<number> }
  | { kind: 'threadEvents'; on: boolean }
  /** QThreadOptions;OPTIONS[:THREAD-ID]... (thread-options.ts). */
  | { kind: 'threadOptions'; entries: ThreadOptionsEntry[] }
  /** undefined: stop catching; an empty set: catch every syscall. */
  | { kind: 'catchSyscalls'; syscalls: Set<number> | undefined }
  | { kind: 'disableRandomization'; on: boolean }
  | { kind: 'startupWithShell'; on: boolean }
  | { kind: 'setWorkingDir'; dir: string | undefined }
  | { kind: 'environmentReset' }
  | { kind: 'environmentSet'; name: string; value: string }
  | { kind: 'environmentUnset'; name: string }
  /** LLDB's queries (lldbgdbremote.md). */
  | { kind: 'hostInfo' }
  | { kind: 'processInfo' }
  | { kind: 'memoryRegionInfo'; addr: bigint }
  | { kind: 'shlibInfoAddr' }
  | { kind: 'threadSuffixSupported' }
  | { kind: 'threadStopInfo'; tid: number }
  /** qGetTLSAddr:THREAD,OFFSET,LM; undefined fields: a malformed packet, answered E01 as gdbserver does. */
  | { kind: 'tlsAddress'; thread: ThreadId | undefined; offset: bigint; lm: bigint }
  | { kind: 'threadsInfo' }
  /** QT… and qT… (tracing/packets.ts). */
  | { kind: 'trace'; request: TraceRequest }
  | { kind: 'unknown' }
  | { kind: 'malformed'; packet: string; reason: string };

export type RequestKind = Request['kind'];

const Z_TYPES: readonly (BreakpointType | undefined)[] = ['software', 'hardware', 'write', 'read', 'access'];

const STOP_REASON: Request = { kind: 'stopReason' };
const UNKNOWN: Request = { kind: 'unknown' };

/** One per connection: it holds the hot kinds' reused objects and the last QPassSignals. */
export class RequestParser {
  private readonly readRegisters: ReadRegisters = { kind: 'readRegisters', tid: 0 };
  private readonly readRegister: ReadRegister = { kind: 'readRegister', regno: 0, tid: 0 };
  private readonly readMemory: ReadMemory = { kind: 'readMemory', addr: 0n, length: 0, binary: false };
  private readonly breakpoint: Breakpoint = {
    kind: 'breakpoint',
    insert: false,
    type: 'software',
    addr: 0n,
    length: 0,
    conditions: undefined,
    commands: undefined,
  };
  private readonly vCont: VCont = { kind: 'vCont', actions: [] };
  /** gdb sends the same QPassSignals before every resume: parsed once, the same set after that. */
  private passSignals: { text: string; request: Request } | undefined;

  parse(payload: Buffer): Request {
    try {
      return this.parseText(payload.toString('latin1'), payload);
    } catch (err) {
      return { kind: 'malformed', packet: describePacket(payload), reason: (err as Error).message };
    }
  }

  private parseText(text: string, payload: Buffer): Request {
    switch (text[0]) {
      case '?':
        return STOP_REASON;
      case 'g':
        this.readRegisters.tid = text.length > 1 ? threadSuffix(text, 1) : 0;
        return this.readRegisters;
      case 'G': {
        const end = suffixStart(text);
        return { kind: 'writeRegisters', data: hexToBuffer(text.slice(1, end)), tid: threadSuffix(text, end) };
      }
      case 'p': {
        const end = suffixStart(text);
        this.readRegister.regno = parseHexIn(text, 1, end, 'register');
        this.readRegister.tid = end < text.length ? threadSuffix(text, end) : 0;
        return this.readRegister;
      }
      case 'P': {
        const end = suffixStart(text);
        const [n, v] = text.slice(1, end).split('=');
        return { kind: 'writeRegister', regno: parseHex(n ?? '', 'register'), value: hexToBuffer(v ?? ''), tid: threadSuffix(text, end) };
      }
      case 'm':
      case 'x':
        return this.parseReadMemory(text);
      case 'M': {
        const [where, data] = text.slice(1).split(':');
        const [addr, len] = (where ?? '').split(',');
        const bytes = hexToBuffer(data ?? '');
        if (bytes.length !== parseHex(len ?? '', 'length')) throw new ProtocolError('length does not match data');
        return { kind: 'writeMemory', addr: parseAddress(addr ?? ''), data: bytes, binary: false };
      }
      case 'X':
        return parseWriteBinary(payload);
      case 'Z':
      case 'z':
        return this.parseBreakpoint(text);
      case 'H': {
        const op = text[1];
        // Other ops get the empty reply, as gdbserver ignores them so the protocol can grow.
        if (op !== 'g' && op !== 'c' && op !== 's') return UNKNOWN;
        const { pid, tid } = parseThreadId(text, 2);
        return { kind: 'selectThread', op, pid, tid };
      }
      case 'T': {
        const { pid, tid } = parseThreadId(text, 1);
        return { kind: 'threadAlive', pid, tid };
      }
      case 'c':
      case 's':
        return { kind: 'legacyResume', step: text[0] === 's', signal: 0 };
      case 'C':
      case 'S': {
        const [sig] = text.slice(1).split(';');
        return { kind: 'legacyResume', step: text[0] === 'S', signal: linuxSignal(parseHex(sig ?? '', 'signal')) };
      }
      case 'D':
        return { kind: 'detach', pid: text.startsWith('D;') ? parseId(text.slice(2)) : undefined };
      case 'k':
        return { kind: 'kill' };
      case '!':
        return { kind: 'extendedMode' };
      case 'R':
        return { kind: 'restart' };
      case 'q':
        return this.parseQuery(text, payload);
      case 'Q':
        return this.parseSetting(text);
      case 'v':
        return this.parseV(text, payload);
      default:
        return UNKNOWN;
    }
  }

  /** m addr,length and x addr,length, parsed in place. */
  private parseReadMemory(text: string): Request {
    const comma = text.indexOf(',');
    if (comma < 0) throw new ProtocolError(`${text[0]} needs addr,length`);
    const r = this.readMemory;
    r.binary = text.charCodeAt(0) === 0x78; // x
    r.addr = parseAddressIn(text, 1, comma);
    r.length = parseHexIn(text, comma + 1, text.length, 'length');
    return r;
  }

  /** Z/z type,addr,kind[;cond_list...] (GDB manual, "Packets", Z0), parsed in place. */
  private parseBreakpoint(text: string): Request {
    const typeEnd = text.indexOf(',');
    const type = (typeEnd < 0 ? text.length : typeEnd) === 2 ? Z_TYPES[text.charCodeAt(1) - 0x30] : undefined;
    if (!type) return UNKNOWN;
    const comma = text.indexOf(',', typeEnd + 1);
    if (comma < 0) throw new ProtocolError(`${text[0]} needs type,addr,kind`);
    const semicolon = text.indexOf(';', comma);
    const r = this.breakpoint;
    r.insert = text[0] === 'Z';
    r.type = type;
    r.addr = parseAddressIn(text, typeEnd + 1, comma);
    r.length = parseHexIn(text, comma + 1, semicolon < 0 ? text.length : semicolon, 'kind');
    r.conditions = r.insert && semicolon >= 0 ? parseConditions(text.slice(semicolon + 1)) : undefined;
    r.commands = r.insert && semicolon >= 0 ? parseCommands(text.slice(semicolon + 1)) : undefined;
    return r;
  }

  private parseQuery(text: string, payload: Buffer): Request {
    if (text.startsWith('qT') && !text.startsWith('qThread')) return this.parseTrace(text);
    if (text.startsWith('qSupported')) return { kind: 'qSupported', features: new Set(text.slice('qSupported:'.length).split(';')) };
    if (text === 'qC') return { kind: 'currentThread' };
    if (text.startsWith('qAttached')) return { kind: 'attached' };
    if (text === 'qfThreadInfo') return { kind: 'threadListFirst' };
    if (text === 'qsThreadInfo') return { kind: 'threadListNext' };
    if (text.startsWith('qSymbol')) return { kind: 'symbolLookup' };
    if (text.startsWith('qXfer:')) return parseXfer(text, payload);
    if (text.startsWith('qRcmd,')) return { kind: 'monitor', command: hexToBuffer(text.slice(6)).toString() };
    if (text.startsWith('qCRC:')) {
      const [addr, len] = text.slice(5).split(',');
      return { kind: 'crc', addr: parseAddress(addr ?? ''), length: parseHex(len ?? '', 'length') };
    }
    if (text.startsWith('qSearch:memory:')) return parseSearchMemory(payload);
    if (text === 'qHostInfo') return { kind: 'hostInfo' };
    if (text === 'qProcessInfo') return { kind: 'processInfo' };
    if (text.startsWith('qMemoryRegionInfo:')) return { kind: 'memoryRegionInfo', addr: parseAddress(text.slice('qMemoryRegionInfo:'.length)) };
    if (text === 'qShlibInfoAddr') return { kind: 'shlibInfoAddr' };
    if (text.startsWith('qGetTLSAddr:')) return parseTlsAddress(text.slice('qGetTLSAddr:'.length));
    if (text.startsWith('qThreadStopInfo')) return { kind: 'threadStopInfo', tid: parseId(text.slice('qThreadStopInfo'.length), 'thread id') };
    // qOffsets, qThreadExtraInfo and the rest: the empty reply.
    return UNKNOWN;
  }

  private parseTrace(text: string): Request {
    const request = parseTracePacket(text);
    return request ? { kind: 'trace', request } : UNKNOWN;
  }

  private parseSetting(text: string): Request {
    if (text.startsWith('QT') && !text.startsWith('QThread')) return this.parseTrace(text);
    if (text === 'QThreadOptions' || text.startsWith('QThreadOptions;')) return { kind: 'threadOptions', entries: parseThreadOptions(text) };
    const [name, value = ''] = splitOnce(text, ':');
    switch (name) {
      case 'QStartNoAckMode':
        return { kind: 'startNoAckMode' };
      case 'QNonStop':
        return { kind: 'nonStop', on: value !== '0' };
      case 'QPassSignals':
        if (this.passSignals?.text !== value) this.passSignals = { text: value, request: { kind: 'passSignals', signals: signalList(value) } };
        return this.passSignals.request;
      case 'QProgramSignals':
        return { kind: 'programSignals', signals: signalList(value) };
      case 'QThreadEvents':
        return { kind: 'threadEvents', on: value === '1' };
      case 'QCatchSyscalls': {
        if (value === '0') return { kind: 'catchSyscalls', syscalls: undefined };
        const [, ...numbers] = value.split(';');
        return { kind: 'catchSyscalls', syscalls: new Set(numbers.map((n) => parseHex(n, 'syscall'))) };
      }
      case 'QDisableRandomization':
        return { kind: 'disableRandomization', on: value === '1' };
      case 'QStartupWithShell':
        return { kind: 'startupWithShell', on: value === '1' };
      case 'QSetWorkingDir':
        return { kind: 'setWorkingDir', dir: value ? hexToBuffer(value).toString() : undefined };
      case 'QEnvironmentReset':
        return { kind: 'environmentReset' };
      case 'QEnvironmentHexEncoded': {
        const [k, v = ''] = splitOnce(hexToBuffer(value).toString(), '=');
        return { kind: 'environmentSet', name: k, value: v };
      }
      case 'QThreadSuffixSupported':
        return { kind: 'threadSuffixSupported' };
      case 'QEnvironmentUnset':
        return { kind: 'environmentUnset', name: hexToBuffer(value).toString() };
      default:
        return UNKNOWN;
    }
  }

  private parseV(text: string, payload: Buffer): Request {
    if (text === 'vCont?') return { kind: 'vContQuery' };
    if (text.startsWith('vCont;')) {
      this.vCont.actions = parseVCont(text);
      return this.vCont;
    }
    if (text === 'vStopped') return { kind: 'vStopped' };
    if (text === 'vCtrlC') return { kind: 'vCtrlC' };
    if (text.startsWith('vFile:')) return { kind: 'vFile', body: payload.subarray(6) };
    if (text.startsWith('vKill')) return { kind: 'vKill', pid: text.startsWith('vKill;') ? parseId(text.slice(6)) : undefined };
    if (text.startsWith('vAttach;')) return { kind: 'vAttach', pid: parseId(text.slice(8)) };
    if (text.startsWith('vRun;')) return { kind: 'vRun', argv: text.slice(5).split(';').map(hexToBuffer) };
    // vMustReplyEmpty and the rest: the empty reply.
    return UNKNOWN;
  }
}

/** X addr,length:data, data binary and escaped. */
function parseWriteBinary(payload: Buffer): Request {
  const colon = payload.indexOf(0x3a);
  if (colon < 0) throw new ProtocolError('X needs addr,length:data');
  const [addr, len] = payload.subarray(1, colon).toString('latin1').split(',');
  const data = unescapeBinary(payload.subarray(colon + 1));
  if (data.length !== parseHex(len ?? '', 'length')) throw new ProtocolError('length does not match data');
  // An empty write is gdb's probe for X: its address need not parse.
  return { kind: 'writeMemory', addr: data.length ? parseAddress(addr ?? '') : 0n, data, binary: true };
}

/** qXfer:object:read:annex:offset,length and qXfer:object:write:annex:offset:data ("General Query Packets"). */
function parseXfer(text: string, payload: Buffer): Request {
  const [, object = '', op, annex = '', range = ''] = text.split(':');
  if (op === 'write') {
    if (object !== 'siginfo') return UNKNOWN;
    const headerLength = ['qXfer', object, op, annex, range].join(':').length + 1;
    // qXfer:OBJECT:write:ANNEX:OFFSET:DATA (GDB manual, "General Query Packets"): gdb writes one field, at its offset.
    return { kind: 'qXferWrite', object, annex, offset: parseHex(range, 'offset'), data: unescapeBinary(payload.subarray(headerLength)) };
  }
  if (op !== 'read') return UNKNOWN;
  const [offText, lenText] = range.split(',');
  const offset = parseHex(offText ?? '', 'offset');
  const length = parseHex(lenText ?? '', 'length');
  const pid = object === 'exec-file' && annex ? parseId(annex) : undefined;
  return { kind: 'qXfer', object, annex, pid, offset, length };
}

/** qSearch:memory:address;length;search-pattern (pattern binary, escaped). */
function parseTlsAddress(text: string): Request {
  const parts = text.split(',');
  if (parts.length !== 3 || !parts.every((p) => /^[0-9a-fA-Fp.-]+$/.test(p))) return { kind: 'tlsAddress', thread: undefined, offset: 0n, lm: 0n };
  try {
    return { kind: 'tlsAddress', thread: parseThreadId(parts[0]!), offset: parseAddress(parts[1]!), lm: parseAddress(parts[2]!) };
  } catch {
    return { kind: 'tlsAddress', thread: undefined, offset: 0n, lm: 0n };
  }
}

function parseSearchMemory(payload: Buffer): Request {
  const head = 'qSearch:memory:'.length;
  const semi1 = payload.indexOf(0x3b, head);
  const semi2 = payload.indexOf(0x3b, semi1 + 1);
  if (semi1 < 0 || semi2 < 0) throw new ProtocolError('qSearch:memory needs address;length;pattern');
  return {
    kind: 'searchMemory',
    addr: parseAddress(payload.subarray(head, semi1).toString('latin1')),
    length: parseHex(payload.subarray(semi1 + 1, semi2).toString('latin1'), 'length'),
    pattern: unescapeBinary(payload.subarray(semi2 + 1)),
  };
}

/** Where a `;thread:TID;` suffix starts in a register packet, or the packet's end. */
function suffixStart(text: string): number {
  const semicolon = text.indexOf(';', 1);
  return semicolon < 0 ? text.length : semicolon;
}

/** The TID of a `;thread:TID;` suffix at text[from...] (the final `;` optional); 0 when there is none. */
function threadSuffix(text: string, from: number): number {
  if (from >= text.length) return 0;
  if (!text.startsWith(';thread:', from)) throw new ProtocolError('expected ;thread:TID;');
  const start = from + ';thread:'.length;
  const end = text.charCodeAt(text.length - 1) === 0x3b ? text.length - 1 : text.length;
  return parseIdIn(text, start, end, 'thread id');
}

function splitOnce(text: string, sep: string): [string, string?] {
  const i = text.indexOf(sep);
  return i < 0 ? [text] : [text.slice(0, i), text.slice(i + 1)];
}

/** The start of a packet, printable, for a log line. */
export function describePacket(payload: Buffer): string {
  const text = payload
    .subarray(0, 60)
    .toString('latin1')
    .replace(/[^\x20-\x7e]/g, '.');
  return `packet '${text}${payload.length > 60 ? '...' : ''}'`;
}

/** QThreadOptions[;OPTIONS[:THREAD-ID]]...: an entry without a thread-id applies to every thread. */
function parseThreadOptions(text: string): ThreadOptionsEntry[] {
  return text
    .split(';')
    .slice(1)
    .map((entry) => {
      const colon = entry.indexOf(':');
      const options = parseHex(colon < 0 ? entry : entry.slice(0, colon), 'thread options');
      if (colon < 0) return { options, tid: -1 };
      const id = parseThreadId(entry, colon + 1);
      return { options, pid: id.pid, tid: id.tid };
    });
}
