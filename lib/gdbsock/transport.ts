/**
 * Where gdb reaches gdbsock: a unix socket per process (the default), TCP, or
 * our own stdin/stdout (`target remote | gdbsock --stdio PID`).
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { addon } from '../native';

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
 * the process); the socket file is removed by close(). The socket is made and
 * accepted on in C (native/listen.c), each connection then a net.Socket: a
 * net.Server's listen() loads Node's cluster module, and with it
 * child_process, dgram and dns, some 3 ms of every start. Connections wait in
 * the kernel's backlog until accept() is called: gdbserver binds before it
 * creates the program, and serves once it has.
 */
export class Listener {
  private closed = false;
  private retry: NodeJS.Timeout | undefined;

  private constructor(
    private readonly fd: number,
    readonly endpoint: Endpoint,
  ) {}

  static open(endpoint: Exclude<Endpoint, { kind: 'stdio' }>): Listener {
    if (endpoint.kind === 'tcp') {
      const bound = addon.listenInet(endpoint.host, endpoint.port);
      if (typeof bound === 'string') throw lookupError(bound, endpoint.host);
      return new Listener(bound[0], { kind: 'tcp', host: endpoint.host, port: bound[1] });
    }
    fs.mkdirSync(path.dirname(endpoint.path), { recursive: true, mode: 0o700 });
    removeStaleSocket(endpoint.path);
    const oldMask = process.umask(0o177); // created 0600, never briefly wider
    let fd: number;
    try {
      fd = addon.listenPath(endpoint.path);
    } finally {
      process.umask(oldMask);
    }
    fs.chmodSync(endpoint.path, 0o600);
    return new Listener(fd, endpoint);
  }

  /** From now on, each connection goes to `onConnection`. */
  accept(onConnection: (socket: net.Socket) => void): void {
    if (!this.closed) this.watch(onConnection);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retry);
    addon.unwatch(this.fd); // nothing when never watched
    fs.closeSync(this.fd);
    if (this.endpoint.kind === 'unix') {
      try {
        fs.unlinkSync(this.endpoint.path);
      } catch {
        // already gone
      }
    }
  }

  private watch(onConnection: (socket: net.Socket) => void): void {
    addon.watchReadable(this.fd, () => this.acceptAll(onConnection));
  }

  /**
   * Every connection waiting. When one cannot be taken (no descriptor free),
   * the watch pauses for a moment: the socket stays readable, and watching on
   * would spin.
   */
  private acceptAll(onConnection: (socket: net.Socket) => void): void {
    for (;;) {
      let fd: number;
      try {
        fd = addon.accept(this.fd);
      } catch {
        addon.unwatch(this.fd);
        this.retry = setTimeout(() => this.watch(onConnection), ACCEPT_RETRY_MS);
        return;
      }
      if (fd < 0) return;
      onConnection(new net.Socket({ fd, readable: true, writable: true }));
    }
  }
}

/** How long a listener whose accept failed waits before it tries again. */
const ACCEPT_RETRY_MS = 100;

/** getaddrinfo's failure as Node's dns reports it (code ENOTFOUND for a name that does not resolve). */
function lookupError(code: string, hostname: string): Error {
  return Object.assign(new Error(`getaddrinfo ${code} ${hostname}`), { code, syscall: 'getaddrinfo', hostname });
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
