import { EventEmitter } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { type Frame, PacketDecoder, frame } from './packet';

/**
 * One gdb session on a byte stream: acknowledgements until QStartNoAckMode,
 * retransmission on '-', and bad or oversized packets answered with '-' (GDB
 * manual, "Packet Acknowledgment"). Emits 'packet' (payload Buffer),
 * 'interrupt' (0x03), 'close' once the stream ends, and 'protocol-error'
 * (a description) for anything dropped.
 */
export class Connection extends EventEmitter {
  private readonly decoder: PacketDecoder;
  private acking = true;
  private lastSent: Buffer | undefined;
  private closed = false;

  constructor(
    private readonly input: Readable,
    private readonly output: Writable,
    readonly maxPacket: number,
  ) {
    super();
    this.decoder = new PacketDecoder(maxPacket);
    input.on('data', (chunk: Buffer) => this.onData(chunk));
    input.on('end', () => this.close());
    input.on('close', () => this.close());
    input.on('error', () => this.close());
    output.on('error', () => this.close());
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Sends a reply body (already escaped where binary). */
  send(body: Buffer | string, options: { binary?: boolean } = {}): void {
    if (this.closed) return;
    const raw = typeof body === 'string' ? Buffer.from(body, 'latin1') : body;
    const packet = frame(raw, !options.binary && raw.length <= 4096);
    if (this.acking) this.lastSent = packet;
    this.output.write(packet);
  }

  /** Called once QStartNoAckMode has been acknowledged: from now on neither side sends '+'. */
  stopAcking(): void {
    this.acking = false;
    this.lastSent = undefined;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.input.removeAllListeners('data');
    if (this.output !== (this.input as unknown)) this.output.end();
    else (this.output as Writable & { destroySoon?: () => void }).end();
    this.emit('close');
  }

  private onData(chunk: Buffer): void {
    for (const f of this.decoder.push(chunk)) this.onFrame(f);
  }

  private onFrame(f: Frame): void {
    switch (f.kind) {
      case 'packet':
        if (this.acking) this.output.write('+');
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
