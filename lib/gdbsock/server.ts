/**
 * Gives RSP packets their meaning, against a Target only (GDB manual,
 * "Remote Protocol"). One Server per gdb connection; packets are handled one
 * at a time, in order, except the 0x03 interrupt, which may arrive while a
 * resume waits for its stop.
 */
import { EventEmitter } from 'node:events';
import type { ExecString } from '../ptrace';
import type { Connection } from './connection';
import { unescapeBinary } from './packet';
import { SIGTRAP, fromGdbSignal } from './signals';
import { type BreakpointType, type ResumeAction, type StopEvent, type Target, TargetRefusal } from './target';
import { followForks } from './targets/inferiors';
import { HostIo } from './vfile';
import {
  ProtocolError,
  formatStopReply,
  formatThreadId,
  gdbCrc32,
  hexToBuffer,
  parseAddress,
  parseAddressIn,
  parseHex,
  parseHexIn,
  parseThreadId,
  xferChunk,
} from './wire';

/** gdb reads memory in chunks of about half this (two hex digits per byte). */
export const PACKET_SIZE = 0x100000;

/** How to get a new target for vRun and vAttach (extended-remote). */
export interface TargetProvider {
  attach(pid: number): Promise<Target>;
  /** argv as gdb sent it: bytes, which need not be UTF-8 (a string where gdbsock supplied the name). */
  launch(argv: ExecString[], options: LaunchSettings): Promise<Target>;
}

export interface LaunchSettings {
  env: Record<string, string | undefined>;
  cwd?: string;
  disableRandomization: boolean;
  startupWithShell: boolean;
}

export type ServerEnd = 'closed' | 'detached' | 'killed' | 'exit-requested';

const Z_TYPES = new Map<string, BreakpointType>([
  ['0', 'software'],
  ['1', 'hardware'],
  ['2', 'write'],
  ['3', 'read'],
  ['4', 'access'],
]);

const MONITOR_HELP = `gdbsock monitor commands:
  help    this text
  exit    detach (or kill what gdbsock launched) and stop serving after this connection
`;

/**
 * Emits 'log' (a line) for packets it could not make sense of, and 'end'
 * with a ServerEnd when the session is over.
 */
export class Server extends EventEmitter {
  private multiprocess = false;
  private extended = false;
  private threadEvents = false;
  private execEvents = false;
  private forkEvents = false;
  private vforkEvents = false;
  /** The program gdb last ran or killed: `run` after a kill sends vRun with an empty name (as gdbserver, run it again). */
  private lastProgram: ExecString | undefined;
  private generalThread = 0;
  private waiting = false;
  /** Packets that arrived while an asynchronous one (a resume, a big read) was being answered. */
  private readonly backlog: Buffer[] = [];
  private busy = false;
  private closePending = false;
  private readonly hostIo = new HostIo();
  private exitRequested = false;
  private readonly launchSettings: LaunchSettings = {
    env: { ...process.env },
    disableRandomization: true,
    startupWithShell: true,
  };
  private ended = false;
  private threadsDocument: string | undefined;

  constructor(
    private readonly connection: Connection,
    private target: Target | undefined,
    private readonly provider?: TargetProvider,
  ) {
    super();
    connection.on('packet', (payload: Buffer) => {
      if (this.busy) this.backlog.push(payload);
      else this.run(payload);
    });
    connection.on('interrupt', () => {
      if (this.waiting) this.target?.interrupt();
    });
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
    this.hostIo.closeAll();
    this.emit('end', how);
  }

  /**
   * Answers one packet. Most answers are synchronous and go out at once (no
   * promise hop per packet: gdb waits for each); asynchronous ones hold the
   * packets behind them until they are done.
   */
  private run(payload: Buffer): void {
    if (this.ended) return;
    let result: Reply | Promise<Reply>;
    try {
      result = this.dispatch(payload);
    } catch (err) {
      result = this.failed(payload, err);
    }
    if (!(result instanceof Promise)) return this.reply(result);
    this.busy = true;
    result
      .catch((err: unknown) => this.failed(payload, err))
      .then((reply) => {
        this.busy = false;
        this.reply(reply);
        while (!this.busy && this.backlog.length) this.run(this.backlog.shift()!);
        if (!this.busy && this.closePending) this.finish(this.exitRequested ? 'exit-requested' : 'closed');
      });
  }

