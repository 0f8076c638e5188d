/**
 * gdb's tracepoints (GDB manual, "Tracepoints", "Tracepoint Packets"), the
 * trap kind that gdbserver runs without its in-process agent: at `tstart`
 * each enabled tracepoint's address gets a trap; a thread that hits one
 * has the tracepoint's condition tested and its actions collected into a
 * trace frame, then runs on unreported. gdb then looks at the frames with
 * `tfind`: while one is selected, registers and memory are answered from
 * it (server.ts asks frameRegisters and frameMemory). One Tracing per gdb
 * connection. Fast and static tracepoints need gdbserver's in-process
 * agent: refused.
 */
import { hasCode } from '../../errors';
import { AgentError, type AgentVariables, evaluate, evaluationFailed } from '../agent';
import type { Target, TracepointSites, TracepointStepping } from '../target';
import { TargetRefusal } from '../target';
import { agentContext, collect, pcOffset, registerValue } from './collect';
import { DEFAULT_TRACE_BUFFER_SIZE, FRAME_HEADER, FrameBuilder, type TraceFrame, TraceBuffer } from './frames';
import type { FrameSearch, TraceAction, TraceRequest, TracepointDefinition } from './packets';

interface Tracepoint extends TracepointDefinition {
  actions: TraceAction[];
  /** while-stepping's actions: run after each of stepCount single steps from the hit. */
  stepActions: TraceAction[];
  /** The actions as gdb sent them, for the next gdb (qTsP). */
  actionText: string[];
  stepActionText: string[];
  sources: string[];
  /** An 'S' action came: every action after it is a while-stepping one (gdb marks only the first). */
  steppingSeen: boolean;
  hits: number;
  /** Bytes of trace buffer its frames took. */
  usage: number;
}

interface Variable {
  initial: bigint;
  value: bigint;
  name: string;
  /** A variable of the target's own, read fresh each time (QTinit keeps it). */
  getter?: () => bigint;
}

/** Why the last run stopped, as qTStatus spells it (without its tracepoint number). */
type StopReason =
  | { why: 'tnotrun' }
  | { why: 'tstop' }
  | { why: 'tdisconnected' }
  | { why: 'tpasscount'; tracepoint: number }
  | { why: 'tfull' }
  | { why: 'terror'; text: string; tracepoint: number };

/** An unchanging range gdb named (QTro), readable live while a frame is selected. */
interface Range {
  start: bigint;
  end: bigint;
}

export class Tracing {
  private tracepoints: Tracepoint[] = [];
  /**
   * gdb's trace state variables, and one of ours: $trace_timestamp (1),
   * which gdb uploads at connection, as from gdbserver (tracepoint.cc,
   * initialize_tracepoint).
   */
  private readonly variables = new Map<number, Variable>([[1, { initial: 0n, value: 0n, name: 'trace_timestamp', getter: microseconds }]]);
  private running = false;
  private stopReason: StopReason = { why: 'tnotrun' };
  private startTime = 0n;
  private stopTime = 0n;
  private notes = { user: '', notes: '', stopNote: '' };
  private disconnectedTracing = false;
  private readOnly: Range[] = [];
  private buffer: TraceBuffer | undefined;
  private bufferSize = DEFAULT_TRACE_BUFFER_SIZE;
  private circular = false;
  /** The frame gdb looks at (QTFrame), -1 for the live process. */
  private current = -1;
  /** Where the traps of this run went, to take them out again. */
  private readonly removers: (() => void)[] = [];
  /** qTfP/qTsP and qTfV/qTsV hand the definitions out one per packet. */
  private uploads: string[] = [];
  private variableUploads: string[] = [];
  private target: Target | undefined;
  /** Where this run's traps go: the process traced when it started. */
  private sites: TracepointSites | undefined;

