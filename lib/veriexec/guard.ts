/**
 * The exec-time enforcement loop of hostkit/veriexec: fanotify permission
 * events (fanotify.ts) decided by a Decider (the fingerprint table, say),
 * through a cache of verdicts per file state (cache.ts), each answered once
 * and its fd closed, whatever happens. failMode 'closed' keeps the group in a
 * supervisor process (supervisor.ts) so that a dead decider means waiting,
 * not allowing.
 *
 * A guard in a process that also starts programs under its marks must not do
 * it synchronously: child_process's spawn waits in the parent until the
 * child's execve is through, and that execve waits for this very loop. Run
 * such programs through something that is not under a mark (/bin/sh -c), or
 * run the guard in a process of its own.
 */
import { EventEmitter } from 'node:events';
import { libc } from '../native';
import { cacheKey, VerdictCache } from './cache';
import {
  type AccessEvent,
  describeEvent,
  type EventKind,
  eventMask,
  FAN_DENY,
  FAN_Q_OVERFLOW,
  FanotifyReader,
  type Group,
  type Mark,
  markPaths,
  openGroup,
  type RawEvent,
  responseOf,
  type Verdict,
} from './fanotify';
import { DEFAULT_SOCKET, linkSupervisor } from './supervisor';

export interface Decider {
  decide(event: AccessEvent): Verdict | Promise<Verdict>;
}

export type FailMode = 'open' | 'closed';

export interface GuardOptions {
  /** The filesystem each lives on is marked (FAN_MARK_FILESYSTEM, else the mount). */
  paths: string[];
  decider: Decider;
  /** Gets every denial, error and queue overflow record; the default writes denialLine() to stderr. */
  log?: (record: GuardRecord) => void;
  /** Which opens to decide: 'exec' (FAN_OPEN_EXEC_PERM), 'open' (FAN_OPEN_PERM: libraries, and every other open). Both by default. */
  events?: EventKind[];
  /**
   * 'open' (default): if this process dies the kernel allows everything,
   * pending events included. 'closed': a supervisor keeps the group, events
   * wait for the next decider, and events this one had read are denied.
   */
  failMode?: FailMode;
  /** failMode 'closed': the supervisor's socket (default /run/hostkit/veriexec-guard.sock). */
  socket?: string;
  /** Verdicts remembered (default 4096; 0: none). */
  cacheSize?: number;
}

/** What a decision looked like, as 'decision' events and log records carry it (JSON-safe). */
export interface DecisionRecord {
  type: 'decision';
  time: string;
  kind: EventKind;
  verdict: 'allow' | 'deny';
  path: string;
  pid: number;
  exe: string | null;
  reason?: string;
  errno?: string;
  /** Answered from the cache. */
  cached: boolean;
  dev: string;
  ino: string;
  /** From reading the event to writing the response. */
  us: number;
}

export type GuardRecord =
  | DecisionRecord
  | { type: 'overflow'; time: string; message: string }
  | { type: 'error'; time: string; message: string; path?: string; pid?: number };

/** The one line a denial gets in a log: path, pid, exe, reason. */
export function denialLine(r: GuardRecord): string {
  if (r.type !== 'decision') return `veriexec: ${r.type}: ${r.message}`;
  const what = r.verdict === 'deny' ? 'denied' : 'allowed';
  return `veriexec: ${what} ${r.kind} of ${JSON.stringify(r.path)} by pid ${r.pid} (${JSON.stringify(r.exe ?? 'unknown program')}): ${r.reason}${r.cached ? ' [cached]' : ''}`;
}

export interface GuardStats {
  /** Events decided here (not counting ownEvents). */
  events: number;
  exec: number;
  open: number;
  allowed: number;
  denied: number;
  /** Events of this process (and the supervisor) allowed on the reader thread at once. */
  ownEvents: number;
  cacheHits: number;
  /** Events answered by the reader thread from the allows it remembers (not counted in events, nor seen by 'decision'). */
  nativeHits: number;
  /** Events that joined a decision already under way for the same key. */
  cacheJoined: number;
  deciderCalls: number;
  deciderErrors: number;
  /** Time spent in the decider, and what the cache saved at its mean (hits and joins times the mean). */
  deciderMs: number;
  savedMs: number;
  /** Responses the kernel no longer expected (ENOENT), events that could not be read. */
  lostResponses: number;
  unreadable: number;
  overflows: number;
}

const now = () => new Date().toISOString();

