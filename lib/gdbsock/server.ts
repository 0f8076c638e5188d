/**
 * Gives gdb's requests their meaning, against a Target only (GDB manual,
 * "Remote Protocol"). requests.ts parses each packet, replies.ts spells the
 * answer; here is what they mean. One Server per gdb connection; packets are
 * handled one at a time, in order, except the 0x03 interrupt, which may arrive
 * while a resume waits for its stop.
 */
import { EventEmitter } from 'node:events';
import { hasCode } from '../errors';
import type { ExecString } from '../ptrace';
import type { Connection } from './connection';
import { adopt, isGdb, negotiate } from './extensions';
import { type LaunchSettings, type ProgramHistory, type TargetProvider, applyLaunchSetting, defaultLaunchSettings } from './launch-settings';
import * as lldb from './lldb-queries';
import { searchMemory } from './memory-search';
import * as registers from './register-requests';
import { type DebugSettings, debugLine, defaultDebugSettings, dialectOf, type MonitorDialect, monitorCommand, packetLine } from './monitor';
import * as reply from './replies';
import { FramedReply, RawReply } from './packet';
import { READ_AHEAD_FROM, ReadAhead } from './read-ahead';
import { NO_REPLY, OK, PACKET_SIZE, UNSUPPORTED, type Reply, replyBytes } from './replies';
import { type Request, RequestParser, describePacket } from './requests';
import { BreakpointKindUnsupported, type MultiProcess, type ResumeAction, type StopEvent, type Target, TargetRefusal } from './target';
import { SessionOptions, applySessionSetting } from './session-options';
import { stopReplyFor } from './stop-reply';
import { chooseThread, currentThread, isThreadOf, processOf } from './thread-choice';
import { applyThreadOptions } from './thread-options';
import { defaultThreadDbSettings, threadDbReachable } from './thread-db-path';
import { threadLocalAddress } from './tls';
import { Tracing } from './tracing/tracing';
import { HostIo } from './vfile';
import { XferObjects } from './xfer';
import { ProtocolError, gdbCrc32 } from './wire';

/** Non-stop: a stop gdb has not taken yet, and its stop reply (formatted when it happened, the thread stopped). */
interface QueuedStop {
  event: StopEvent;
  text: string;
}

/**
 * Targets gdb has been told of an all-stop stop of (a stop reply, `?` or
 * vAttach's answer): from then on every thread of them is stopped for gdb,
 * as all-stop stops them all. Kept by target, not by connection: a process
 * gdbsock keeps for the next gdb ('keep') stays told.
 */
const toldStopped = new WeakSet<Target>();

export { PACKET_SIZE } from './replies';

export type { LaunchSettings, TargetProvider } from './launch-settings';

/** How long a session whose process has ended waits for gdb to hang up (endWhenGdbHangsUp). */
const HANG_UP_GRACE_MS = 1000;

export type ServerEnd = 'closed' | 'detached' | 'killed' | 'exit-requested';

/**
 * Emits 'log' (a line) for packets it could not make sense of, and 'end'
 * with a ServerEnd when the session is over.
 */