  /**
   * The tracepoint packets, against `target`; undefined when it cannot run
   * tracepoints (a core, the kernel: gdb then says so). With no process yet
   * (--multi), the queries are answered as gdbserver does: gdb asks
   * qTStatus once, at connection, and decides for the session.
   */
  handle(request: TraceRequest, target: Target | undefined): string | undefined {
    const sites = target?.capabilities.tracepoints;
    if (target && !sites) return undefined;
    if (target) this.target = target;
    switch (request.op) {
      case 'init':
        if (!sites) return 'E01'; // gdbserver too, with no process (cmd_qtinit)
        this.stop({ why: 'tstop' });
        this.stopReason = { why: 'tnotrun' };
        this.tracepoints = [];
        this.readOnly = [];
        this.current = -1;
        this.buffer = undefined;
        for (const [n, v] of this.variables) if (!v.getter) this.variables.delete(n);
        return 'OK';
      case 'define':
        return this.define(request.tracepoint, request.more);
      case 'actions': {
        const tp = this.find(request.number, request.address);
        if (!tp) return 'E01';
        tp.steppingSeen ||= request.stepping;
        (tp.steppingSeen ? tp.stepActions : tp.actions).push(...request.actions);
        (tp.steppingSeen ? tp.stepActionText : tp.actionText).push(...request.text);
        // InstallInTrace: defined during a run, it goes in once its last packet is in, as gdbserver's (cmd_qtdp).
        if (this.running && !request.more) this.placeTraps();
        return 'OK';
      }
      case 'source': {
        const tp = this.find(request.number, request.address);
        if (!tp) return 'E01';
        tp.sources.push(request.text);
        return 'OK';
      }
      case 'variable': {
        const getter = this.variables.get(request.number)?.getter;
        this.variables.set(request.number, { initial: request.initial, value: request.initial, name: request.name, getter });
        return 'OK';
      }
      case 'readOnly':
        this.readOnly = request.ranges;
        return 'OK';
      case 'start':
        return target && sites ? this.start(target, sites) : 'E01';
      case 'stop':
        this.stop({ why: 'tstop' });
        return 'OK';
      case 'enable': {
        const tp = this.find(request.number, request.address);
        if (!tp) return 'E01';
        tp.enabled = request.on;
        if (this.running) this.placeTraps();
        return 'OK';
      }
      case 'selectFrame':
        return this.selectFrame(request.search);
      case 'unselectFrame':
        this.current = -1;
        return 'OK';
      case 'status':
        return this.status();
      case 'tracepointStatus': {
        const tp = this.find(request.number, request.address);
        return tp ? `V${tp.hits.toString(16)}:${tp.usage.toString(16)}` : 'E01';
      }
      case 'definitions':
        if (request.first) this.uploads = this.tracepoints.flatMap(definitionPieces);
        return this.uploads.shift() ?? 'l';
      case 'variables':
        // Newest first, as gdbserver lists them (it prepends each new one): gdb announces them in
        // that order reversed, and gdb.trace/mi-tsv-changed.exp expects gdbserver's order.
        if (request.first)
          this.variableUploads = [...this.variables]
            .reverse()
            .map(([n, v]) => `${n.toString(16)}:${hex64(v.initial)}:${v.getter ? 1 : 0}:${Buffer.from(v.name, 'latin1').toString('hex')}`);
        return this.variableUploads.shift() ?? 'l';
      case 'variableValue':
        return this.variableValue(request.number);
      case 'buffer': {
        const buffer = this.buffer;
        const total = buffer?.rawSize ?? 0;
        if (request.offset === total) return 'l';
        if (!buffer || request.offset > total) return 'E01';
        return buffer.raw(request.offset, Math.min(request.length, 0x3ff0)).toString('hex');
      }
      case 'bufferCircular':
        this.circular = request.on;
        if (this.buffer) this.buffer.circular = request.on;
        return 'OK';
      case 'bufferSize':
        if (this.running) return 'E01';
        this.bufferSize = request.size ?? DEFAULT_TRACE_BUFFER_SIZE;
        return 'OK';
      case 'notes':
        if (request.user !== undefined) this.notes.user = request.user;
        if (request.notes !== undefined) this.notes.notes = request.notes;
        if (request.stopNote !== undefined) this.notes.stopNote = request.stopNote;
        return 'OK';
      case 'disconnected':
        this.disconnectedTracing = request.on;
        return 'OK';
    }
  }