export class Guard extends EventEmitter {
  private readonly cache: VerdictCache;
  private readonly inflight = new Map<string, Promise<Verdict>>();
  private readonly counts = {
    events: 0,
    exec: 0,
    open: 0,
    allowed: 0,
    denied: 0,
    cacheHits: 0,
    cacheJoined: 0,
    deciderCalls: 0,
    deciderErrors: 0,
    deciderNs: 0n,
    lostResponses: 0,
    unreadable: 0,
    overflows: 0,
  };
  private reader: FanotifyReader | undefined;
  private closed = false;
  /** Event fds not answered yet: answered (denied) by close(). */
  private readonly pending = new Set<number>();

  /** @internal guard() builds it. */
  constructor(
    readonly group: Group,
    readonly marks: Mark[],
    readonly failMode: FailMode,
    /** The supervisor process (failMode 'closed'), else null. */
    readonly supervisorPid: number | null,
    private readonly decider: Decider,
    private readonly log: (record: GuardRecord) => void,
    private readonly cacheSize: number,
  ) {
    super();
    this.cache = new VerdictCache(cacheSize);
  }

  /** @internal */
  start(channel: number): void {
    const own = [process.pid, ...(this.supervisorPid ? [this.supervisorPid] : [])];
    this.reader = new FanotifyReader(
      this.group,
      channel,
      own,
      (events) => {
        for (const e of events) this.handle(e);
      },
      this.cacheSize,
    );
  }

  private handle(raw: RawEvent): void {
    if (raw.fd < 0) {
      if (raw.mask & FAN_Q_OVERFLOW) {
        this.counts.overflows++;
        this.log({ type: 'overflow', time: now(), message: 'fanotify queue overflow (FAN_Q_OVERFLOW): events were lost' });
      }
      return;
    }
    if (this.closed) {
      this.answer(raw.fd, FAN_DENY);
      return;
    }
    this.pending.add(raw.fd);
    const began = process.hrtime.bigint();
    let detail: ReturnType<typeof describeEvent>;
    try {
      detail = describeEvent(raw.mask, raw.fd, raw.pid);
    } catch (err) {
      this.counts.unreadable++;
      this.counts.denied++;
      this.answer(raw.fd, FAN_DENY);
      this.log({ type: 'error', time: now(), message: `event of pid ${raw.pid} unreadable, denied: ${(err as Error).message}`, pid: raw.pid });
      return;
    }
    const { event, generation } = detail;
    this.counts.events++;
    this.counts[event.kind]++;
    const key = cacheKey(event, generation);
    const cached = this.cache.get(key);
    if (cached) {
      this.counts.cacheHits++;
      this.finish(event, cached, true, began);
      return;
    }
    const running = this.inflight.get(key);
    if (running) {
      this.counts.cacheJoined++;
      running.then((v) => this.finish(event, v, true, began));
      return;
    }
    const decision = this.ask(event).then(({ verdict, threw }) => {
      this.inflight.delete(key);
      // A decider that threw may work next time: its denial is not remembered.
      if (!threw && verdict.cache !== false) this.cache.set(key, verdict);
      return verdict;
    });
    this.inflight.set(key, decision);
    decision.then((v) => this.finish(event, v, false, began));
  }

  /** The decider's verdict; an exception or a malformed answer is a denial (fail closed per event). */
  private async ask(event: AccessEvent): Promise<{ verdict: Verdict; threw: boolean }> {
    this.counts.deciderCalls++;
    const t0 = process.hrtime.bigint();
    try {
      const v = await this.decider.decide(event);
      if (!v || typeof v.allow !== 'boolean') throw new TypeError(`decider returned ${JSON.stringify(v)}, not a Verdict`);
      return { verdict: v, threw: false };
    } catch (err) {
      this.counts.deciderErrors++;
      const message = err instanceof Error ? err.message : String(err);
      this.log({ type: 'error', time: now(), message: `decider threw on ${event.kind} of ${event.path}: ${message}`, path: event.path, pid: event.pid });
      return { verdict: { allow: false, reason: `decider error: ${message}` }, threw: true };
    } finally {
      this.counts.deciderNs += process.hrtime.bigint() - t0;
    }
  }

