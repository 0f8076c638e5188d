/**
 * The http sink: PUT (or POST) the core, streamed as it arrives, with the
 * configured headers and an optional bearer token read from a file. The
 * length comes from the program headers when known (S3-compatible servers
 * want Content-Length on a PUT); otherwise the body is chunked. Connection
 * failures before the first byte are retried; a failure once bytes have
 * left cannot be, since the core is read only once.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { HttpSinkConfig } from '../config';
import type { CrashRecord } from '../record';
import { PeerWriter } from './stream-writer';
import type { CrashSink, SinkResult } from './types';

export class HttpSink implements CrashSink {
  readonly name: string;
  private request!: http.ClientRequest;
  private writer!: PeerWriter;
  private response!: Promise<http.IncomingMessage>;
  private readonly ready: Promise<void>;
  private bytes = 0;

  constructor(
    private readonly config: HttpSinkConfig,
    private readonly record: CrashRecord,
    private readonly length?: number,
  ) {
    this.name = config.name;
    this.ready = this.connect(config.retries);
    this.ready.catch(() => undefined);
  }

  private headers(): http.OutgoingHttpHeaders {
    const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/octet-stream' };
    for (const [k, v] of this.config.headers) headers[k.toLowerCase()] = v;
    if (this.config.tokenFile) headers.authorization = `Bearer ${fs.readFileSync(this.config.tokenFile, 'utf8').trim()}`;
    const r = this.record;
    // Header values are restricted to visible ASCII: crash-supplied strings are percent-encoded.
    headers['x-cored-id'] = r.id;
    headers['x-cored-pid'] = String(r.pid);
    headers['x-cored-signal'] = String(r.signal);
    headers['x-cored-uid'] = String(r.uid);
    headers['x-cored-comm'] = encodeURIComponent(r.comm);
    if (r.exe) headers['x-cored-exe'] = encodeURIComponent(r.exe);
    const length = this.length ?? r.expectedSize;
    if (length !== undefined) headers['content-length'] = String(length);
    return headers;
  }

  private async connect(retries: number): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.open();
        return;
      } catch (err) {
        if (attempt >= retries) throw err;
        await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
      }
    }
  }

  private open(): Promise<void> {
    const url = new URL(this.config.url.replace('{id}', encodeURIComponent(this.record.id)));
    const client = url.protocol === 'https:' ? https : http;
    const request = client.request(url, { method: this.config.method, headers: this.headers(), timeout: this.config.timeout * 1000 });
    request.on('timeout', () => request.destroy(new Error(`no progress for ${this.config.timeout} s`)));
    return new Promise((resolve, reject) => {
      request.once('error', reject);
      request.once('socket', (socket) => {
        const connected = () => {
          request.off('error', reject);
          this.request = request;
          this.writer = new PeerWriter(request);
          this.response = new Promise((res, rej) => {
            request.on('response', res);
            request.on('error', rej);
          });
          this.response.catch(() => undefined);
          resolve();
        };
        if ((socket as { connecting?: boolean }).connecting) socket.once('connect', connected);
        else connected();
      });
    });
  }

  async write(chunk: Buffer): Promise<void> {
    await this.ready;
    await this.writer.write(chunk);
    this.bytes += chunk.length;
  }

  async finish(): Promise<SinkResult> {
    const location = this.config.url;
    try {
      await this.ready;
      this.request.end();
      const response = await this.response;
      let body = '';
      response.setEncoding('utf8');
      for await (const part of response) if (body.length < 300) body += part;
      if (response.statusCode! < 200 || response.statusCode! >= 300) {
        return { name: this.name, ok: false, location, bytes: this.bytes, error: `HTTP ${response.statusCode}: ${body.trim().slice(0, 200)}` };
      }
      return { name: this.name, ok: true, location, bytes: this.bytes };
    } catch (err) {
      return { name: this.name, ok: false, location, bytes: this.bytes, error: (err as Error).message };
    }
  }

  abort(): void {
    this.request?.destroy();
  }
}