  private failed(payload: Buffer, err: unknown): Reply {
    this.emit('log', `${describePacket(payload)}: ${(err as Error).message}`);
    // Packet framing characters cannot appear in the text of an E. reply.
    if (err instanceof TargetRefusal) return `E.${err.message.replace(/[$#}*]/g, '?')}`;
    return 'E01';
  }

  private reply(reply: Reply): void {
    if (reply === NO_REPLY || this.ended) return;
    this.connection.send(reply, { binary: typeof reply !== 'string' });
    // gdb answers at once: take its next packet without waiting for the event loop.
    if (!this.busy && !this.backlog.length) this.connection.pumpSoon();
  }

  /** Ends the session once the reply under way has gone out. */
  private finishSoon(how: ServerEnd): void {
    setImmediate(() => this.finish(how));
  }

  private get t(): Target {
    if (!this.target) throw new ProtocolError('no process');
    return this.target;
  }

  private tid(): number {
    const t = this.t;
    if (this.generalThread > 0) {
      if (!t.isAlive(this.generalThread)) throw new ProtocolError(`thread ${this.generalThread} is gone`);
      return this.generalThread;
    }
    const last = t.lastStop();
    if (last.kind === 'signal' && t.isAlive(last.tid)) return last.tid;
    const first = t.threads()[0];
    if (!first) throw new ProtocolError('no threads');
    return first.tid;
  }

  /**
   * H op thread-id (GDB manual, "Packets" and "thread-id syntax"): Hg picks
   * the thread g/G/p/P read and write, 0 meaning any thread, -1 all of them,
   * pPID.0 and pPID.-1 any thread of PID. A dead thread, a thread of another
   * process, or a process not debugged here is an error. Ops other than g, c
   * and s get the empty reply (unsupported), as gdbserver ignores them so the
   * protocol can grow.
   */
  private selectThread(text: string): Reply {
    const op = text[1];
    if (op !== 'g' && op !== 'c' && op !== 's') return '';
    const { pid, tid } = parseThreadId(text.slice(2));
    const t = this.target;
    if (!t) return tid > 0 ? 'E01' : 'OK';
    let chosen = 0;
    if (tid > 0) {
      if (!this.isThreadOf(tid, pid)) return 'E01';
      chosen = tid;
    } else if (pid !== undefined && pid > 0) {
      // Any thread of that process: the one that stopped last if it is one of them.
      const last = t.lastStop();
      if (last.kind === 'signal' && this.isThreadOf(last.tid, pid)) chosen = last.tid;
      else chosen = t.threads().find((th) => this.processOf(th.tid) === pid)?.tid ?? -1;
      if (chosen < 0) return 'E01';
    }
    if (op === 'g') {
      this.generalThread = chosen;
      // With forks kept, memory and breakpoints go to this thread's process (gdb switches with Hg).
      if (chosen > 0 && t.pidOf) t.selectProcess?.(this.processOf(chosen));
    }
    return 'OK';
  }

  /** `tid` is a live thread here, and one of process `pid` if the thread-id named one (pPID.TID; 0 and -1 are any). */
  private isThreadOf(tid: number, pid: number | undefined): boolean {
    const t = this.target;
    if (!t?.isAlive(tid)) return false;
    return pid === undefined || pid <= 0 || this.processOf(tid) === pid;
  }

  /** The process a thread here belongs to (one process unless forks are kept). */
  private processOf(tid: number): number {
    return this.t.pidOf?.(tid) ?? this.t.pid;
  }

  /** `afterStep`: the stop answers a resume that stepped a thread (vCont s or r). */
  private stopReply(event: StopEvent, afterStep = false): string {
    const t = this.t;
    return formatStopReply(event, t.pid, {
      multiprocess: this.multiprocess,
      pidOf: (tid) => t.pidOf?.(tid),
      expedite: (tid) => {
        try {
          // Every stop builds this: a plain loop, no intermediate arrays.
          const unavailable = t.unavailableRegisters?.(tid);
          const regnos = afterStep && endsStep(event) ? t.registers.expeditedAfterStep : t.registers.expedited;
          let text = '';
          for (const n of regnos) {
            if (unavailable?.has(n)) continue;
            const hex = t.readRegisterHex ? t.readRegisterHex(tid, n) : t.readRegister(tid, n).toString('hex');
            text += `${REGNO_PREFIX[n] ?? `${n.toString(16)}:`}${hex};`;
          }
          return text;
        } catch {
          return '';
        }
      },
    });
  }