  private finish(event: AccessEvent, verdict: Verdict, cached: boolean, began: bigint): void {
    let response: number;
    try {
      response = responseOf(verdict, this.group.preContent);
    } catch (err) {
      verdict = { allow: false, reason: `bad verdict: ${(err as Error).message}` };
      response = FAN_DENY;
    }
    // An allow that may be cached and says nothing to log is remembered by the reader thread too:
    // the same file state is then answered there, without waking this thread (native/veriexec_fanotify.c).
    const rememberable = verdict.allow && !verdict.warning && verdict.cache !== false && this.cacheSize > 0;
    this.answer(event.fd, response, rememberable ? event.kind : undefined);
    if (verdict.allow) this.counts.allowed++;
    else this.counts.denied++;
    const record: DecisionRecord = {
      type: 'decision',
      time: now(),
      kind: event.kind,
      verdict: verdict.allow ? 'allow' : 'deny',
      path: event.path,
      pid: event.pid,
      exe: event.exe,
      ...(verdict.allow
        ? verdict.warning
          ? { reason: verdict.warning }
          : {}
        : { reason: verdict.reason, ...(verdict.errno ? { errno: verdict.errno } : {}) }),
      cached,
      dev: event.stat.dev.toString(),
      ino: event.stat.ino.toString(),
      us: Number(process.hrtime.bigint() - began) / 1000,
    };
    if (!verdict.allow || verdict.warning) this.log(record);
    this.emit('decision', record);
  }

  /** Writes the response and closes the event fd (the native side does both, the close whatever the write did). */
  private answer(fd: number, response: number, remember?: EventKind): void {
    this.pending.delete(fd);
    if (!this.reader) return;
    try {
      if (!this.reader.respond(fd, response, remember)) this.counts.lostResponses++;
    } catch (err) {
      this.counts.lostResponses++;
      this.log({ type: 'error', time: now(), message: `response for fd ${fd} failed: ${(err as Error).message}` });
    }
  }

  stats(): GuardStats {
    const c = this.counts;
    const deciderMs = Number(c.deciderNs) / 1e6;
    const mean = c.deciderCalls ? deciderMs / c.deciderCalls : 0;
    const reader = this.reader?.state(); // one native call for both counters
    return {
      events: c.events,
      exec: c.exec,
      open: c.open,
      allowed: c.allowed,
      denied: c.denied,
      ownEvents: reader?.ownEvents ?? 0,
      nativeHits: reader?.cacheHits ?? 0,
      cacheHits: c.cacheHits,
      cacheJoined: c.cacheJoined,
      deciderCalls: c.deciderCalls,
      deciderErrors: c.deciderErrors,
      deciderMs,
      savedMs: mean * (c.cacheHits + c.cacheJoined + (reader?.cacheHits ?? 0)),
      lostResponses: c.lostResponses,
      unreadable: c.unreadable,
      overflows: c.overflows,
    };
  }

  /** Forgets every remembered verdict (after the decider's table changed). */
  clearCache(): void {
    this.cache.clear();
    this.reader?.forget();
  }

  /**
   * Stops deciding and closes the group: once no process holds it (with
   * failMode 'closed' the supervisor is told to leave first), the kernel
   * removes every mark. Events still being decided are denied.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.reader?.stop(true);
    for (const fd of [...this.pending]) this.answer(fd, FAN_DENY);
    libc().close(this.group.fd);
  }
}

/** Starts a guard: marks `paths` and decides their exec (and open) events until close(). */
export async function guard(options: GuardOptions): Promise<Guard> {
  if (!Array.isArray(options.paths) || options.paths.length === 0) throw new TypeError('guard: paths must name at least one path');
  if (!options.decider || typeof options.decider.decide !== 'function') throw new TypeError('guard: decider must have a decide(event) method');
  const failMode = options.failMode ?? 'open';
  if (failMode !== 'open' && failMode !== 'closed') throw new RangeError(`guard: failMode must be 'open' or 'closed', got ${String(failMode)}`);
  const mask = eventMask(options.events ?? ['exec', 'open']);
  const log = options.log ?? ((r: GuardRecord) => process.stderr.write(`${denialLine(r)}\n`));
  const cacheSize = options.cacheSize ?? 4096;
  if (failMode === 'open') {
    const group = openGroup();
    let marks: Mark[];
    try {
      marks = markPaths(group.fd, options.paths, mask);
    } catch (err) {
      libc().close(group.fd);
      throw err;
    }
    const g = new Guard(group, marks, failMode, null, options.decider, log, cacheSize);
    g.start(-1);
    return g;
  }
  const link = await linkSupervisor(options.socket ?? DEFAULT_SOCKET, openGroup);
  let marks: Mark[];
  try {
    // Marks a restarted decider adds again are the same marks: FAN_MARK_ADD merges masks.
    marks = markPaths(link.group.fd, options.paths, mask);
  } catch (err) {
    libc().close(link.group.fd);
    libc().close(link.channel);
    throw err;
  }
  if (link.hello.denied > 0) {
    log({ type: 'error', time: now(), message: `the supervisor denied ${link.hello.denied} event(s) the previous decider had read and not answered` });
  }
  const g = new Guard(link.group, marks, failMode, link.pid, options.decider, log, cacheSize);
  g.start(link.channel);
  return g;
}
