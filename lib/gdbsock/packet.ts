/**
 * The GDB Remote Serial Protocol's framing (GDB manual, "Remote Protocol",
 * sections "Overview" and "Packets"): `$payload#cs` with a modulo-256
 * checksum, `}` escapes (byte XOR 0x20) for `$ # } *`, run-length encoding
 * (`X*n` repeats X n-29 times) and the out-of-band 0x03 interrupt byte.
 * Pure functions and a streaming decoder: no sockets here.
 */
import { addon } from '../native';

const DOLLAR = 0x24;
const HASH = 0x23;
const ESCAPE = 0x7d;
const STAR = 0x2a;
const PLUS = 0x2b;
const MINUS = 0x2d;
/** Ctrl-C as gdb sends it outside any packet. */
export const INTERRUPT = 0x03;

/** Sum of the bytes modulo 256. */
export function checksum(data: Buffer, start = 0, end = data.length): number {
  let sum = 0;
  for (let i = start; i < end; i++) sum += data[i]!;
  return sum & 0xff;
}

/** Where the bytes to escape are, reused between calls (grown as needed). */
let escapeAt = new Int32Array(4096);

/**
 * Escapes binary data for a packet body (replies of x, qXfer and vFile:pread
 * carry raw bytes). gdb 16 dumps memory through here in 512 KiB replies: the
 * four bytes are found with Buffer.indexOf (memchr) and the runs between them
 * copied whole, about ten times faster than a loop over every byte in JS.
 */
export function escapeBinary(data: Buffer): Buffer {
  let count = 0;
  // The next place of each of the four bytes; data.length when there is none left.
  let dollar = next(data, DOLLAR, 0);
  let hash = next(data, HASH, 0);
  let brace = next(data, ESCAPE, 0);
  let star = next(data, STAR, 0);
  for (;;) {
    const at = Math.min(dollar, hash, brace, star);
    if (at === data.length) break;
    if (count === escapeAt.length) {
      const grown = new Int32Array(count * 2);
      grown.set(escapeAt);
      escapeAt = grown;
    }
    escapeAt[count++] = at;
    if (at === dollar) dollar = next(data, DOLLAR, at + 1);
    else if (at === hash) hash = next(data, HASH, at + 1);
    else if (at === brace) brace = next(data, ESCAPE, at + 1);
    else star = next(data, STAR, at + 1);
  }
  if (count === 0) return data;
  const out = Buffer.allocUnsafe(data.length + count);
  let from = 0;
  let j = 0;
  for (let k = 0; k < count; k++) {
    const at = escapeAt[k]!;
    j += data.copy(out, j, from, at);
    out[j++] = ESCAPE;
    out[j++] = data[at]! ^ 0x20;
    from = at + 1;
  }
  data.copy(out, j, from);
  return out;
}

function next(data: Buffer, byte: number, from: number): number {
  const at = data.indexOf(byte, from);
  return at < 0 ? data.length : at;
}

/** Undoes `}` escapes (X, vFile:pwrite, and any packet gdb escapes). Throws on a trailing `}`. */
export function unescapeBinary(data: Buffer): Buffer {
  const first = data.indexOf(ESCAPE);
  if (first < 0) return data;
  const out = Buffer.allocUnsafe(data.length);
  data.copy(out, 0, 0, first);
  let j = first;
  for (let i = first; i < data.length; i++) {
    const b = data[i]!;
    if (b === ESCAPE) {
      if (++i >= data.length) throw new PacketError('escape character at the end of a packet');
      out[j++] = data[i]! ^ 0x20;
    } else out[j++] = b;
  }
  return out.subarray(0, j);
}

/**
 * Run-length encodes a reply body. A run of n+1 equal bytes becomes `X*c` with
 * c = n + 29; c must be printable and neither `#` nor `$` (so n is never 6 or
 * 7), and runs of 3 or fewer are not worth it. gdb decodes this in every reply.
 */
export function runLengthEncode(data: Buffer): Buffer {
  const out = Buffer.allocUnsafe(data.length);
  return out.subarray(0, encodeRuns(data, 0, data.length, out, 0));
}

/**
 * Run-length encodes data[start, end) into `out` at `at`; returns where the
 * output ends. The output is never longer than the input (a run shrinks to
 * three bytes only when it has at least four), so encoding in place works.
 */