  private dispatch(payload: Buffer): Reply | Promise<Reply> {
    const text = payload.toString('latin1');
    const first = text[0];
    switch (first) {
      case '?':
        return this.target ? this.stopReply(this.target.lastStop()) : 'W00';
      case 'g':
        return this.registersWithGaps(this.tid());
      case 'G':
        return this.writeAllRegisters(hexToBuffer(text.slice(1)));
      case 'p': {
        const regno = parseHex(text.slice(1), 'register');
        if (regno >= this.t.registers.registers.length) return 'E45';
        // Read first: the read may find the thread's registers gone (killed from outside).
        const value = this.t.readRegister(this.tid(), regno);
        if (this.t.unavailableRegisters?.(this.tid())?.has(regno)) return 'xx'.repeat(this.t.registers.registers[regno]!.size);
        return value.toString('hex');
      }
      case 'P': {
        const [n, v] = text.slice(1).split('=');
        this.t.writeRegister(this.tid(), parseHex(n ?? '', 'register'), hexToBuffer(v ?? ''));
        return 'OK';
      }
      case 'm':
        return this.readMemory(text);
      case 'M': {
        const [where, data] = text.slice(1).split(':');
        const [addr, len] = (where ?? '').split(',');
        const bytes = hexToBuffer(data ?? '');
        if (bytes.length !== parseHex(len ?? '', 'length')) throw new ProtocolError('length does not match data');
        return this.t.writeMemory(parseAddress(addr ?? ''), bytes) === bytes.length ? 'OK' : 'E01';
      }
      case 'X':
        return this.writeBinary(payload);
      case 'Z':
      case 'z':
        return this.breakpoint(first === 'Z', text);
      case 'H':
        return this.selectThread(text);
      case 'T': {
        const { pid, tid } = parseThreadId(text.slice(1));
        return tid > 0 && this.isThreadOf(tid, pid) ? 'OK' : 'E01';
      }
      case 'c':
      case 's':
      case 'C':
      case 'S':
        return this.legacyResume(text);
      case 'D':
        // D;PID: one process of several (a fork child gdb lets go, or the parent it leaves for the child).
        if (text.startsWith('D;') && this.t.detachProcess) return this.endProcess(this.t.detachProcess(parseHex(text.slice(2), 'pid')));
        // gdb still closes its vFile handles after this; the session ends when it hangs up.
        return this.t.detach().then(() => {
          this.target = undefined;
          return 'OK';
        });
      case 'k':
        return this.killTarget().then(() => NO_REPLY);
      case '!':
        this.extended = true;
        return 'OK';
      case 'q':
        return this.query(text, payload);
      case 'Q':
        return this.setting(text);
      case 'v':
        return this.vPacket(text, payload);
      default:
        return '';
    }
  }

  /** A `g` reply with 'xx' for each byte of a register the target does not know (GDB manual, "Packets", g). */
  private registersWithGaps(tid: number): string {
    const t = this.t;
    // Read first: the read may find the thread's registers gone (killed from outside).
    const hex = t.readRegisters(tid).toString('hex');
    const unavailable = t.unavailableRegisters?.(tid);
    if (!unavailable?.size) return hex;
    let at = 0;
    return t.registers.registers
      .map((r, i) => {
        const part = unavailable.has(i) ? 'xx'.repeat(r.size) : hex.slice(at, at + r.size * 2);
        at += r.size * 2;
        return part;
      })
      .join('');
  }

  private writeAllRegisters(data: Buffer): string {
    const t = this.t;
    const tid = this.tid();
    let offset = 0;
    t.registers.registers.forEach((r, i) => {
      if (offset + r.size <= data.length) t.writeRegister(tid, i, data.subarray(offset, offset + r.size));
      offset += r.size;
    });
    return 'OK';
  }

