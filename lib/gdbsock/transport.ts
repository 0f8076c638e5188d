/**
 * Where gdb reaches gdbsock: a unix socket per process (the default), TCP, or
 * our own stdin/stdout (`target remote | gdbsock --stdio PID`).
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export type Endpoint = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number } | { kind: 'stdio' };

/** $XDG_RUNTIME_DIR/gdbsock/PID.sock, or /run/gdbsock/PID.sock for root. */
export function defaultSocketPath(pid: number): string {
  const base = process.getuid?.() === 0 ? '/run' : process.env.XDG_RUNTIME_DIR || path.join(os.tmpdir(), `gdbsock-${process.getuid?.()}`);
  return path.join(base, 'gdbsock', `${pid}.sock`);
}

/** HOST:PORT or :PORT or PORT; the host defaults to loopback. */
export function parseListen(spec: string): { host: string; port: number } {
  const i = spec.lastIndexOf(':');
  const host = i < 0 ? '127.0.0.1' : spec.slice(0, i).replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  const portText = i < 0 ? spec : spec.slice(i + 1);
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 0 || port > 65535) throw new RangeError(`bad port in --listen '${spec}'`);
  return { host, port };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** What gdb needs to type to get here. */
export function gdbTarget(endpoint: Endpoint, pid: number): string {
  switch (endpoint.kind) {
    case 'unix':
      return endpoint.path;
    case 'tcp':
      return `${endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host}:${endpoint.port}`;
    case 'stdio':
      return `| gdbsock --stdio ${pid}`;
  }
}

/**
 * Listens on a unix socket or TCP. The unix socket's directory is 0700 and
 * the socket 0600 (the protocol has no authentication: whoever connects owns
 * the process); the socket file is removed by close().
 */
export class Listener {
  private constructor(
    private readonly server: net.Server,
    readonly endpoint: Endpoint,
  ) {}

  static async open(endpoint: Exclude<Endpoint, { kind: 'stdio' }>, onConnection: (socket: net.Socket) => void): Promise<Listener> {
    const server = net.createServer({ noDelay: true }, onConnection);
    if (endpoint.kind === 'unix') {
      fs.mkdirSync(path.dirname(endpoint.path), { recursive: true, mode: 0o700 });
      removeStaleSocket(endpoint.path);
      const oldMask = process.umask(0o177); // created 0600, never briefly wider
      try {
        await listen(server, () => server.listen(endpoint.path));
      } finally {
        process.umask(oldMask);
      }
      fs.chmodSync(endpoint.path, 0o600);
      return new Listener(server, endpoint);
    }
    await listen(server, () => server.listen(endpoint.port, endpoint.host));
    const address = server.address() as net.AddressInfo;
    return new Listener(server, { kind: 'tcp', host: endpoint.host, port: address.port });
  }

  close(): void {
    this.server.close();
    if (this.endpoint.kind === 'unix') {
      try {
        fs.unlinkSync(this.endpoint.path);
      } catch {
        // already gone
      }
    }
  }
}

function listen(server: net.Server, start: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.once('listening', () => {
      server.off('error', reject);
      resolve();
    });
    start();
  });
}

/** A socket file left by a gdbsock that died (a process has one tracer, so none serves it now); never a non-socket. */
function removeStaleSocket(file: string): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new Error(`${file} exists and is not a socket`);
  fs.unlinkSync(file);
}