  /**
   * gdb went away: a run goes on only if gdb asked for disconnected
   * tracing (QTDisconnected:1), as under gdbserver; the next gdb starts out
   * looking at the live process.
   */
  disconnected(): void {
    this.current = -1;
    if (!this.disconnectedTracing) this.stop({ why: 'tdisconnected' });
  }

  /** The frame gdb looks at, if it looks at one: reads come from it, not from the process. */
  get frame(): TraceFrame | undefined {
    return this.current < 0 ? undefined : this.buffer?.frame(this.current);
  }

  /**
   * `g` in a frame: its register block, or, without one, only the pc, at
   * the tracepoint's address (gdbserver, fetch_traceframe_registers).
   */
  frameRegisters(frame: TraceFrame, target: Target): { raw: Buffer; unavailable: ReadonlySet<number> | undefined } {
    const raw = frame.registers();
    if (raw) return { raw, unavailable: undefined };
    const layout = target.registers;
    const guess = Buffer.alloc(layout.gSize);
    const tp = this.tracepoints.find((t) => t.number === frame.tracepoint);
    guess.writeBigUInt64LE(tp?.address ?? 0n, pcOffset(target));
    const unavailable = new Set(layout.registers.map((_, i) => i).filter((i) => i !== layout.pcRegno));
    return { raw: guess, unavailable };
  }

  /**
   * `m`/`x` in a frame: the bytes it collected there; 'live' where gdb said
   * memory never changes (QTro), so the process has the same; undefined
   * where the frame has nothing (gdb shows <unavailable>).
   */
  frameMemory(frame: TraceFrame, address: bigint, length: number): Buffer | 'live' | undefined {
    const bytes = frame.memory(address, length);
    if (bytes) return bytes;
    const last = address + BigInt(Math.max(length, 1) - 1);
    return this.readOnly.some((r) => r.start <= address && last <= r.end) ? 'live' : undefined;
  }

  private define(definition: TracepointDefinition, more: boolean): string {
    if (this.find(definition.number, definition.address)) return 'E01';
    if (definition.kind !== 'trap') throw new TargetRefusal('gdbsock runs trap tracepoints only (no in-process agent for fast or static ones)');
    this.tracepoints.push({
      ...definition,
      actions: [],
      stepActions: [],
      actionText: [],
      stepActionText: [],
      sources: [],
      steppingSeen: false,
      hits: 0,
      usage: 0,
    });
    if (this.running && !more) this.placeTraps();
    return 'OK';
  }

  private start(target: Target, sites: TracepointSites): string {
    this.stop({ why: 'tstop' });
    this.buffer = new TraceBuffer(target.registers.gSize);
    this.buffer.size = this.bufferSize;
    this.buffer.circular = this.circular;
    for (const tp of this.tracepoints) {
      tp.hits = 0;
      tp.usage = 0;
    }
    for (const v of this.variables.values()) v.value = v.initial;
    this.current = -1;
    this.running = true;
    this.startTime = microseconds();
    this.stopTime = 0n;
    this.sites = sites;
    try {
      this.placeTraps();
    } catch (err) {
      this.stop({ why: 'tstop' });
      // No code there to trap (unmapped): gdb shows the words.
      if (err instanceof RangeError || hasCode(err, 'EIO', 'EFAULT')) throw new TargetRefusal((err as Error).message);
      throw err;
    }
    return 'OK';
  }

  /** A trap at each enabled tracepoint's address, and none elsewhere. */
  private placeTraps(): void {
    const sites = this.sites;
    this.removeTraps();
    if (!sites) return;
    const addresses = new Set(this.tracepoints.filter((tp) => tp.enabled).map((tp) => tp.address));
    for (const address of addresses) this.removers.push(sites.insertTracepoint(address, (tid) => this.hit(tid, address)));
  }

  private removeTraps(): void {
    for (const remove of this.removers.splice(0)) remove();
  }