  /** m addr,length */
  private readMemory(text: string): string | Promise<string> {
    const comma = text.indexOf(',');
    if (comma < 0) throw new ProtocolError('m needs addr,length');
    const address = parseAddressIn(text, 1, comma);
    const length = Math.min(parseHexIn(text, comma + 1, text.length, 'length'), PACKET_SIZE / 2);
    const data = this.t.readMemory(address, length);
    return data instanceof Promise ? data.then((d) => memoryReply(d, length)) : memoryReply(data, length);
  }

  private writeBinary(payload: Buffer): string {
    const colon = payload.indexOf(0x3a);
    if (colon < 0) throw new ProtocolError('X needs addr,length:data');
    const [addr, len] = payload.subarray(1, colon).toString('latin1').split(',');
    const data = unescapeBinary(payload.subarray(colon + 1));
    const length = parseHex(len ?? '', 'length');
    if (data.length !== length) throw new ProtocolError('length does not match data');
    if (length === 0) return 'OK'; // gdb probes for X support with an empty write
    return this.t.writeMemory(parseAddress(addr ?? ''), data) === length ? 'OK' : 'E01';
  }

  /** Z/z type,addr,kind[;cond_list...] (GDB manual, "Packets", Z0). */
  private breakpoint(insert: boolean, text: string): string {
    const typeEnd = text.indexOf(',');
    const bpType = Z_TYPES.get(text.slice(1, typeEnd < 0 ? text.length : typeEnd));
    if (!bpType) return '';
    const comma = typeEnd < 0 ? -1 : text.indexOf(',', typeEnd + 1);
    if (comma < 0) throw new ProtocolError(`${text[0]} needs type,addr,kind`);
    const semicolon = text.indexOf(';', comma);
    const address = parseAddressIn(text, typeEnd + 1, comma);
    const length = parseHexIn(text, comma + 1, semicolon < 0 ? text.length : semicolon, 'kind');
    if (!insert) {
      this.t.removeBreakpoint(bpType, address, length);
      return 'OK';
    }
    const extras = semicolon < 0 ? [] : text.slice(semicolon + 1).split(';');
    // Conditions follow one ';' as "X<len>,<hex bytecode>" back to back; "cmds:" lists are not claimed.
    const conditions: Buffer[] = [];
    for (const extra of extras) {
      let rest = extra;
      while (rest.startsWith('X')) {
        const comma = rest.indexOf(',');
        if (comma < 0) throw new ProtocolError('condition without a length');
        const len = parseHex(rest.slice(1, comma), 'condition length');
        conditions.push(hexToBuffer(rest.slice(comma + 1, comma + 1 + len * 2)));
        rest = rest.slice(comma + 1 + len * 2);
      }
    }
    try {
      this.t.insertBreakpoint(bpType, address, length, conditions.length ? conditions : undefined);
    } catch (err) {
      if (err instanceof RangeError) return 'E01';
      throw err;
    }
    return 'OK';
  }

  private async legacyResume(text: string): Promise<string> {
    const kind = text[0]!;
    let signal = 0;
    if (kind === 'C' || kind === 'S') {
      const [sig] = text.slice(1).split(';');
      signal = this.linuxSignal(parseHex(sig ?? '', 'signal'));
    }
    const step = kind === 's' || kind === 'S';
    const tid = this.tid();
    const actions: ResumeAction[] = step ? [{ type: 'step', signal, tid }] : [{ type: 'continue', signal }];
    return this.resumeAndWait(actions);
  }

  private linuxSignal(gdb: number): number {
    const linux = fromGdbSignal(gdb);
    if (linux === undefined) throw new ProtocolError(`signal ${gdb} does not exist on Linux`);
    return linux;
  }