export class Server extends EventEmitter {
  private readonly requests = new RequestParser();
  /** What gdb negotiated; the target holds the same object (session-options.ts). */
  private readonly options = new SessionOptions();
  private extended = false;
  private generalThread = 0;
  private waiting = false;
  /** Packets that arrived while an asynchronous one (a resume, a big read) was being answered. */
  private readonly backlog: Buffer[] = [];
  private busy = false;
  private closePending = false;
  private readonly hostIo = new HostIo();
  private exitRequested = false;
  /** finishSoon was called: no packet after this reply is waited for. */
  private finishing = false;
  private readonly launchSettings: LaunchSettings = defaultLaunchSettings();
  private ended = false;
  private readonly xfer = new XferObjects();
  /** QNonStop:1 (GDB manual, "Remote Non-Stop"): vCont answers OK at once, and stops come as %Stop notifications. */
  private nonStop = false;
  /**
   * The client probed for `x` as LLDB does, with `x0,0` (gdb never reads 0
   * bytes, and finds `x` through binary-upload+): its `x` replies are spelled
   * LLDB's way (replies.lldbBinaryMemory).
   */
  private lldbClient = false;
  /**
   * Whether P (one register) is answered. Not for gdb, as gdbserver does not:
   * gdb then writes registers with G, and an inferior call's register restore
   * is a dozen G packets instead of one P per register (135 with AVX-512:
   * gdb.base's infcall tests took twice gdbserver's time on them). LLDB,
   * which has no such fallback, and other clients keep P.
   */
  private answersP = true;
  /** The next piece of a bulk memory read, read while the client decodes the last one (all-stop). */
  private readonly readAhead = new ReadAhead();
  /**
   * Non-stop: stop replies not yet taken by gdb, oldest first. The first one
   * went out as a %Stop notification (or as the answer to `?` or vStopped);
   * gdb's vStopped takes it and asks for the next (GDB manual, "Notification Packets").
   */
  private readonly stopQueue: QueuedStop[] = [];
  /** Non-stop: the target whose stops are being collected into stopQueue. */
  private collecting: Target | undefined;
  /** Non-stop: the process has ended; the session ends once gdb has taken that news (vStopped). */
  private endOnceTaken = false;
  /** `monitor set libthread-db-search-path`: one that finds no libthread_db leaves qGetTLSAddr unanswered (E01), as gdbserver. */
  private readonly threadDb = defaultThreadDbSettings();
  /** Whose words `monitor` answers in: the gdbserver of the client's generation (from its qSupported). */
  private monitorDialect: MonitorDialect = 'gdbserver-14';

  constructor(
    private readonly connection: Connection,
    private target: Target | undefined,
    private readonly provider?: TargetProvider,
    /** gdbserver's debug switches (`monitor set debug…`), shared by the sessions of one gdbsock. */
    private readonly debug: DebugSettings = defaultDebugSettings(),
    /**
     * The program gdb last ran (or killed), shared by the sessions of one
     * gdbsock: `run` after a kill sends vRun with an empty name, and R takes
     * no name at all (as gdbserver, run it again, R with its arguments).
     */
    private readonly history: ProgramHistory = {},
    /**
     * gdb's tracepoints and the frames they collected, shared by the sessions
     * of one gdbsock as gdbserver keeps them for the next gdb (disconnected
     * tracing); while gdb looks at a frame (tfind), reads come from it.
     */
    private readonly tracing: Tracing = new Tracing(),
  ) {
    super();
    this.options.inputFd = connection.inputFd;
    target?.useSession(this.options);
    connection.on('packet', (payload: Buffer) => {
      if (this.busy) this.backlog.push(payload);
      else this.run(payload);
    });
    // Also between resumes: an all-stop target keeps it for the next one, as gdbserver's queued SIGINT.
    connection.on('interrupt', () => this.target?.interrupt());
    connection.on('close', () => {
      if (!this.busy) return this.finish(this.exitRequested ? 'exit-requested' : 'closed');
      this.closePending = true;
      // gdb hung up while the program ran: stop it, so the resume ends and the process is let go, not kept traced.
      if (this.waiting) this.target?.interrupt();
    });
  }

  /** The target gdb is debugging now (vRun and vAttach replace it). */
  get current(): Target | undefined {
    return this.target;
  }

  private finish(how: ServerEnd): void {
    if (this.ended) return;
    this.ended = true;
    this.tracing.disconnected();
    this.hostIo.closeAll();
    this.emit('end', how);
  }

  /**
   * Answers one packet. Most answers are synchronous and go out at once (no
   * promise hop per packet: gdb waits for each); asynchronous ones hold the
   * packets behind them until they are done.
   */
  private run(payload: Buffer): void {
    if (this.ended || this.finishing) return; // as gdbserver, gone after the answer that ended it
    if (this.debug.remote) this.debugLog(packetLine('getpkt', payload));
    let result: Reply | Promise<Reply>;
    try {
      const request = this.requests.parse(payload);
      if (request.kind !== 'readMemory') this.readAhead.drop();
      result = this.dispatch(request);
    } catch (err) {
      result = this.failed(payload, err);
    }
    if (!(result instanceof Promise)) return this.reply(result);
    this.busy = true;
    result
      .catch((err: unknown) => this.failed(payload, err))
      .then((answer) => {
        this.busy = false;
        this.reply(answer);
        while (!this.busy && this.backlog.length) this.run(this.backlog.shift()!);
        if (!this.busy && this.closePending) this.finish(this.exitRequested ? 'exit-requested' : 'closed');
      });
  }

