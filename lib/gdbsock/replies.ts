/**
 * Spells the server's answers (GDB manual, "Packets", "Stop Reply Packets",
 * "General Query Packets"): OK, errors, the empty reply that means "not
 * supported", stop replies, hex registers and memory, qXfer chunks. The
 * server decides what to answer and never writes reply text itself;
 * connection.ts frames what comes out of here.
 */
import { FramedReply, RLE_LIMIT, RawReply } from './packet';
import type { RegisterLayout } from './registers';
import { toGdbSignal } from './signals';
import type { StopEvent } from './target';
import { SUPPORTED_THREAD_OPTIONS } from './thread-options';

/** The largest packet gdbsock takes (qSupported's PacketSize); gdb reads memory in chunks of about half this (two hex digits per byte). */
export const PACKET_SIZE = 0x100000;

/** A reply body: text, binary (already escaped) where the protocol says so, raw bytes the connection escapes, or a reply framed already. */
export type Reply = Buffer | string | RawReply | FramedReply;

/** A reply's body as the bytes that go out, unframed (for the debug log). */
export function replyBytes(answer: Reply): Buffer {
  if (typeof answer === 'string') return Buffer.from(answer, 'latin1');
  return answer instanceof RawReply || answer instanceof FramedReply ? answer.body() : answer;
}

/** Returned by a handler that has answered already, or must not answer. */
export const NO_REPLY = '\u0000no-reply';

export const OK = 'OK';

/** The empty reply: gdb takes it as "this packet is not supported" and may probe for another. */
export const UNSUPPORTED = '';

/** `E NN`; gdb shows no meaning in the number, only that it failed (E01 unless a packet says otherwise). */
export function error(code = 1): string {
  return `E${code.toString(16).padStart(2, '0')}`;
}

/** p for a register number past the layout's end, as gdbserver answers. */
export const NO_SUCH_REGISTER = error(0x45);

/** `E.text`: an error gdb prints. Packet framing characters cannot appear in it. */
export function errorText(message: string): string {
  return `E.${message.replace(/[$#}*]/g, '?')}`;
}

/** `?` with no process: it has exited, status 0. */
export const NO_PROCESS = 'W00';

/** vCont? : the actions vCont takes. */
export const VCONT_ACTIONS = 'vCont;c;C;s;S;t;r';

/** A register's or memory's bytes in hex (p, and the pieces of g). */
export function hex(data: Buffer): string {
  return data.toString('hex');
}

/** A `p` reply for a register the target does not know: 'xx' per byte. */
export function unavailableRegister(size: number): string {
  return 'xx'.repeat(size);
}

/** A `g` reply from the registers' hex, 'xx' for each byte of a register in `unavailable` (GDB manual, "Packets", g). */
export function registers(hex: string, layout: RegisterLayout, unavailable: ReadonlySet<number> | undefined): string {
  if (!unavailable?.size) return hex;
  let at = 0;
  return layout.registers
    .map((r, i) => {
      const part = unavailable.has(i) ? unavailableRegister(r.size) : hex.slice(at, at + r.size * 2);
      at += r.size * 2;
      return part;
    })
    .join('');
}

/**
 * An `m` reply: the bytes in hex, or an error if none of `length` could be
 * read. A reply too long to be run-length encoded is left to native code
 * (the hex and checksum of a 512 KiB dump piece cost ~2 ms in JavaScript).
 */
export function memory(data: Buffer, length: number): Reply {
  if (data.length === 0 && length !== 0) return error();
  return data.length * 2 > RLE_LIMIT ? new RawReply('hex', -1, data) : data.toString('hex');
}

/** An `x` reply (GDB manual, "Packets", x): `b` and the bytes, escaped; an error if none of `length` could be read. */
export function binaryMemory(data: Buffer, length: number): Reply {
  if (data.length === 0 && length !== 0) return error();
  return new RawReply('escaped', 0x62 /* b */, data);
}

/**
 * LLDB's x reply (lldbgdbremote.md, "x"): the escaped bytes with no 'b'
 * before them, and OK to its probe `x0,0`. LLDB 19 reads with `m` (hex, twice
 * the bytes) from a server that answers the probe otherwise.
 */
export function lldbBinaryMemory(data: Buffer, length: number): Reply {
  if (length === 0) return OK;
  if (data.length === 0) return error();
  return new RawReply('escaped', -1, data);
}

/** `NN:` for register numbers in stop replies, built once. */
const REGNO_PREFIX = Array.from({ length: 256 }, (_, n) => `${n < 16 ? '0' : ''}${n.toString(16)}:`);

