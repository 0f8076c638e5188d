/**
 * Serving gdb connection after connection, one at a time, for one target:
 * the lifecycle gdbserver has around its protocol loop. A Server answers one
 * connection; Sessions decides what each connection gets and what is left
 * behind when it ends. Whatever way a session ends (gdb hangs up, detaches,
 * quits with `monitor exit`, or the caller closes), the process is never
 * left stopped or traced: one gdbsock attached to is detached and runs on as
 * if gdb never came; a program gdbsock launched is killed when serving ends
 * with gdb gone or `monitor exit`, as gdbserver does (gdb's own detach lets
 * it run). With 'keep' (gdbserver's way) a process gdb leaves is kept for the
 * next gdb instead.
 */
import { EventEmitter } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { liveStartTime } from '../procfs/stat';
import { Connection } from './connection';
import { type DebugSettings, defaultDebugSettings } from './monitor';
import type { ProgramHistory, TargetProvider } from './launch-settings';
import type { ExecString } from '../ptrace';
import { PACKET_SIZE } from './replies';
import { Tracing } from './tracing/tracing';
import { Server, type ServerEnd } from './server';
import type { Target } from './target';

/**
 * What the next gdb gets once one is done:
 * - 'reattach': the same process, attached again (none if it has ended since,
 *   when its pid may be another's); for a process gdbsock attached to;
 * - 'same': the same target as it is (a core file or the kernel, which no session changes);
 * - 'none': nothing, serving ends with the first session (a program launched for gdb is gdb's to the end);
 * - 'keep': what gdb left, still traced and stopped where it was, as gdbserver
 *   does without --once: gdb may connect again to the same process. Once no
 *   process is left (detached, killed, exited), serving ends, unless `multi`.
 */
export type NextSession = 'reattach' | 'same' | 'none' | 'keep';

export interface SessionsOptions {
  /** What the first gdb debugs; undefined: no process until gdb runs or attaches one. */
  target: Target | undefined;
  /** Starts and attaches processes for vRun and vAttach, and attaches again for 'reattach'; none: gdb debugs `target` only. */
  provider?: TargetProvider;
  /** Default: 'reattach' for a target attached to (with a provider to attach again), else 'none'. A read-only target wants 'same'. */
  next?: NextSession;
  /** Serve one gdb only. */
  once?: boolean;
  /**
   * gdbserver's --multi: serving goes on when gdb's processes are gone (gdb
   * may run or attach another), until `monitor exit` or `once`.
   */
  multi?: boolean;
  /** Debug output (`monitor set debug…`, gdbserver's --debug and --remote-debug), kept across sessions. */
  debug?: DebugSettings;
  /** The program and arguments the first target was launched with: R runs them again, as gdbserver does. */
  program?: ExecString[];
}

/**
 * Emits 'log' (a line: protocol errors, packets it could not make sense of,
 * failures to detach or attach again) and 'done' once serving is over (after
 * `once`, after a `monitor exit`, or when there is nothing left to serve):
 * the caller then closes its listener and calls close().
 */
export class Sessions extends EventEmitter {
  private readonly provider: TargetProvider | undefined;
  private readonly next: NextSession;
  private readonly onlyOne: boolean;
  private readonly multi: boolean;
  private readonly debug: DebugSettings;
  /** What gdb ran last, for every session (launch-settings.ts). */
  private readonly history: ProgramHistory;
  /** gdb's tracepoints and their frames, for every session: a run goes on when gdb disconnects, if gdb said so. */
  private readonly tracing = new Tracing();
  /** What the next connection gets. */
  private target: Target | undefined;
  /** The process 'reattach' goes back to, and when it started (a pid alone may be another process's by then). */
  private readonly process: { pid: number; startTime: bigint | undefined } | undefined;
  /** The session under way: after vRun, vAttach or a fork gdb kept, its target is no longer `target`. */
  private server: Server | undefined;
  private serving = false;
  private closed = false;
  private over = false;

  constructor(options: SessionsOptions) {
    super();
    this.target = options.target;
    this.provider = options.provider;
    this.onlyOne = options.once ?? false;
    this.multi = options.multi ?? false;
    this.debug = options.debug ?? defaultDebugSettings();
    this.history = options.program ? { argv: [...options.program] } : {};
    this.next = options.next ?? (options.target?.attached && options.provider ? 'reattach' : 'none');
    if (this.next === 'reattach' && options.target) {
      this.process = { pid: options.target.pid, startTime: liveStartTime(options.target.pid) };
    }
  }