  private failed(payload: Buffer, err: unknown): Reply {
    this.emit('log', `${describePacket(payload)}: ${(err as Error).message}`);
    return err instanceof TargetRefusal ? reply.errorText(err.message) : reply.error();
  }

  private reply(answer: Reply): void {
    if (answer === NO_REPLY || this.ended) return;
    if (this.debug.remote) this.debugLog(packetLine('putpkt', replyBytes(answer)));
    if (answer instanceof RawReply) this.connection.sendRaw(answer);
    else if (answer instanceof FramedReply) this.connection.sendFramed(answer);
    else this.connection.send(answer, { binary: typeof answer !== 'string' });
    if (this.target && !this.nonStop) this.readAhead.fill(this.target);
    // gdb answers at once: take its next packet without waiting for the event loop (unless the session
    // is ending: the wait for a packet that never comes, up to the pump's window, would put off the end).
    if (!this.busy && !this.backlog.length && !this.finishing) this.connection.pumpSoon();
  }

  /** Ends the session once the reply under way has gone out. */
  private finishSoon(how: ServerEnd): void {
    this.finishing = true;
    setImmediate(() => this.finish(how));
  }

  private get t(): Target {
    if (!this.target) throw new ProtocolError('no process');
    return this.target;
  }

  private tid(): number {
    return currentThread(this.t, this.generalThread);
  }