  private stop(reason: StopReason): void {
    if (!this.running) return;
    this.running = false;
    this.stopReason = reason;
    this.stopTime = microseconds();
    this.removeTraps();
  }

  /**
   * A thread reached `address`, stopped there: every enabled tracepoint at
   * it collects if its condition holds (gdbserver, tracepoint_was_hit).
   * Those with while-stepping then collect after each of the thread's next
   * steps, the pass count checked at the last (collect_data_at_step).
   */
  private hit(tid: number, address: bigint): TracepointStepping | undefined {
    const target = this.target;
    if (!this.running || !target) return undefined;
    const stepping: { tp: Tracepoint; done: number }[] = [];
    for (const tp of this.tracepoints) {
      if (!tp.enabled || tp.address !== address || !this.running) continue;
      const held = this.guarded(tp, () => {
        if (tp.condition && evaluate(tp.condition, agentContext(target, tid, this.variablesFor())) === 0n) return false;
        tp.hits++;
        return this.addFrame(tp, (frame) => collect(target, tid, tp.actions, frame, address, this.variablesFor(frame)));
      });
      if (!held) continue;
      if (tp.stepCount > 0) stepping.push({ tp, done: 0 });
      else if (tp.passCount > 0 && tp.hits >= tp.passCount) this.stop({ why: 'tpasscount', tracepoint: tp.number });
    }
    if (!stepping.length) return undefined;
    return (steppedTid) => {
      if (!this.running) return false;
      const pc = registerValue(target, steppedTid, target.registers.pcRegno);
      for (const s of stepping) {
        if (s.done >= s.tp.stepCount || !this.running) continue;
        s.done++;
        const ok = this.guarded(s.tp, () => this.addFrame(s.tp, (frame) => collect(target, steppedTid, s.tp.stepActions, frame, pc, this.variablesFor(frame))));
        if (ok && s.done === s.tp.stepCount && s.tp.passCount > 0 && s.tp.hits >= s.tp.passCount) this.stop({ why: 'tpasscount', tracepoint: s.tp.number });
      }
      return this.running && stepping.some((s) => s.done < s.tp.stepCount);
    };
  }

  /** One frame for `tp`, filled by `fill`; false, and the run stopped, when the buffer is full. */
  private addFrame(tp: Tracepoint, fill: (frame: FrameBuilder) => void): boolean {
    const frame = new FrameBuilder(tp.number);
    fill(frame);
    const bytes = frame.finish();
    if (!this.buffer?.add(bytes)) {
      this.stop({ why: 'tfull' });
      return false;
    }
    tp.usage += bytes.length - FRAME_HEADER; // its blocks, as gdbserver counts (add_traceframe_block)
    return true;
  }

  /** Runs a condition or a collection; one that fails (bytecode, memory) stops the run with an error, as gdbserver's. */
  private guarded(tp: Tracepoint, work: () => boolean): boolean {
    try {
      return work();
    } catch (err) {
      if (!evaluationFailed(err)) throw err;
      this.stop({ why: 'terror', text: (err as Error).message, tracepoint: tp.number });
      return false;
    }
  }

  /** The trace state variables for the bytecode; with `frame`, tracev records into it. */
  private variablesFor(frame?: FrameBuilder): AgentVariables {
    return {
      get: (n) => this.valueOf(this.variableOrThrow(n)),
      set: (n, value) => {
        this.variableOrThrow(n).value = BigInt.asIntN(64, value);
      },
      collect: (n) => frame?.variable(n, this.valueOf(this.variableOrThrow(n))),
    };
  }

  private valueOf(v: Variable): bigint {
    if (v.getter) v.value = v.getter();
    return v.value;
  }

  private variableOrThrow(n: number): Variable {
    const v = this.variables.get(n);
    if (!v) throw new AgentError(`no trace state variable ${n}`);
    return v;
  }

  private selectFrame(search: FrameSearch): string {
    const buffer = this.buffer;
    if (!buffer) return 'F-1';
    let found: number | undefined;
    if (search.by === 'number') found = buffer.frame(search.frame) ? search.frame : undefined;
    else found = buffer.findAfter(this.current, (f) => this.matches(f, search));
    if (found === undefined) return 'F-1';
    this.current = found;
    return `F${found.toString(16)}T${buffer.frame(found)!.tracepoint.toString(16)}`;
  }