  /** A gdb is being served now: another connection is to be turned away. */
  get busy(): boolean {
    return this.serving;
  }

  /** What is being debugged now (or what the next gdb gets). */
  get current(): Target | undefined {
    return this.server ? this.server.current : this.target;
  }

  /**
   * Serves one gdb on this pair of streams. Returns false, touching neither,
   * when one is being served already or serving is over: the caller hangs up.
   */
  accept(input: Readable, output: Writable): boolean {
    if (this.serving || this.closed || this.over) return false;
    this.serving = true;
    void this.start(input, output);
    return true;
  }

  private async start(input: Readable, output: Writable): Promise<void> {
    if (!this.target && this.next === 'reattach') this.target = await this.attachAgain();
    if (this.closed) {
      // Closed while attaching: what was attached is let go at once.
      await this.release(this.target);
      this.target = undefined;
      return;
    }
    // The connection only now: packets gdb sent meanwhile wait in the stream for the server.
    const connection = new Connection(input, output, PACKET_SIZE + 1024);
    connection.on('protocol-error', (message: string) => this.emit('log', message));
    const server = new Server(connection, this.target, this.provider, this.debug, this.history, this.tracing);
    this.server = server;
    server.on('log', (line: string) => this.emit('log', line));
    server.on('end', (how: ServerEnd) => void this.end(server, connection, how));
  }

  private async attachAgain(): Promise<Target | undefined> {
    const p = this.process;
    if (!p || !this.provider) return undefined;
    const now = liveStartTime(p.pid);
    if (now === undefined || now !== p.startTime) {
      this.emit('log', `process ${p.pid} has ended: serving no process (gdb may attach or run one)`);
      return undefined;
    }
    try {
      return await this.provider.attach(p.pid);
    } catch (err) {
      this.emit('log', `cannot attach to ${p.pid} again: ${(err as Error).message}`);
      return undefined;
    }
  }

  private async end(server: Server, connection: Connection, how: ServerEnd): Promise<void> {
    const left = server.current;
    this.server = undefined;
    const stopping = this.onlyOne || how === 'exit-requested';
    // gdbserver's way: a process gdb left is kept for the next gdb, as long as something of it is left.
    const kept = this.next === 'keep' && !stopping && left !== undefined && left.threads().length > 0 ? left : undefined;
    // Serving ends (`monitor exit`, or gdb gone with nothing kept for the next), as gdbserver
    // (server.cc, detach_or_kill_for_exit): what was launched for gdb is killed, what was attached
    // to is let go, running as if gdb never came.
    if (left && !kept && (how === 'closed' || how === 'exit-requested')) {
      if (this.killsAtEnd(left)) await this.kill(left);
      else await this.release(left);
    }
    // A read-only target is the same for everyone; anything live is attached afresh, or not at all.
    this.target = this.next === 'same' ? (left ?? this.target) : kept;
    connection.close();
    this.serving = false;
    const nothingLeft = this.next === 'none' || (this.next === 'keep' && !kept && !this.multi);
    if (stopping || nothingLeft) this.finish();
  }

  private finish(): void {
    if (this.over) return;
    this.over = true;
    this.emit('done');
  }

  /**
   * No more sessions: what is debugged now (by a session under way or
   * waiting for the next) is detached and let go; with `killLaunched` (gdbsock
   * told to terminate, as gdbserver on SIGTERM), a program gdbsock launched is
   * killed instead, and only a process it attached to runs on.
   */
  async close(options: { killLaunched?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const target = this.current;
    this.target = undefined;
    if (target && options.killLaunched && this.killsAtEnd(target)) await this.kill(target);
    else await this.release(target);
  }

  /** A live program gdbsock started (for the first gdb or a vRun): it does not outlive serving. */
  private killsAtEnd(target: Target): boolean {
    return !target.attached && this.next !== 'same';
  }

  private async kill(target: Target): Promise<void> {
    try {
      await target.kill();
    } catch (err) {
      this.emit('log', `killing ${target.pid}: ${(err as Error).message}`);
    }
  }

  /** Leaves a target as gdb would want on the way out: detached and running. */
  private async release(target: Target | undefined): Promise<void> {
    if (!target) return;
    try {
      await target.detach();
    } catch (err) {
      this.emit('log', `detaching from ${target.pid}: ${(err as Error).message}`);
    }
  }
}
