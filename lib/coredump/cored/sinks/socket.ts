/**
 * The socket sink: a unix socket path or host:port; one JSON line with the
 * crash's metadata, then the core's bytes until the connection is closed.
 */
import net from 'node:net';
import type { SocketSinkConfig } from '../config';
import type { CrashRecord } from '../record';
import { PeerWriter } from './stream-writer';
import type { CrashSink, SinkResult } from './types';

export function socketHeader(record: CrashRecord): string {
  const { id, pid, tid, signal, signalName, time, uid, gid, dumpMode, comm, exe, expectedSize } = record;
  return `${JSON.stringify({ cored: 1, id, pid, tid, signal, signalName, time, uid, gid, dumpMode, comm, exe, expectedSize })}\n`;
}

export class SocketSink implements CrashSink {
  readonly name: string;
  private readonly socket: net.Socket;
  private readonly writer: PeerWriter;
  private bytes = 0;

  constructor(
    private readonly config: SocketSinkConfig,
    record: CrashRecord,
  ) {
    this.name = config.name;
    const m = /^(.*):(\d+)$/.exec(config.address);
    this.socket = config.address.startsWith('/') ? net.connect(config.address) : net.connect(Number(m![2]), m![1]!.replace(/^\[|\]$/g, ''));
    this.socket.setTimeout(config.timeout * 1000, () => this.socket.destroy(new Error(`no progress for ${config.timeout} s`)));
    this.writer = new PeerWriter(this.socket);
    this.socket.write(socketHeader(record));
  }

  async write(chunk: Buffer): Promise<void> {
    await this.writer.write(chunk);
    this.bytes += chunk.length;
  }

  async finish(): Promise<SinkResult> {
    if (!this.writer.failure) {
      await new Promise<void>((resolve) => this.socket.end(resolve));
    }
    if (this.writer.failure) return { name: this.name, ok: false, location: this.config.address, bytes: this.bytes, error: this.writer.failure.message };
    return { name: this.name, ok: true, location: this.config.address, bytes: this.bytes };
  }

  abort(): void {
    this.socket.destroy();
  }
}
