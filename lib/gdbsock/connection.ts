import { EventEmitter } from 'node:events';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { monotonicMs } from '../clock';
import { addon } from '../native';
import { type Frame, type FramedReply, PacketDecoder, RLE_LIMIT, type RawReply, frameInPlace, frameRaw, rawFrameSpace } from './packet';

/**
 * How long pump() blocks the JS thread for gdb's next packet. gdb sends it
 * within a few hundred microseconds of a reply while it works through a
 * command; when a person is typing, the event loop gets the socket back.
 */
const PUMP_WINDOW_MS = 10;
/**
 * How long pump() polls without sleeping first. gdb usually answers within
 * this; a sleeping thread costs tens of microseconds to wake, more in a VM
 * (the idle vCPU halts), and that wake is on every packet's critical path.
 */
const PUMP_SPIN_US = 300;
/**
 * After a reply longer than this, pump() sleeps at once: gdb takes each
 * reply in a byte at a time (remote.c, read_frame), some 15 ns a byte here,
 * so it cannot answer a memory dump's 512 KiB pieces within the spin, and
 * the spin's CPU (some 40 ms over a 64 MiB dump) is taken from gdb's on a
 * busy machine.
 */
const SPIN_AFTER_REPLIES_UP_TO = 16 * 1024;
/** readSoon and writeSome say "nothing now" with -EAGAIN. */
const { EAGAIN } = constants.errno;
/** How long a reply may block the JS thread while gdb reads it; the rest goes through the event loop. */
const WRITE_WINDOW_MS = 1000;

/**
 * One gdb session on a byte stream: acknowledgements until QStartNoAckMode,
 * retransmission on '-', and bad or oversized packets answered with '-' (GDB
 * manual, "Packet Acknowledgment"), and a retransmission of a packet still
 * being answered acknowledged but not handled twice. Emits 'packet' (payload Buffer),
 * 'interrupt' (0x03), 'close' once the stream ends, and 'protocol-error'
 * (a description) for anything dropped.
 */
export class Connection extends EventEmitter {
  private readonly decoder: PacketDecoder;
  private acking = true;
  private lastSent: Buffer | undefined;
  /**
   * In ack mode, the packet handed out last: until a reply goes out, and for
   * the rest of the input read with it. gdb sends nothing new before it has
   * the reply to its last packet; the same packet again before gdb can have
   * seen that reply is its retransmission, sent because our '+' was late (a
   * slow start: gdb's remotetimeout is 2 s). Answering both put the second
   * reply in the place of the next packet's ("Remote replied unexpectedly to
   * 'vMustReplyEmpty'").
   */
  private unanswered: Buffer | undefined;
  /** The packet last handed out from the input being dispatched (see unanswered). */
  private inThisRead: Buffer | undefined;
  private closed = false;
  /** The input's file descriptor when it has one (sockets and pipes), for pump(). */
  private readonly fd: number | undefined;
  private readonly outputFd: number | undefined;
  private readonly readBuffer = Buffer.allocUnsafe(64 * 1024);
  private readonly replyBuffer = Buffer.allocUnsafe(64 * 1024);
  /** Where raw binary replies are framed, kept between replies (a dump sends hundreds of them) and grown as needed. */
  private rawBuffer = Buffer.alloc(0);
  /** The length of the last reply written, which says whether gdb may answer within pump()'s spin. */
  private lastReplyLength = 0;
  private dispatching = false;
  private pumping = false;
  private pumpWanted = false;
  /**
   * Non-stop: the wait for gdb's next packet ends as soon as the event loop
   * has something to handle (a SIGCHLD: a stop gdb waits to hear of, sending
   * nothing until then). Not in all-stop, where every stop leaves a SIGCHLD
   * behind in libuv's signal pipe that the stop reply has already answered
   * (tracer.settle reaped it), and yielding to it would cost each step a turn
   * of the event loop.
   */
  yieldToEvents = false;

  constructor(
    private readonly input: Readable,
    private readonly output: Writable,
    readonly maxPacket: number,
  ) {
    super();
    this.decoder = new PacketDecoder(maxPacket);
    this.fd = streamFd(input);
    this.outputFd = streamFd(output);
    input.on('data', (chunk: Buffer) => this.onData(chunk));
    input.on('end', () => this.close());
    input.on('close', () => this.close());
    input.on('error', () => this.close());
    output.on('error', () => this.close());
  }