  private dispatch(r: Request): Reply | Promise<Reply> {
    // The hot kinds first: a switch over strings is a row of comparisons until V8 optimizes it.
    switch (r.kind) {
      case 'vCont':
        return this.nonStop ? this.resumeNonStop(r.actions) : this.resumeAndWait(r.actions);
      case 'readMemory': {
        if (this.tracing.frame) return this.readFrameMemory(r.addr, r.length, r.binary);
        // gdb asks x for PacketSize/2 bytes as it asks m: take all of them (the escaped reply may be longer; gdb grows its buffer).
        const length = Math.min(r.length, PACKET_SIZE / 2);
        if (r.binary && r.length === 0 && r.addr === 0n) this.lldbClient = true;
        const spell = this.memorySpelling(r.binary);
        const ready = this.readAhead.take(r.addr, length, spell);
        if (length >= READ_AHEAD_FROM && !this.nonStop) this.readAhead.plan(r.addr, length, spell);
        if (ready) return ready;
        const data = this.t.readMemory(r.addr, length);
        return data instanceof Promise ? data.then((d) => spell(d, length)) : spell(data, length);
      }
      case 'breakpoint':
        if (!r.insert) {
          try {
            this.t.removeBreakpoint(r.type, r.addr, r.length);
          } catch (err) {
            // Its page is gone (the program unmapped it): gdb warns "Error removing breakpoint", as with gdbserver.
            if (hasCode(err, 'EIO', 'EFAULT')) return reply.error();
            throw err;
          }
          return OK;
        }
        try {
          this.t.insertBreakpoint(r.type, r.addr, r.length, r.conditions, r.commands);
        } catch (err) {
          if (err instanceof RangeError) return reply.error();
          if (err instanceof BreakpointKindUnsupported) return reply.UNSUPPORTED;
          throw err;
        }
        return OK;
      case 'readRegisters': {
        const frame = this.tracing.frame;
        if (!frame) return registers.readAll(this.t, r.tid || this.tid());
        const saved = this.tracing.frameRegisters(frame, this.t);
        return registers.readAllSaved(this.t, saved.raw, saved.unavailable);
      }
      case 'readRegister': {
        const frame = this.tracing.frame;
        if (!frame) return registers.readOne(this.t, r.tid || this.tid(), r.regno);
        const saved = this.tracing.frameRegisters(frame, this.t);
        return registers.readOneSaved(this.t, saved.raw, saved.unavailable, r.regno);
      }
      case 'malformed':
        this.emit('log', `${r.packet}: ${r.reason}`);
        return reply.error();
      case 'unknown':
        return UNSUPPORTED;
      case 'stopReason':
        if (this.nonStop) return this.everyStop();
        return this.target ? this.stopReply(this.target.lastStop()) : reply.NO_PROCESS;
      case 'vStopped':
        return this.nextStop();
      case 'vCtrlC':
        if (!this.nonStop) return UNSUPPORTED;
        this.t.interrupt();
        return OK;
      case 'writeRegisters':
        if (this.tracing.frame) return reply.error(); // a trace frame is history (gdbserver: E01)
        return registers.writeAll(this.t, r.tid || this.tid(), r.data);
      case 'writeRegister':
        if (!this.answersP) return UNSUPPORTED;
        if (this.tracing.frame) return reply.error();
        return registers.writeOne(this.t, r.tid || this.tid(), r.regno, r.value);
      case 'writeMemory':
        if (r.binary && r.data.length === 0) return OK; // gdb probes for X support with an empty write
        if (this.tracing.frame) return reply.error();
        return this.t.writeMemory(r.addr, r.data) === r.data.length ? OK : reply.error();
      case 'selectThread':
        return this.selectThread(r.op, r.pid, r.tid) ? OK : reply.error();
      case 'threadAlive':
        return r.tid > 0 && this.target !== undefined && isThreadOf(this.target, r.tid, r.pid) ? OK : reply.error();
      case 'legacyResume': {
        const tid = this.tid();
        return this.resumeAndWait([r.step ? { type: 'step', signal: r.signal, tid } : { type: 'continue', signal: r.signal }]);
      }
      case 'vContQuery':
        return reply.VCONT_ACTIONS;
      case 'detach': {
        // D;PID: one process of several (a fork child gdb lets go, or the parent it leaves for the child).
        const several = this.t.capabilities.multiProcess;
        if (r.pid !== undefined && several) return this.endProcess(this.releaseQueuedForks(r.pid).then(() => several.detachProcess(r.pid!)));
        // gdb still closes its vFile handles after this; the session ends when it hangs up.
        this.collecting = undefined;
        return this.t.detach().then(() => {
          this.target = undefined;
          return OK;
        });
      }
      case 'kill': {
        // gdb reads no reply to k (it uses vKill when it may go on); LLDB waits for the exit's stop reply.
        const pid = this.target?.pid;
        return this.killTarget().then(() => (pid === undefined ? NO_REPLY : reply.formatStopReply({ kind: 'killed', pid, signal: 9 }, pid, this.options)));
      }
      case 'vKill': {
        // Another program than the one run last (one gdb attached to): `run` next means that one, without arguments.
        const killed = this.target?.execFile();
        const last = this.history.argv?.[0];
        if (killed !== undefined && (last === undefined || !Buffer.from(last).equals(Buffer.from(killed)))) this.history.argv = [killed];
        const several = this.target?.capabilities.multiProcess;
        if (r.pid !== undefined && several) {
          this.discardQueuedStops(r.pid);
          return this.endProcess(several.killProcess(r.pid)).then((answer) => {
            if (!this.target && !this.extended) this.finishSoon('killed'); // as `k`: the last process is gone
            return answer;
          });
        }
        return this.killTarget().then(() => OK);
      }
      case 'extendedMode':
        this.extended = true;
        return OK;
      case 'vAttach':
      case 'vRun':
        return this.startTarget(r);
      case 'restart':
        return this.restart();
      case 'vFile':
        return this.target?.capabilities.hostIo?.hostIo(r.body) ?? this.hostIo.handle(r.body);
      case 'qSupported': {
        const { target, reply: answer } = negotiate(this.options, r.features, this.target);
        this.monitorDialect = dialectOf(r.features);
        this.answersP = !isGdb(r.features);
        const replaced = target !== this.target;
        this.target = target;
        if (replaced) this.adoptMode();
        return answer;
      }
      case 'currentThread':
        return reply.currentThread(this.threadId(this.tid()));
      case 'attached':
        return reply.attached(this.target?.attached === true);
      case 'threadListFirst':
        return reply.threadList(this.target ? this.t.threads().map((th) => this.threadId(th.tid)) : []);
      case 'threadListNext':
        return reply.THREAD_LIST_END;
      case 'symbolLookup':
        return OK;
      case 'trace':
        return this.tracing.handle(r.request, this.target) ?? UNSUPPORTED;
      case 'qXfer':
        if (r.object === 'traceframe-info') {
          const frame = this.tracing.frame;
          return frame ? reply.xferChunk(Buffer.from(frame.infoXml()), r.offset, r.length) : reply.error();
        }
        // No process (--multi before a run): no threads, as gdbserver answers, rather than an error.
        if (r.object === 'threads' && !this.target) return reply.xferChunk(Buffer.from(reply.threadsXml([])), r.offset, r.length);
        return this.xfer.read(
          () => this.t,
          r,
          () => this.tid(),
          (tid) => this.threadId(tid),
        );
      case 'qXferWrite':
        this.t.writeSiginfo(this.tid(), r.data, r.offset);
        return reply.written(r.data.length);
      case 'monitor':
        return this.monitor(r.command);
      case 'crc': {
        const length = r.length;
        return Promise.resolve(this.t.readMemory(r.addr, length)).then((data) => (data.length === length ? reply.crc(gdbCrc32(data)) : reply.error()));
      }
      case 'searchMemory':
        return searchMemory(this.t, r.addr, r.length, r.pattern).then((at) => (at === 'unreadable' ? reply.error() : reply.searchResult(at)));
      case 'hostInfo':
        return lldb.hostInfo();
      case 'processInfo':
        return this.target ? lldb.processInfo(this.target) : reply.error();
      case 'memoryRegionInfo':
        return lldb.memoryRegionInfo(this.t, r.addr) ?? UNSUPPORTED;
      case 'shlibInfoAddr':
        return lldb.shlibInfoAddress(this.t).then((at) => (at === undefined ? reply.error() : at.toString(16)));
      case 'tlsAddress': {
        // gdbserver: E01 for a malformed packet, a thread it does not have, or an address libthread_db cannot give.
        const chosen = this.target && r.thread ? chooseThread(this.target, r.thread.pid, r.thread.tid) : undefined;
        if (!chosen || !threadDbReachable(this.threadDb)) return reply.error();
        return threadLocalAddress(this.t, chosen, r.offset, r.lm).then(
          (address) => address.toString(16),
          () => reply.error(),
        );
      }
      case 'threadSuffixSupported':
        return OK;
      case 'threadStopInfo':
        return isThreadOf(this.t, r.tid, undefined) ? this.stopReply(lldb.threadStop(this.t, r.tid)) : reply.error();
      default:
        return this.setting(r);
    }
  }