  private async resumeAndWait(actions: ResumeAction[]): Promise<string> {
    const t = this.t;
    this.waiting = true;
    try {
      await t.resume(actions);
      for (;;) {
        const event = await t.wait();
        if (event.kind === 'thread-exited' && !this.threadEvents) continue;
        if (event.kind === 'exited' || event.kind === 'killed') this.afterProcessEnd();
        this.afterStop(event);
        return this.stopReply(event, actions.some((a) => a.type === 'step' || a.type === 'range'));
      }
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
    const pid = event.kind === 'signal' ? this.target?.pidOf?.(event.tid) : undefined;
    if (pid !== undefined) this.target?.selectProcess?.(pid);
  }

  private afterProcessEnd(): void {
    // Forks gdb keeps outlive the process that exited.
    if (!this.extended && !this.target?.threads().length) this.finishSoon('closed');
  }

  /** After one process of several was detached or killed: none left means no target. */
  private async endProcess(left: Promise<number>): Promise<Reply> {
    if ((await left) === 0) this.target = undefined;
    return 'OK';
  }

  private async killTarget(): Promise<void> {
    if (this.target) await this.target.kill();
    this.target = undefined;
    if (!this.extended) this.finishSoon('killed');
  }

  /** vCont;action[:thread-id];... (GDB manual, "Packets", vCont), parsed in place. */
  private parseVCont(text: string): ResumeAction[] {
    const actions: ResumeAction[] = [];
    for (let at = text.indexOf(';'); at >= 0 && at < text.length; ) {
      let end = text.indexOf(';', at + 1);
      if (end < 0) end = text.length;
      let colon = text.indexOf(':', at + 1);
      if (colon < 0 || colon > end) colon = end;
      const id = colon < end ? parseThreadId(text, colon + 1, end) : undefined;
      const tid = id === undefined || id.tid === -1 ? undefined : id.tid;
      const parsed = this.parseVContAction(text, at + 1, colon);
      if (tid !== undefined) parsed.tid = tid;
      else if (id?.pid !== undefined && id.pid > 0) parsed.pid = id.pid; // pPID.-1: that process only
      // The first action that applies to a thread wins, so keep gdb's order.
      actions.push(parsed);
      at = end;
    }
    if (actions.length === 0) throw new ProtocolError('vCont without actions');
    return actions;
  }

  /** One vCont action, text[from, to): c, Csig, s, Ssig, t, rstart,end. */
  private parseVContAction(text: string, from: number, to: number): ResumeAction {
    switch (text[from]) {
      case 'c':
        if (to === from + 1) return { type: 'continue', signal: 0 };
        break;
      case 'C':
        return { type: 'continue', signal: this.linuxSignal(parseHexIn(text, from + 1, to, 'signal')) };
      case 's':
        if (to === from + 1) return { type: 'step', signal: 0 };
        break;
      case 'S':
        return { type: 'step', signal: this.linuxSignal(parseHexIn(text, from + 1, to, 'signal')) };
      case 't':
        if (to === from + 1) return { type: 'stop' };
        break;
      case 'r': {
        const comma = text.indexOf(',', from);
        if (comma < 0 || comma > to) throw new ProtocolError('vCont;r needs start,end');
        return { type: 'range', start: parseAddressIn(text, from + 1, comma), end: parseAddressIn(text, comma + 1, to) };
      }
    }
    throw new ProtocolError(`unknown vCont action '${text.slice(from, Math.min(to, from + 40))}'`);
  }

  private vPacket(text: string, payload: Buffer): Reply | Promise<Reply> {
    if (text === 'vMustReplyEmpty') return '';
    if (text === 'vCont?') return 'vCont;c;C;s;S;t;r';
    if (text.startsWith('vCont;')) return this.resumeAndWait(this.parseVCont(text));
    if (text.startsWith('vFile:')) return this.target?.hostIo?.(payload.subarray(6)) ?? this.hostIo.handle(payload.subarray(6));
    if (text.startsWith('vKill')) this.lastProgram = this.target?.execFile() ?? this.lastProgram;
    if (text.startsWith('vKill;') && this.target?.killProcess) {
      return this.endProcess(this.target.killProcess(parseHex(text.slice(6), 'pid'))).then((reply) => {
        if (!this.target && !this.extended) this.finishSoon('killed'); // as `k`: the last process is gone
        return reply;
      });
    }
    if (text.startsWith('vKill')) return this.killTarget().then(() => 'OK');
    if (text.startsWith('vAttach;') || text.startsWith('vRun;')) return this.startTarget(text);
    return '';
  }

  /** vAttach and vRun (extended-remote): a new target replaces the old. */
  private async startTarget(text: string): Promise<Reply> {
    if (text.startsWith('vAttach;')) {
      if (!this.provider) return 'E01';
      const pid = parseHex(text.slice(8), 'pid');
      this.target = this.withEvents(await this.provider.attach(pid));
      this.generalThread = 0;
      return this.stopReply(this.target.lastStop());
    }
    if (text.startsWith('vRun;')) {
      if (!this.provider) return 'E01';
      // Kept as bytes, not decoded: a program's path and arguments need not be UTF-8, and reach it as gdb sent them.
      const argv: ExecString[] = text.slice(5).split(';').map(hexToBuffer);
      if (argv[0]!.length === 0) {
        const exe = this.target?.execFile() ?? this.lastProgram;
        if (!exe) return 'E01';
        argv[0] = exe;
      }
      this.lastProgram = argv[0];
      if (this.target) await this.target.kill();
      this.target = this.withEvents(await this.provider.launch(argv, this.launchSettings));
      this.generalThread = 0;
      return this.stopReply(this.target.lastStop());
    }
    return '';
  }

  /** A new target with the events gdb asked for; with fork events, one that can hold the forks gdb keeps. */
  private withEvents(target: Target): Target {
    target.setExecEvents(this.execEvents);
    target.setThreadEvents?.(this.threadEvents);
    return followForks(target, this.forkEvents, this.vforkEvents)!;
  }

  private query(text: string, payload: Buffer): Reply | Promise<Reply> {
    if (text.startsWith('qSupported')) return this.supported(text);
    if (text === 'qC') return `QC${this.threadId(this.tid())}`;
    if (text.startsWith('qAttached')) return this.target?.attached ? '1' : '0';
    if (text === 'qfThreadInfo') {
      const ids = this.target ? this.t.threads().map((th) => this.threadId(th.tid)) : [];
      // An empty 'm' is not a list: 'l' says there are none (GDB manual, "General Query Packets").
      return ids.length ? `m${ids.join(',')}` : 'l';
    }
    if (text === 'qsThreadInfo') return 'l';
    if (text === 'qOffsets') return '';
    if (text.startsWith('qSymbol')) return 'OK';
    if (text.startsWith('qXfer:')) return this.xfer(text, payload);
    if (text.startsWith('qRcmd,')) return this.monitor(hexToBuffer(text.slice(6)).toString());
    if (text.startsWith('qCRC:')) {
      const [addr, len] = text.slice(5).split(',');
      const length = parseHex(len ?? '', 'length');
      return Promise.resolve(this.t.readMemory(parseAddress(addr ?? ''), length)).then((data) => (data.length === length ? `C${gdbCrc32(data).toString(16)}` : 'E01'));
    }
    if (text.startsWith('qSearch:memory:')) return this.searchMemory(payload);
    if (text.startsWith('qThreadExtraInfo,')) return '';
    return '';
  }

  private supported(text: string): string {
    const features = new Set(text.slice('qSupported:'.length).split(';'));
    this.multiprocess = features.has('multiprocess+');
    this.target?.setExecEvents(features.has('exec-events+'));
    this.execEvents = features.has('exec-events+');
    // Fork events name the child as pPID.TID: only with multiprocess ids (gdb asks for both).
    const forks = this.multiprocess && (this.target === undefined || this.target.setForkEvents !== undefined);
    this.forkEvents = forks && features.has('fork-events+');
    this.vforkEvents = forks && features.has('vfork-events+');
    this.target = followForks(this.target, this.forkEvents, this.vforkEvents);
    return [
      `PacketSize=${PACKET_SIZE.toString(16)}`,
      'QStartNoAckMode+',
      'qXfer:features:read+',
      'qXfer:auxv:read+',
      'qXfer:exec-file:read+',
      'qXfer:threads:read+',
      'qXfer:siginfo:read+',
      'qXfer:siginfo:write+',
      'qXfer:libraries-svr4:read+',
      ...(this.multiprocess ? ['multiprocess+'] : []),
      'swbreak+',
      'hwbreak+',
      'QPassSignals+',
      'QProgramSignals+',
      'QCatchSyscalls+',
      'QThreadEvents+',
      'vContSupported+',
      'ConditionalBreakpoints+',
      'QDisableRandomization+',
      'QEnvironmentHexEncoded+',
      'QEnvironmentUnset+',
      'QEnvironmentReset+',
      'QSetWorkingDir+',
      'QStartupWithShell+',
      ...(features.has('no-resumed+') ? ['no-resumed+'] : []),
      ...(features.has('exec-events+') ? ['exec-events+'] : []),
      ...(this.forkEvents ? ['fork-events+'] : []),
      ...(this.vforkEvents ? ['vfork-events+'] : []),
    ].join(';');
  }

  private xfer(text: string, payload: Buffer): Buffer | string | Promise<Buffer | string> {
    // qXfer:object:read:annex:offset,length / qXfer:object:write:annex:offset:data
    const parts = text.split(':');
    const [, object, op, annex, range] = parts;
    if (op === 'write') {
      if (object !== 'siginfo') return '';
      const headerLength = ['qXfer', object, op, annex, range].join(':').length + 1;
      const data = unescapeBinary(payload.subarray(headerLength));
      this.t.writeSiginfo(this.tid(), data);
      return `${data.length.toString(16)}`;
    }
    if (op !== 'read') return '';
    const [offText, lenText] = (range ?? '').split(',');
    const offset = parseHex(offText ?? '', 'offset');
    const length = parseHex(lenText ?? '', 'length');
    const reply = (data: Buffer | string | undefined) =>
      data === undefined ? 'E01' : xferChunk(typeof data === 'string' ? Buffer.from(data) : data, offset, length);
    switch (object) {
      case 'features':
        return reply(this.t.registers.xml.get(annex ?? ''));
      case 'auxv':
        return reply(this.t.auxv());
      case 'exec-file':
        // The annex names the process (gdb asks for each inferior's program).
        return reply(this.t.execFile(annex ? parseHex(annex, 'pid') : undefined));
      case 'siginfo':
        return reply(this.t.siginfo(this.tid()));
      case 'threads':
        // Built at offset 0 and kept for the chunks after it (as gdbserver does): threads may come and go between them.
        if (offset === 0 || this.threadsDocument === undefined) this.threadsDocument = this.threadsXml();
        return reply(this.threadsDocument);
      case 'libraries-svr4':
        return this.t.librariesSvr4().then(reply);
      default:
        return '';
    }
  }

  /** A thread id for gdb, with the thread's own process when there are several. */
  private threadId(tid: number): string {
    const t = this.t;
    return formatThreadId(t.pidOf?.(tid) ?? t.pid, tid, this.multiprocess);
  }

  private threadsXml(): string {
    const t = this.t;
    const rows = t.threads().map((th) => {
      const name = th.name === undefined ? '' : ` name="${escapeXml(th.name)}"`;
      const core = th.core === undefined ? '' : ` core="${th.core}"`;
      const body = th.extra === undefined ? '/>' : `>${escapeXml(th.extra)}</thread>`;
      return `<thread id="${this.threadId(th.tid)}"${core}${name}${body}`;
    });
    return `<?xml version="1.0"?>\n<threads>\n${rows.join('\n')}\n</threads>\n`;
  }

  private monitor(command: string): string {
    const words = command.trim().split(/\s+/);
    const out = (s: string) => this.connection.send(`O${Buffer.from(s).toString('hex')}`);
    switch (words[0]) {
      case 'help':
        out(MONITOR_HELP);
        return 'OK';
      case 'exit':
        this.exitRequested = true;
        out('gdbsock will exit when this connection closes\n');
        return 'OK';
      default:
        out(`unknown monitor command '${command}'; try 'monitor help'\n`);
        return 'OK';
    }
  }

  private async searchMemory(payload: Buffer): Promise<string> {
    // qSearch:memory:address;length;search-pattern (pattern is binary, escaped)
    const head = 'qSearch:memory:'.length;
    const semi1 = payload.indexOf(0x3b, head);
    const semi2 = payload.indexOf(0x3b, semi1 + 1);
    if (semi1 < 0 || semi2 < 0) throw new ProtocolError('qSearch:memory needs address;length;pattern');
    let address = parseAddress(payload.subarray(head, semi1).toString('latin1'));
    let remaining = parseHex(payload.subarray(semi1 + 1, semi2).toString('latin1'), 'length');
    const pattern = unescapeBinary(payload.subarray(semi2 + 1));
    const chunk = 1 << 20;
    while (remaining >= pattern.length) {
      const want = Math.min(remaining, chunk + pattern.length - 1);
      const data = await this.t.readMemory(address, want);
      if (data.length < pattern.length) return remaining <= data.length ? '0' : 'E01';
      const at = data.indexOf(pattern);
      if (at >= 0) return `1,${(address + BigInt(at)).toString(16)}`;
      if (data.length < want) return 'E01';
      const advance = want - pattern.length + 1;
      address += BigInt(advance);
      remaining -= advance;
    }
    return '0';
  }

  private setting(text: string): string {
    const [name, value = ''] = splitOnce(text, ':');
    const t = this.target;
    switch (name) {
      case 'QStartNoAckMode':
        this.connection.send('OK');
        this.connection.stopAcking();
        return NO_REPLY;
      case 'QNonStop':
        return value === '0' ? 'OK' : 'E01';
      case 'QPassSignals':
        t?.setPassSignals(this.passSignalList(value));
        return 'OK';
      case 'QProgramSignals':
        return 'OK';
      case 'QThreadEvents':
        this.threadEvents = value === '1';
        t?.setThreadEvents?.(this.threadEvents);
        return 'OK';
      case 'QCatchSyscalls': {
        if (value === '0') t?.setCatchSyscalls(undefined);
        else {
          const [, ...numbers] = value.split(';');
          t?.setCatchSyscalls(new Set(numbers.map((n) => parseHex(n, 'syscall'))));
        }
        return 'OK';
      }
      case 'QDisableRandomization':
        this.launchSettings.disableRandomization = value === '1';
        return 'OK';
      case 'QStartupWithShell':
        this.launchSettings.startupWithShell = value === '1';
        return 'OK';
      case 'QSetWorkingDir':
        if (value) this.launchSettings.cwd = hexToBuffer(value).toString();
        else delete this.launchSettings.cwd;
        return 'OK';
      case 'QEnvironmentReset':
        this.launchSettings.env = { ...process.env };
        return 'OK';
      case 'QEnvironmentHexEncoded': {
        const [k, v = ''] = splitOnce(hexToBuffer(value).toString(), '=');
        this.launchSettings.env[k] = v;
        return 'OK';
      }
      case 'QEnvironmentUnset':
        delete this.launchSettings.env[hexToBuffer(value).toString()];
        return 'OK';
      default:
        return '';
    }
  }

  /** gdb sends the same QPassSignals before every resume: parsed once, the same set after that. */
  private passSignalList(value: string): Set<number> {
    if (this.passSignals?.text !== value) this.passSignals = { text: value, signals: this.signalList(value) };
    return this.passSignals.signals;
  }

  private passSignals: { text: string; signals: Set<number> } | undefined;

  private signalList(value: string): Set<number> {
    const out = new Set<number>();
    for (const s of value.split(';')) {
      if (!s) continue;
      const linux = fromGdbSignal(parseHex(s, 'signal'));
      if (linux) out.add(linux);
    }
    return out;
  }
}

/** Returned by a handler that has answered already, or must not answer. */
const NO_REPLY = '\u0000no-reply';

type Reply = Buffer | string;

/** An `m` reply: the bytes in hex, or an error if none of `length` could be read. */
function memoryReply(data: Buffer, length: number): string {
  return data.length || length === 0 ? data.toString('hex') : 'E01';
}

/** `NN:` for register numbers in stop replies, built once. */
const REGNO_PREFIX = Array.from({ length: 256 }, (_, n) => `${n < 16 ? '0' : ''}${n.toString(16)}:`);

/** A stop that can end a step or a range step: a trap with nothing else to report (no breakpoint, watchpoint or event). */
function endsStep(event: StopEvent): boolean {
  return event.kind === 'signal' && event.signal === SIGTRAP && event.reason === undefined;
}

function splitOnce(text: string, sep: string): [string, string?] {
  const i = text.indexOf(sep);
  return i < 0 ? [text] : [text.slice(0, i), text.slice(i + 1)];
}

function escapeXml(s: string): string {
  // XML 1.0 has no control characters but tab, LF and CR, not even as references: a thread may be named with any.
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`).replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]/g, '?');
}

function describePacket(payload: Buffer): string {
  const text = payload.subarray(0, 60).toString('latin1').replace(/[^\x20-\x7e]/g, '.');
  return `packet '${text}${payload.length > 60 ? '...' : ''}'`;
}