function encodeRuns(data: Buffer, start: number, end: number, out: Buffer, at: number): number {
  let i = start;
  let j = at;
  while (i < end) {
    const b = data[i]!;
    let run = 1;
    while (i + run < end && data[i + run] === b && run < 98) run++;
    out[j++] = b;
    let repeats = run - 1;
    if (repeats >= 3) {
      // 6 and 7 would make '#' and '$'; send one byte fewer in the run.
      if (repeats === 6 || repeats === 7) repeats = 5;
      out[j++] = STAR;
      out[j++] = repeats + 29;
      i += repeats + 1;
    } else {
      for (let k = 0; k < repeats; k++) out[j++] = b;
      i += run;
    }
  }
  return j;
}

/** Undoes run-length encoding (used by the tests and by anyone reading our replies). */
export function runLengthDecode(data: Buffer): Buffer {
  const out: number[] = [];
  for (let i = 0; i < data.length; i++) {
    const b = data[i]!;
    if (b === STAR && out.length > 0 && i + 1 < data.length) {
      const count = data[++i]! - 29;
      const last = out[out.length - 1]!;
      for (let k = 0; k < count; k++) out.push(last);
    } else out.push(b);
  }
  return Buffer.from(out);
}

/**
 * A reply body of raw bytes, encoded and framed in one pass of native code
 * (frameRaw: addon.frameBinary, addon.frameHex): memory dumps, where the
 * escape or hex, copy and checksum passes in JavaScript were most of the
 * server's time.
 */
export class RawReply {
  constructor(
    /** escaped: binary with `$#}*` escaped (x, qXfer); hex: two digits a byte (m). */
    readonly encoding: 'escaped' | 'hex',
    /** A byte sent before the data unescaped (`b` of an x reply), or -1 for none (always for hex). */
    readonly prefix: number,
    readonly data: Buffer,
  ) {}

  /** The body as it goes out, unframed (for the debug log and the tests). */
  body(): Buffer {
    if (this.encoding === 'hex') return Buffer.from(this.data.toString('hex'), 'latin1');
    const escaped = escapeBinary(this.data);
    return this.prefix < 0 ? escaped : Buffer.concat([Buffer.from([this.prefix]), escaped]);
  }
}

/** The bytes frameRaw may need for `raw`: every byte escaped or in hex, the prefix, `$`, `#` and the checksum. */
export function rawFrameSpace(raw: RawReply): number {
  return 2 * raw.data.length + 5;
}

/** Frames `raw` into `out` (rawFrameSpace bytes at least) in one pass of native code; the frame's length. */
export function frameRaw(raw: RawReply, out: Buffer): number {
  return raw.encoding === 'hex' ? addon.frameHex(raw.data, 0, raw.data.length, out) : addon.frameBinary(raw.data, 0, raw.data.length, raw.prefix, out);
}

/**
 * A reply framed already, `$` to checksum: a memory piece read ahead
 * (read-ahead.ts) is framed while gdb still decodes the last one, so that
 * its reply goes out the moment gdb asks. `frame` may be a buffer its maker
 * reuses: send it before making the next.
 */
export class FramedReply {
  constructor(readonly frame: Buffer) {}

  /** The body as it goes out, between `$` and `#` (for the debug log and the tests). */
  body(): Buffer {
    return this.frame.subarray(1, this.frame.length - 3);
  }
}

/** Below this size a reply is run-length encoded; a big memory dump would only pay the CPU for nothing. */
export const RLE_LIMIT = 4096;

/** Frames a reply: `$body#cs`, run-length encoding small bodies (the body must already be escaped). */
export function frame(body: Buffer, rle = body.length <= RLE_LIMIT): Buffer {
  const out = Buffer.allocUnsafe(body.length + 4);
  body.copy(out, 1);
  return out.subarray(0, frameInPlace(out, body.length, rle));
}

const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');

/**
 * Frames the body that sits at out[1, 1 + length), where it is (replies are
 * built in one reusable buffer): run-length encodes it if asked, adds `$`,
 * `#` and the checksum. `out` needs length + 4 bytes. Returns the frame's length.
 */
export function frameInPlace(out: Buffer, length: number, rle: boolean): number {
  const end = rle ? encodeRuns(out, 1, 1 + length, out, 1) : 1 + length;
  const sum = checksum(out, 1, end);
  out[0] = DOLLAR;
  out[end] = HASH;
  out[end + 1] = HEX_DIGITS[sum >> 4]!;
  out[end + 2] = HEX_DIGITS[sum & 15]!;
  return end + 3;
}