  /** How a memory read's bytes are spelled: hex for `m`, escaped for `x`, LLDB's way when LLDB asks. */
  private memorySpelling(binary: boolean): typeof reply.memory {
    return !binary ? reply.memory : this.lldbClient ? reply.lldbBinaryMemory : reply.binaryMemory;
  }

  /**
   * m or x while gdb looks at a trace frame: what the frame collected; the
   * process's memory only where gdb said it never changes (QTro); else E01,
   * which gdb shows as <unavailable> (gdbserver, gdb_read_memory).
   */
  private readFrameMemory(addr: bigint, length: number, binary: boolean): Reply | Promise<Reply> {
    const spell = this.memorySpelling(binary);
    const size = Math.min(length, PACKET_SIZE / 2);
    const found = this.tracing.frameMemory(this.tracing.frame!, addr, size);
    if (found === undefined) return reply.error();
    if (found !== 'live') return spell(found, found.length);
    const data = this.t.readMemory(addr, size);
    return data instanceof Promise ? data.then((d) => spell(d, size)) : spell(data, size);
  }

  /** H op thread-id: Hg picks the thread g/G/p/P read and write; Hc and Hs are checked, then vCont names its own. */
  private selectThread(op: 'g' | 'c' | 's', pid: number | undefined, tid: number): boolean {
    const t = this.target;
    if (!t) return tid <= 0;
    const chosen = chooseThread(t, pid, tid);
    if (chosen === undefined) return false;
    if (op === 'g') {
      this.generalThread = chosen;
      // With forks kept, memory and breakpoints go to this thread's process (gdb switches with Hg).
      const several = t.capabilities.multiProcess;
      if (chosen > 0 && several) several.selectProcess(processOf(t, chosen));
    }
    return true;
  }

  /** `afterStep`: the stop answers a resume that stepped a thread (vCont s or r). */
  private stopReply(event: StopEvent, afterStep = false): string {
    if (!this.nonStop) toldStopped.add(this.t);
    return stopReplyFor(this.t, event, this.options.multiprocess, afterStep);
  }

  /** Non-stop vCont: the threads named do as told, the others go on as they are; their stops come as notifications. */
  private async resumeNonStop(actions: ResumeAction[]): Promise<Reply> {
    const t = this.t;
    // A thread's own action comes first (actionFor): `stop` for one already stopped leaves it as it is.
    await t.resume([...this.queuedThreads().map((tid): ResumeAction => ({ type: 'stop', tid })), ...actions]);
    this.collectStops(t);
    return OK;
  }