  private matches(frame: TraceFrame, search: FrameSearch): boolean {
    if (search.by === 'tracepoint') return frame.tracepoint === search.number;
    const pc = this.framePc(frame);
    switch (search.by) {
      case 'pc':
        return pc === search.pc;
      case 'range':
        return search.start <= pc && pc <= search.end;
      case 'outside':
        return pc < search.start || pc > search.end;
    }
    return false;
  }

  private framePc(frame: TraceFrame): bigint {
    const target = this.target;
    const raw = frame.registers();
    if (raw && target) return raw.readBigUInt64LE(pcOffset(target));
    return this.tracepoints.find((t) => t.number === frame.tracepoint)?.address ?? 0n;
  }

  /** qTV: the value in the selected frame, or now; unknown before any run. */
  private variableValue(n: number): string {
    const frame = this.frame;
    if (frame) {
      const value = frame.variable(n);
      return value === undefined ? 'U' : `V${hex64(value)}`;
    }
    const v = this.variables.get(n);
    if (!v || (!this.running && this.stopReason.why === 'tnotrun')) return 'U';
    return `V${hex64(this.valueOf(v))}`;
  }

  /** qTStatus (GDB manual, "Tracepoint Packets"), the fields in gdbserver's order. */
  private status(): string {
    const r = this.stopReason;
    const hexText = (s: string) => Buffer.from(s, 'latin1').toString('hex');
    const reason =
      r.why === 'tstop'
        ? `tstop:${hexText(this.notes.stopNote)}:0`
        : r.why === 'tpasscount'
          ? `tpasscount:${r.tracepoint.toString(16)}`
          : r.why === 'terror'
            ? `terror:${hexText(r.text)}:${r.tracepoint.toString(16)}`
            : `${r.why}:0`;
    const buffer = this.buffer;
    return [
      `T${this.running ? 1 : 0}`,
      reason,
      `tframes:${(buffer?.count ?? 0).toString(16)}`,
      `tcreated:${(buffer?.created ?? 0).toString(16)}`,
      `tfree:${(buffer?.free ?? this.bufferSize).toString(16)}`,
      `tsize:${(buffer?.size ?? this.bufferSize).toString(16)}`,
      `circular:${this.circular ? 1 : 0}`,
      `disconn:${this.disconnectedTracing ? 1 : 0}`,
      `starttime:${this.startTime.toString(16)}`,
      `stoptime:${this.stopTime.toString(16)}`,
      `username:${hexText(this.notes.user)}`,
      `notes:${hexText(this.notes.notes)}:`,
    ].join(';');
  }

  private find(number: number, address: bigint): Tracepoint | undefined {
    return this.tracepoints.find((tp) => tp.number === number && tp.address === address);
  }
}

/** qTfP/qTsP: a tracepoint as gdb defined it, then each action, then each piece of source. */
function definitionPieces(tp: Tracepoint): string[] {
  const condition = tp.condition ? `:X${tp.condition.length.toString(16)},${tp.condition.toString('hex')}` : '';
  const head = `T${tp.number.toString(16)}:${tp.address.toString(16)}:${tp.enabled ? 'E' : 'D'}:${tp.stepCount.toString(16)}:${tp.passCount.toString(16)}${condition}`;
  const at = `${tp.number.toString(16)}:${tp.address.toString(16)}`;
  return [head, ...tp.actionText.map((a) => `A${at}:${a}`), ...tp.stepActionText.map((a) => `S${at}:${a}`), ...tp.sources.map((s) => `Z${s}`)];
}

function hex64(value: bigint): string {
  return BigInt.asUintN(64, value).toString(16);
}

/** qTStatus's times: microseconds of the monotonic clock, as gdbserver's (get_timestamp). */
function microseconds(): bigint {
  return process.hrtime.bigint() / 1000n;
}