export class PacketError extends Error {
  override name = 'PacketError';
}

/** What the byte stream from gdb holds, piece by piece. */
export type Frame =
  | { kind: 'packet'; payload: Buffer }
  | { kind: 'ack' }
  | { kind: 'nack' }
  | { kind: 'interrupt' }
  /** A packet whose checksum did not match (answer with '-'). */
  | { kind: 'bad-checksum'; expected: number; got: number }
  /** A packet longer than we said we accept: dropped, answered with '-'. */
  | { kind: 'oversized'; length: number };

enum State {
  Idle,
  Body,
  Checksum1,
  Checksum2,
}

/**
 * Turns chunks of bytes into Frames. Garbage between packets is skipped, as
 * gdbserver does; a packet body longer than `maxPacket` is discarded rather
 * than buffered without limit.
 */
export class PacketDecoder {
  private state = State.Idle;
  private body: Buffer[] = [];
  private bodyLength = 0;
  private sum = 0;
  private checksumText = '';
  private overflow = false;

  constructor(private readonly maxPacket: number) {}

  /**
   * The usual chunk, one whole packet and nothing else while no other is
   * under way: its payload (a copy) if the checksum holds, else undefined and
   * the caller goes the general way through push(). Saves the state machine
   * on every packet of a conversation.
   */
  single(chunk: Buffer): Buffer | undefined {
    const end = chunk.length - 3;
    if (this.state !== State.Idle || end < 1 || chunk[0] !== DOLLAR || chunk[end] !== HASH || end - 1 > this.maxPacket) return undefined;
    if (chunk.indexOf(HASH, 1) !== end) return undefined;
    const expected = hexValue(chunk[end + 1]!) * 16 + hexValue(chunk[end + 2]!);
    if (expected !== checksum(chunk, 1, end)) return undefined;
    return Buffer.from(chunk.subarray(1, end));
  }

  *push(chunk: Buffer): Generator<Frame> {
    let i = 0;
    while (i < chunk.length) {
      switch (this.state) {
        case State.Idle: {
          const b = chunk[i++]!;
          if (b === DOLLAR) this.startBody();
          else if (b === PLUS) yield { kind: 'ack' };
          else if (b === MINUS) yield { kind: 'nack' };
          else if (b === INTERRUPT) yield { kind: 'interrupt' };
          break;
        }
        case State.Body: {
          const end = chunk.indexOf(HASH, i);
          const stop = end < 0 ? chunk.length : end;
          this.appendBody(chunk, i, stop);
          i = stop;
          if (end >= 0) {
            i++;
            this.state = State.Checksum1;
          }
          break;
        }
        case State.Checksum1:
          this.checksumText = String.fromCharCode(chunk[i++]!);
          this.state = State.Checksum2;
          break;
        case State.Checksum2: {
          this.checksumText += String.fromCharCode(chunk[i++]!);
          this.state = State.Idle;
          yield this.finish();
          break;
        }
      }
    }
  }

  private startBody(): void {
    this.state = State.Body;
    this.body = [];
    this.bodyLength = 0;
    this.sum = 0;
    this.overflow = false;
  }

  private appendBody(chunk: Buffer, start: number, end: number): void {
    if (end <= start) return;
    this.sum = (this.sum + checksum(chunk, start, end)) & 0xff;
    this.bodyLength += end - start;
    if (this.bodyLength > this.maxPacket) {
      this.overflow = true;
      this.body = [];
      return;
    }
    if (!this.overflow) this.body.push(Buffer.from(chunk.subarray(start, end)));
  }

  private finish(): Frame {
    if (this.overflow) return { kind: 'oversized', length: this.bodyLength };
    const expected = /^[0-9a-fA-F]{2}$/.test(this.checksumText) ? parseInt(this.checksumText, 16) : -1;
    if (expected !== this.sum) return { kind: 'bad-checksum', expected, got: this.sum };
    const payload = this.body.length === 1 ? this.body[0]! : Buffer.concat(this.body);
    this.body = [];
    return { kind: 'packet', payload };
  }
}

/** A hex digit's value (a character code); -256 for anything else (so a bad checksum digit never matches). */
export function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -256;
}