  /** Non-stop: every stop of `t` from now on joins stopQueue, the first of a run announced with %Stop. */
  private collectStops(t: Target): void {
    const nonStop = t.capabilities.nonStop;
    if (this.collecting === t || !nonStop) return;
    this.collecting = t;
    nonStop.onStop((event) => {
      if (this.collecting !== t || this.target !== t || this.ended) return nonStop.onStop(undefined);
      // The end of the last process (with forks kept, one process may end while others run on).
      if ((event.kind === 'exited' || event.kind === 'killed') && !t.threads().length) {
        this.collecting = undefined;
        nonStop.onStop(undefined);
        if (!this.extended) this.endOnceTaken = true;
      }
      this.queueStop(event);
    });
  }

  private queueStop(event: StopEvent): void {
    const text = this.stopReply(event);
    this.stopQueue.push({ event, text });
    if (this.stopQueue.length === 1) {
      if (this.debug.remote) this.debugLog(`notif: Stop:${text}`);
      this.connection.notify(`Stop:${text}`);
    }
  }

  /** vStopped: gdb took the first stop of the queue; the next, or OK once none is left. */
  private nextStop(): Reply {
    if (!this.nonStop) return UNSUPPORTED;
    this.stopQueue.shift();
    const next = this.stopQueue[0];
    if (next !== undefined) return next.text;
    if (this.endOnceTaken) this.endWhenGdbHangsUp();
    return OK;
  }

  /**
   * Non-stop, `target remote`: the process has ended and gdb took the news.
   * gdb hangs up once it has mourned the process, and may send a packet
   * first (gdb 13.1 selects a thread: Hgp0.0). Hanging up before would leave
   * that packet unread, and the kernel resets a connection closed with
   * unread data: gdb said "Connection reset by peer" instead of the
   * process's end. So the session ends when gdb hangs up, or after
   * HANG_UP_GRACE_MS if it does not.
   */
  private endWhenGdbHangsUp(): void {
    const timer = setTimeout(() => this.finish('closed'), HANG_UP_GRACE_MS);
    this.once('end', () => clearTimeout(timer));
  }

  /**
   * `?` in non-stop: the stop of every thread gdb has stopped, through the
   * same queue as notifications (the first one now, the rest for vStopped).
   * Stops not yet taken stay ahead of them, as gdbserver keeps its queue
   * (server.cc, handle_status): one may be news no thread lists, the
   * process's end. OK when nothing is stopped or queued.
   */
  private everyStop(): Reply {
    const t = this.target;
    if (!t) return OK; // no process: no thread stopped (gdbserver's answer too)
    for (const event of t.capabilities.nonStop?.stoppedThreads() ?? [t.lastStop()]) this.stopQueue.push({ event, text: this.stopReply(event) });
    return this.stopQueue[0]?.text ?? OK;
  }

  /**
   * Non-stop: threads whose stop gdb has not taken yet (vStopped), and the
   * child of a fork gdb has not been told of: a vCont leaves them stopped,
   * whatever it says, so the stop is still true when gdb reads it, as
   * gdbserver skips them (linux-low.cc, linux_set_resume_request).
   */
  private queuedThreads(): number[] {
    const tids: number[] = [];
    for (const { event } of this.stopQueue) {
      if (event.kind !== 'signal') continue;
      tids.push(event.tid);
      const r = event.reason;
      if (r?.type === 'fork' || r?.type === 'vfork') tids.push(r.childTid);
    }
    return tids;
  }

  /** QNonStop: needs a target that can (or no target yet: the one vRun or vAttach brings must). */
  private setNonStop(on: boolean): Reply {
    const t = this.target;
    if (on && t && !t.capabilities.nonStop) return reply.error();
    // Stops from here on wait for the next collectStops (or wait(), in all-stop) instead of going to a listener that ignores them.
    t?.capabilities.nonStop?.onStop(undefined);
    t?.capabilities.nonStop?.setNonStop(on, t !== undefined && !toldStopped.has(t));
    this.nonStop = on;
    this.connection.yieldToEvents = on;
    this.stopQueue.length = 0;
    this.collecting = undefined;
    return OK;
  }

