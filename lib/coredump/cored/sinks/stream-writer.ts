/** Writing into a Node Writable with backpressure, failing fast once the peer has gone. */
import type { Writable } from 'node:stream';

export class PeerWriter {
  failure: Error | undefined;

  constructor(private readonly stream: Writable) {
    stream.on('error', (err) => (this.failure ??= err));
    stream.on('close', () => {
      if (!stream.writableFinished) this.failure ??= new Error('the peer closed the connection before the core ended');
    });
  }

  /** Resolves once the stream has handed `chunk` on (its write callback), so the caller may reuse it. */
  async write(chunk: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.stream.off('close', done);
        resolve();
      };
      this.stream.on('close', done);
      this.stream.write(chunk, done);
    });
    if (this.failure) throw this.failure;
  }
}