/** One expedited register of a T stop reply: `NN:hex;`. */
export function expeditedRegister(regno: number, hex: string): string {
  return `${REGNO_PREFIX[regno] ?? `${regno.toString(16)}:`}${hex};`;
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
            if (r.others) for (const o of r.others) reply += `${o.type}:${o.address.toString(16)};`;
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
          case 'clone':
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
export function xferChunk(data: Buffer, offset: number, length: number): RawReply {
  const piece = data.subarray(Math.min(offset, data.length), Math.min(offset + length, data.length));
  const more = offset + length < data.length;
  return new RawReply('escaped', more ? 0x6d /* m */ : 0x6c /* l */, piece);
}

/** qfThreadInfo: all the ids at once. An empty 'm' is not a list: 'l' says there are none ("General Query Packets"). */
export function threadList(ids: string[]): string {
  return ids.length ? `m${ids.join(',')}` : 'l';
}

/** qsThreadInfo: qfThreadInfo gave them all. */
export const THREAD_LIST_END = 'l';

export function currentThread(id: string): string {
  return `QC${id}`;
}

export function attached(yes: boolean): string {
  return yes ? '1' : '0';
}

export interface ThreadRow {
  id: string;
  name?: string;
  core?: number;
  extra?: string;
}

/** qXfer:threads:read's document. */
export function threadsXml(threads: ThreadRow[]): string {
  const rows = threads.map((th) => {
    const name = th.name === undefined ? '' : ` name="${escapeXml(th.name)}"`;
    const core = th.core === undefined ? '' : ` core="${th.core}"`;
    const body = th.extra === undefined ? '/>' : `>${escapeXml(th.extra)}</thread>`;
    return `<thread id="${th.id}"${core}${name}${body}`;
  });
  return `<?xml version="1.0"?>\n<threads>\n${rows.join('\n')}\n</threads>\n`;
}

function escapeXml(s: string): string {
  // XML 1.0 has no control characters but tab, LF and CR, not even as references: a thread may be named with any.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it replaces
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`).replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]/g, '?');
}

/** qXfer:object:write: how many bytes were taken, in hex. */
export function written(count: number): string {
  return count.toString(16);
}

/** qCRC: the CRC in hex. */
export function crc(value: number): string {
  return `C${value.toString(16)}`;
}

/** qSearch:memory: where the pattern starts, or that it is not there. */
export function searchResult(address: bigint | undefined): string {
  return address === undefined ? '0' : `1,${address.toString(16)}`;
}

/** An `O` packet: text for gdb's console (monitor command output). */
export function consoleOutput(text: string): string {
  return `O${Buffer.from(text).toString('hex')}`;
}

export interface Features {
  packetSize: number;
  multiprocess: boolean;
  noResumed: boolean;
  execEvents: boolean;
  forkEvents: boolean;
  vforkEvents: boolean;
  /** QNonStop: the target can run in non-stop mode (GDB manual, "Remote Non-Stop"). */
  nonStop: boolean;
  /** The target runs trap tracepoints (tracing/tracing.ts). */
  tracepoints: boolean;
}

/** What gdbserver offers of tracing without its in-process agent (server.cc, handle_query: qSupported). */
const TRACEPOINT_FEATURES = [
  'ConditionalTracepoints+',
  'TraceStateVariables+',
  'TracepointSource+',
  'InstallInTrace+',
  'DisconnectedTracing+',
  'qXfer:traceframe-info:read+',
  'EnableDisableTracepoints+',
  'QTBuffer:size+',
  'tracenz+',
];

/** The qSupported reply: what gdbsock offers, and which of gdb's offers it takes. */
export function supported(f: Features): string {
  return [
    `PacketSize=${f.packetSize.toString(16)}`,
    'QStartNoAckMode+',
    ...(f.nonStop ? ['QNonStop+'] : []),
    'qXfer:features:read+',
    'qXfer:auxv:read+',
    'qXfer:exec-file:read+',
    'qXfer:threads:read+',
    'qXfer:siginfo:read+',
    'qXfer:siginfo:write+',
    'qXfer:libraries-svr4:read+',
    'augmented-libraries-svr4-read+',
    'binary-upload+',
    'qXfer:osdata:read+',
    ...(f.multiprocess ? ['multiprocess+'] : []),
    'swbreak+',
    'hwbreak+',
    'QPassSignals+',
    'QProgramSignals+',
    'QCatchSyscalls+',
    'QThreadEvents+',
    `QThreadOptions=${SUPPORTED_THREAD_OPTIONS.toString(16)}`,
    'vContSupported+',
    'ConditionalBreakpoints+',
    'BreakpointCommands+',
    'QDisableRandomization+',
    'QEnvironmentHexEncoded+',
    'QEnvironmentUnset+',
    'QEnvironmentReset+',
    'QSetWorkingDir+',
    'QStartupWithShell+',
    ...(f.tracepoints ? TRACEPOINT_FEATURES : []),
    ...(f.noResumed ? ['no-resumed+'] : []),
    ...(f.execEvents ? ['exec-events+'] : []),
    ...(f.forkEvents ? ['fork-events+'] : []),
    ...(f.vforkEvents ? ['vfork-events+'] : []),
  ].join(';');
}