  /**
   * A new target (vRun, vAttach, R) goes on in the mode gdb chose. Its
   * threads stay stopped: after vAttach in non-stop gdb stops every one
   * itself (vCont;t), and each is answered with its stop at once.
   */
  private adoptMode(): void {
    this.collecting = undefined;
    this.stopQueue.length = 0;
    if (this.nonStop) this.target?.capabilities.nonStop?.setNonStop(true);
  }

  private async resumeAndWait(actions: ResumeAction[]): Promise<string> {
    const t = this.t;
    this.waiting = true;
    try {
      await t.resume(actions);
      // A thread's exit comes only when gdb wants it (QThreadEvents, or the thread's QThreadOptions): the target decides.
      const event = await t.wait();
      if (event.kind === 'exited' || event.kind === 'killed') this.afterProcessEnd();
      this.afterStop(event);
      return this.stopReply(
        event,
        actions.some((a) => a.type === 'step' || a.type === 'range'),
      );
    } finally {
      this.waiting = false;
    }
  }

  /**
   * gdb takes a stop's thread as the general thread without sending Hg
   * (remote.c records it as current on each stop), so g after a stop must
   * read the event thread, whatever Hg chose before the resume.
   */
  private afterStop(event: StopEvent): void {
    this.generalThread = 0;
    const several = this.target?.capabilities.multiProcess;
    const pid = several && event.kind === 'signal' ? several.pidOf(event.tid) : undefined;
    if (pid !== undefined) several!.selectProcess(pid);
  }

  private afterProcessEnd(): void {
    // Forks gdb keeps outlive the process that exited.
    if (!this.extended && !this.target?.threads().length) this.finishSoon('closed');
  }

  /**
   * Non-stop: gdb detaches process `pid` while stops of it wait in the queue.
   * They go (gdbserver discards them too: server.cc, handle_detach), and the
   * child of each fork among them is let go first: gdb never took that stop,
   * so it never will detach the child, whose parent would wait for it forever.
   * The head of the queue stays, as in discardQueuedStops: gdb has it already
   * (its %Stop went out), detaches a fork child it names itself, and its next
   * vStopped acknowledges it. Dropped, its child was let go under gdb (whose
   * D of the child got E01) and that vStopped took the next stop unsent.
   */
  private async releaseQueuedForks(pid: number): Promise<void> {
    const several = this.t.capabilities.multiProcess;
    if (!several || this.stopQueue.length < 2) return;
    const t = this.t;
    const kept: QueuedStop[] = [this.stopQueue[0]!];
    for (const queued of this.stopQueue.slice(1)) {
      const { event } = queued;
      const ofPid = event.kind === 'signal' ? processOf(t, event.tid) === pid : 'pid' in event && event.pid === pid;
      if (!ofPid) {
        kept.push(queued);
        continue;
      }
      const r = event.kind === 'signal' ? event.reason : undefined;
      if ((r?.type === 'fork' || r?.type === 'vfork') && several.pidOf(r.childPid) === r.childPid) await several.detachProcess(r.childPid);
    }
    this.stopQueue.length = 0;
    this.stopQueue.push(...kept);
  }

  /**
   * Non-stop: gdb kills process `pid` (every process, undefined): its stops
   * not yet sent go, as gdbserver drops them (server.cc, handle_v_kill). The
   * first of the queue stays: gdb has it already, and its vStopped must take
   * that one, not the next.
   */
  private discardQueuedStops(pid: number | undefined): void {
    if (this.stopQueue.length < 2) return;
    const t = this.target;
    const ofPid = ({ event }: QueuedStop) => {
      if (pid === undefined) return true;
      if (event.kind === 'signal') return t !== undefined && processOf(t, event.tid) === pid;
      return 'pid' in event && event.pid === pid;
    };
    const kept = this.stopQueue.slice(1).filter((queued) => !ofPid(queued));
    this.stopQueue.length = 1;
    this.stopQueue.push(...kept);
  }

  /** After one process of several was detached or killed: none left means no target. */
  private async endProcess(left: Promise<number>): Promise<Reply> {
    if ((await left) === 0) this.target = undefined;
    return OK;
  }

  private async killTarget(): Promise<void> {
    this.collecting = undefined;
    this.discardQueuedStops(undefined);
    if (this.target) await this.target.kill();
    this.target = undefined;
    if (!this.extended) this.finishSoon('killed');
  }

