/**
 * Trace frames and the buffer that holds them, laid out as gdbserver lays
 * out its trace buffer and gdb's trace files (`tsave` takes them raw through
 * qTBuffer; GDB manual, "Trace File Format"): per frame a 16-bit tracepoint
 * number and a 32-bit size, then blocks: 'R' and the registers in `g`
 * order, 'M' with a 64-bit address, a 16-bit length and the bytes, 'V' with
 * a 32-bit variable number and its 64-bit value. Little-endian, as the host.
 */

/** gdbserver's default (tracepoint.cc, DEFAULT_TRACE_BUFFER_SIZE). */
export const DEFAULT_TRACE_BUFFER_SIZE = 5 * 1024 * 1024;
/** A frame's tracepoint number and size. */
export const FRAME_HEADER = 6;
/** An 'M' block holds at most this many bytes; longer ranges take several. */
const MAX_MEMORY_BLOCK = 0xffff;

const REGISTER_MARK = Buffer.from('R');

/** Builds one frame as a hit collects it. */
export class FrameBuilder {
  private readonly blocks: Buffer[] = [];
  private size = 0;

  constructor(private readonly tracepoint: number) {}

  /** `raw` may be a buffer the caller reuses: finish() copies it. */
  registers(raw: Buffer): void {
    this.push(REGISTER_MARK);
    this.push(raw);
  }

  memory(address: bigint, bytes: Buffer): void {
    for (let at = 0; at < bytes.length; at += MAX_MEMORY_BLOCK) {
      const piece = bytes.subarray(at, at + MAX_MEMORY_BLOCK);
      const header = Buffer.alloc(11);
      header.write('M', 0, 'latin1');
      header.writeBigUInt64LE(BigInt.asUintN(64, address + BigInt(at)), 1);
      header.writeUInt16LE(piece.length, 9);
      this.push(header);
      this.push(piece);
    }
  }

  variable(n: number, value: bigint): void {
    const block = Buffer.alloc(13);
    block.write('V', 0, 'latin1');
    block.writeInt32LE(n, 1);
    block.writeBigInt64LE(BigInt.asIntN(64, value), 5);
    this.push(block);
  }

  finish(): Buffer {
    const header = Buffer.alloc(FRAME_HEADER);
    header.writeInt16LE(this.tracepoint, 0);
    header.writeUInt32LE(this.size, 2);
    return Buffer.concat([header, ...this.blocks]);
  }

  private push(block: Buffer): void {
    this.blocks.push(block);
    this.size += block.length;
  }
}

/** What one frame holds, read back from its bytes. */
export class TraceFrame {
  constructor(private readonly bytes: Buffer) {}

  get tracepoint(): number {
    return this.bytes.readInt16LE(0);
  }

  /** The register block, if the frame has one. */
  registers(): Buffer | undefined {
    for (const b of this.blocks()) if (b.type === 'R') return b.data;
    return undefined;
  }

  /**
   * Bytes of the first block holding `address`, up to `length`, as
   * gdbserver answers (traceframe_read_mem): gdb asks again for the rest,
   * which may be in another block. undefined if no block holds it.
   */
  memory(address: bigint, length: number): Buffer | undefined {
    for (const b of this.blocks()) {
      if (b.type !== 'M' || address < b.address || address >= b.address + BigInt(b.data.length)) continue;
      const from = Number(address - b.address);
      return b.data.subarray(from, Math.min(b.data.length, from + length));
    }
    return undefined;
  }

  /** The value of variable `n` the frame recorded last, if any. */
  variable(n: number): bigint | undefined {
    let value: bigint | undefined;
    for (const b of this.blocks()) if (b.type === 'V' && b.number === n) value = b.value;
    return value;
  }

  /** qXfer:traceframe-info (GDB manual, "Traceframe Info Format"): what the frame holds. */
  infoXml(): string {
    const lines = ['<traceframe-info>'];
    for (const b of this.blocks()) {
      if (b.type === 'M') lines.push(`<memory start="0x${b.address.toString(16)}" length="0x${b.data.length.toString(16)}"/>`);
      else if (b.type === 'V') lines.push(`<tvar id="${b.number}"/>`);
    }
    lines.push('</traceframe-info>', '');
    return lines.join('\n');
  }

  private *blocks(): Generator<{ type: 'R'; data: Buffer } | { type: 'M'; address: bigint; data: Buffer } | { type: 'V'; number: number; value: bigint }> {
    const end = FRAME_HEADER + this.bytes.readUInt32LE(2);
    let at = FRAME_HEADER;
    while (at < end) {
      const type = String.fromCharCode(this.bytes[at]!);
      if (type === 'R') {
        // One register block per frame, the rest of it being other blocks: its size is the layout's.
        const size = this.registerSize;
        yield { type: 'R', data: this.bytes.subarray(at + 1, at + 1 + size) };
        at += 1 + size;
      } else if (type === 'M') {
        const length = this.bytes.readUInt16LE(at + 9);
        yield { type: 'M', address: this.bytes.readBigUInt64LE(at + 1), data: this.bytes.subarray(at + 11, at + 11 + length) };
        at += 11 + length;
      } else if (type === 'V') {
        yield { type: 'V', number: this.bytes.readInt32LE(at + 1), value: this.bytes.readBigInt64LE(at + 5) };
        at += 13;
      } else {
        return;
      }
    }
  }

  /** Set by the buffer: every frame's register block is one `g` packet's worth. */
  registerSize = 0;
}

/** The frames of one trace run, oldest first; frame numbers count from the oldest still held. */
export class TraceBuffer {
  size = DEFAULT_TRACE_BUFFER_SIZE;
  /** A full circular buffer drops its oldest frames; a linear one takes no more, and the run stops. */
  circular = false;
  /** Frames created in this run, dropped ones included. */
  created = 0;
  private frames: Buffer[] = [];
  private used = 0;

  constructor(private readonly registerSize: number) {}

  clear(): void {
    this.frames = [];
    this.used = 0;
    this.created = 0;
  }

  get count(): number {
    return this.frames.length;
  }

  get free(): number {
    return this.size - this.used;
  }

  /** False when the frame does not fit (the buffer is full). */
  add(frame: Buffer): boolean {
    if (frame.length > this.size) return false;
    if (frame.length > this.free && !this.circular) return false;
    while (frame.length > this.free) this.used -= this.frames.shift()!.length;
    this.frames.push(frame);
    this.used += frame.length;
    this.created++;
    return true;
  }

  frame(n: number): TraceFrame | undefined {
    const bytes = this.frames[n];
    if (!bytes) return undefined;
    const frame = new TraceFrame(bytes);
    frame.registerSize = this.registerSize;
    return frame;
  }

  /** The first frame after `from` (-1: from the start) that `matches`. */
  findAfter(from: number, matches: (frame: TraceFrame) => boolean): number | undefined {
    for (let n = from + 1; n < this.frames.length; n++) if (matches(this.frame(n)!)) return n;
    return undefined;
  }

  /** qTBuffer: the frames' bytes from `offset`, as one stream (only the frames that range covers are copied: tsave asks 16 KiB at a time). */
  raw(offset: number, length: number): Buffer {
    const pieces: Buffer[] = [];
    let at = 0;
    for (const frame of this.frames) {
      const end = at + frame.length;
      if (end > offset && at < offset + length) pieces.push(frame.subarray(Math.max(0, offset - at), Math.min(frame.length, offset + length - at)));
      if (end >= offset + length) break;
      at = end;
    }
    return Buffer.concat(pieces);
  }

  get rawSize(): number {
    return this.used;
  }
}