  /** The input's file descriptor, -1 when the stream has none. */
  get inputFd(): number {
    return this.fd ?? -1;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Sends a reply body (already escaped where binary). */
  send(body: Buffer | string, options: { binary?: boolean } = {}): void {
    if (this.closed) return;
    const length = body.length; // a latin1 string has one byte per character
    // Small replies, nearly all of them, are framed in one reused buffer; big ones (memory dumps) in their own.
    const out = length + 4 <= this.replyBuffer.length ? this.replyBuffer : Buffer.allocUnsafe(length + 4);
    if (typeof body === 'string') out.write(body, 1, 'latin1');
    else body.copy(out, 1);
    const n = frameInPlace(out, length, !options.binary && length <= RLE_LIMIT);
    if (this.acking) this.lastSent = Buffer.from(out.subarray(0, n));
    this.unanswered = undefined;
    this.write(out, n);
  }

  /** Sends raw bytes as a reply, escaped or in hex and framed in one native pass. */
  sendRaw(raw: RawReply): void {
    if (this.closed) return;
    const space = rawFrameSpace(raw);
    if (this.rawBuffer.length < space) this.rawBuffer = Buffer.allocUnsafe(space);
    const n = frameRaw(raw, this.rawBuffer);
    if (this.acking) this.lastSent = Buffer.from(this.rawBuffer.subarray(0, n));
    this.unanswered = undefined;
    this.write(this.rawBuffer, n);
  }

  /** Sends a reply framed already (its buffer is free again once this returns: what the socket does not take at once is copied). */
  sendFramed(framed: FramedReply): void {
    if (this.closed) return;
    if (this.acking) this.lastSent = Buffer.from(framed.frame);
    this.unanswered = undefined;
    this.write(framed.frame, framed.frame.length);
  }

  /**
   * Sends a notification (GDB manual, "Notification Packets"): `%` instead
   * of `$`, never acknowledged, so never sent again either.
   */
  notify(body: string): void {
    if (this.closed) return;
    const out = Buffer.allocUnsafe(body.length + 4);
    out.write(body, 1, 'latin1');
    const n = frameInPlace(out, body.length, false);
    out[0] = 0x25; // '%'
    this.write(out, n);
  }

  /**
   * Straight to the descriptor when nothing is queued on the stream (a Node
   * stream write costs about as much again as the syscall); whatever the
   * socket does not take at once goes through the stream, in order (copied:
   * `data` may be the reused reply buffer).
   */
  private write(data: Buffer, length: number): void {
    this.lastReplyLength = length;
    let sent = 0;
    const fd = this.outputFd;
    if (fd !== undefined && this.output.writableLength === 0) {
      // A big reply (a memory dump) goes out in one go as gdb drains the socket: handing the rest to
      // libuv would cost an event-loop wake per socket buffer, with gdb waiting each time.
      let deadline = 0;
      while (sent < length) {
        const n = addon.writeSome(fd, data, sent, length - sent);
        if (n >= 0) {
          sent += n;
          continue;
        }
        if (n !== -EAGAIN) return this.close();
        deadline ||= monotonicMs() + WRITE_WINDOW_MS;
        const left = Math.ceil(deadline - monotonicMs());
        if (left <= 0 || addon.waitReady(fd, left, true) === 0) break;
      }
    }
    if (sent < length) this.output.write(Buffer.from(data.subarray(sent, length)));
  }

  /** Called once QStartNoAckMode has been acknowledged: from now on neither side sends '+'. */
  stopAcking(): void {
    this.acking = false;
    this.lastSent = undefined;
    this.unanswered = undefined;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.input.removeAllListeners('data');
    if (this.output !== (this.input as unknown)) this.output.end();
    else (this.output as Writable & { destroySoon?: () => void }).end();
    this.emit('close');
  }

  /**
   * Called once a reply has gone out and gdb's next packet may be handled:
   * waits for it on the JS thread, reading the socket directly, so a
   * conversation of short packets does not pay an event-loop wake-up per
   * packet (Node's costs several times what the packet itself does). Hands
   * back to the event loop when gdb is quiet for PUMP_WINDOW_MS, when a
   * packet is still being answered asynchronously (nobody asks again until it
   * is), or when an earlier reply has not fully left.
   */
  pumpSoon(): void {
    this.pumpWanted = true;
    if (!this.dispatching && !this.pumping) this.pump();
  }

  private pump(): void {
    if (this.fd === undefined) return;
    this.pumping = true;
    try {
      while (this.pumpWanted && !this.closed && this.output.writableLength === 0) {
        this.pumpWanted = false;
        const n = this.readNow(this.fd);
        if (n <= 0) return; // quiet, closed or failed: the event loop takes over (and sees the end)
        this.onData(this.readBuffer.subarray(0, n));
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Bytes read into readBuffer once gdb sent some within the window; 0 if it did not; -1 at the stream's end or an error. */
  private readNow(fd: number): number {
    const spin = this.lastReplyLength > SPIN_AFTER_REPLIES_UP_TO ? 0 : PUMP_SPIN_US;
    const n = addon.readSoon(fd, this.readBuffer, spin, PUMP_WINDOW_MS, this.yieldToEvents);
    if (n > 0) return n;
    return n === -EAGAIN ? 0 : -1;
  }

  private onData(chunk: Buffer): void {
    this.dispatching = true;
    this.inThisRead = undefined;
    try {
      const payload = this.decoder.single(chunk);
      if (payload) this.onFrame({ kind: 'packet', payload });
      else for (const f of this.decoder.push(chunk)) this.onFrame(f);
    } finally {
      this.dispatching = false;
    }
    if (this.pumpWanted && !this.pumping) this.pump();
  }

  private onFrame(f: Frame): void {
    switch (f.kind) {
      case 'packet':
        if (this.acking) {
          this.output.write('+');
          if (this.unanswered?.equals(f.payload) || this.inThisRead?.equals(f.payload)) return; // a retransmission (see unanswered)
          this.unanswered = Buffer.from(f.payload);
          this.inThisRead = this.unanswered;
        }
        this.emit('packet', f.payload);
        return;
      case 'interrupt':
        this.emit('interrupt');
        return;
      case 'ack':
        return;
      case 'nack':
        if (this.lastSent) this.output.write(this.lastSent);
        return;
      case 'bad-checksum':
        this.emit('protocol-error', `bad checksum: packet says ${f.expected}, bytes sum to ${f.got}`);
        if (this.acking) this.output.write('-');
        return;
      case 'oversized':
        this.emit('protocol-error', `packet of ${f.length} bytes exceeds PacketSize ${this.maxPacket}`);
        // Without acks gdb will not retransmit; an error reply keeps it from waiting forever.
        if (this.acking) this.output.write('-');
        else this.send('E01');
        return;
    }
  }
}

/**
 * The descriptor under a socket or pipe stream (libuv's handle keeps it as
 * `fd`), or undefined for streams without one (tests' PassThroughs).
 */
function streamFd(stream: Readable | Writable): number | undefined {
  const fd = (stream as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}