  /**
   * vAttach and vRun (extended-remote): a new target replaces the old, or,
   * while gdb debugs processes it may keep several of (multiprocess), joins
   * them as another inferior.
   */
  private async startTarget(r: Extract<Request, { kind: 'vAttach' | 'vRun' }>): Promise<Reply> {
    if (!this.provider) return reply.error();
    const several = this.extended && this.options.multiprocess && this.target?.threads().length ? this.target.capabilities.multiProcess : undefined;
    if (several) return this.startBeside(several, this.provider, r);
    if (r.kind === 'vAttach') {
      this.target = adopt(this.options, await this.provider.attach(r.pid));
      this.adoptMode();
      // Non-stop: OK, and gdb stops the threads (vCont;t), each stop a notification (gdb's remote.c wants OK here).
      if (this.nonStop) return OK;
    } else {
      const argv: ExecString[] = r.argv;
      if (argv[0]!.length === 0) {
        const exe = this.target?.execFile() ?? this.history.argv?.[0];
        if (!exe) return reply.error();
        argv[0] = exe;
      }
      await this.launch(this.provider, argv);
    }
    this.generalThread = 0;
    return this.stopReply(this.t.lastStop());
  }

  /**
   * Another process beside those gdb debugs: gdb's other inferiors stay as
   * they are (gdbserver starts or attaches one more process, killing none).
   */
  private async startBeside(several: MultiProcess, provider: TargetProvider, r: Extract<Request, { kind: 'vAttach' | 'vRun' }>): Promise<Reply> {
    let started: Target;
    if (r.kind === 'vAttach') started = await provider.attach(r.pid);
    else {
      const argv: ExecString[] = r.argv;
      if (argv[0]!.length === 0) {
        const exe = this.history.argv?.[0];
        if (!exe) return reply.error();
        argv[0] = exe;
      }
      this.history.argv = [...argv];
      started = await provider.launch(argv, this.launchSettings);
    }
    if (!several.addProcess(started)) {
      await (r.kind === 'vAttach' ? started.detach() : started.kill());
      return reply.error();
    }
    this.generalThread = 0;
    if (r.kind === 'vAttach' && this.nonStop) return OK;
    return this.stopReply(this.t.lastStop());
  }

  /** The program gdb runs, in place of the target there was. */
  private async launch(provider: TargetProvider, argv: ExecString[]): Promise<void> {
    this.history.argv = [...argv];
    if (this.target) await this.target.kill();
    this.target = undefined;
    this.target = adopt(this.options, await provider.launch(argv, this.launchSettings));
    this.adoptMode();
    this.generalThread = 0;
  }

  /** R (extended-remote, `set remote run-packet off`): the last program again, with its arguments; gdb asks `?` next. */
  private async restart(): Promise<Reply> {
    const exe = this.target?.execFile();
    const argv = this.history.argv ?? (exe === undefined ? undefined : [exe]);
    if (!this.extended || !this.provider || argv === undefined) return NO_REPLY;
    await this.launch(this.provider, argv);
    return NO_REPLY;
  }

  /** A thread id for gdb, with the thread's own process when there are several. */
  private threadId(tid: number): string {
    const t = this.t;
    return reply.formatThreadId(processOf(t, tid), tid, this.options.multiprocess);
  }

  private monitor(command: string): Reply {
    const { output, ok, exit } = monitorCommand(command, this.debug, this.threadDb, this.monitorDialect);
    if (output) this.connection.send(reply.consoleOutput(output));
    if (exit) {
      // As gdbserver: OK, then gone at once.
      this.exitRequested = true;
      this.finishSoon('exit-requested');
    }
    return ok ? OK : reply.error();
  }

  private debugLog(line: string): void {
    this.emit('log', debugLine(this.debug, line));
  }

  /** The Q packets: settings for this connection and for the programs vRun starts. */
  private setting(r: Request): Reply {
    switch (r.kind) {
      case 'startNoAckMode':
        this.connection.send(OK);
        this.connection.stopAcking();
        return NO_REPLY;
      case 'nonStop':
        return this.setNonStop(r.on);
      case 'threadOptions':
        return applyThreadOptions(this.options.threadOptions, r.entries, this.target) ? OK : reply.error();
      default:
        return applySessionSetting(this.options, r) || applyLaunchSetting(this.launchSettings, r) ? OK : UNSUPPORTED;
    }
  }
}
