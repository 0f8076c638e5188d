import { SystemError, checkBuffer } from '../errors';
import { addon } from '../native';
import { type ArchLayout, decodeWords, encodeWords } from './arch';
import { type X86VectorRegisters, decodeVectorRegisters } from './arch/xsave';
import { hostXsaveLayout } from './cpu';
import { NoteType, Request, Signal } from './constants';
import type { TraceEvent } from './events';
import { PLAIN_STEP_CODE, SIGINFO_SIZE, type Siginfo, decodeSiginfo } from './siginfo';
import { SYSCALL_INFO_SIZE, type SyscallInfo, decodeSyscallInfo } from './syscall-info';
import { nextSequence } from './sequence';
import { tracer } from './tracer';

export type ThreadState = 'running' | 'stopped' | 'exited';

/** How a stopped thread was last resumed: a stray interrupt trap is answered the same way. */
type ResumeRequest = typeof Request.CONT | typeof Request.SINGLESTEP | typeof Request.SYSCALL | typeof Request.LISTEN;

/** Buffers big enough for any XSAVE layout the kernel may hand back (it trims iov_len). */
const XSTATE_MAX = 16384;

/** How long stepWhileIn polls for one step before leaving it to the reaper (a step into a blocking syscall). */
const STEP_SPIN_US = 200;
/** How long stepWhileIn may keep the JS thread stepping through a range (a tight loop on one line). */
const STEP_BUDGET_US = 20_000;
/** How deep stepWhileIn may be called from the handling of the stops it delivers (see there). */
const MAX_STEP_NESTING = 32;
let stepNesting = 0;

/**
 * The next event of each thread, waited for on the JS thread first
 * (tracer.settle, up to `ms`), then through the event loop: threads just
 * stepped or interrupted stop within microseconds, and an event-loop wake
 * costs more than that.
 */
export function nextEvents(threads: readonly Thread[], ms: number): Promise<TraceEvent[]> {
  const waits = threads.map((t) => t.nextEvent());
  const before = threads.map((t) => t.events);
  tracer.settle(ms, () => threads.every((t, i) => t.events !== before[i]));
  return Promise.all(waits);
}

function checkSignal(signal: number): void {
  if (!Number.isInteger(signal) || signal < 0 || signal > 64) throw new RangeError(`bad signal ${signal}`);
}

/**
 * What a native step loop watches besides its range (native/shims.h,
 * hk_step_range's `watch`), and how it learns the instructions its access
 * slots need: gdbsock's SteppedWatchpoints.
 */
export interface StepWatch {
  /** HK_WATCH_WORDS words: the slots, and what the loop tells back. */
  readonly words: BigUint64Array;
  /** Decoded instructions (HK_INSN_WORDS a pc), present while an access slot is watched. */
  readonly instructions: BigUint64Array | undefined;
  /** Steps the last loop took (HK_WATCH_STEPS). */
  readonly stepsTaken: bigint;
  /** Decodes the instruction the last loop stopped before (HK_STEP_UNDECODED) into `instructions`. */
  learnUndecoded(): void;
  /** The loop of thread `tid` ended: the access slots its last step touched (HK_WATCH_HIT) are that step's. */
  ended(tid: number): void;
}

/**
 * PEEKUSER's and GETEVENTMSG's word, read at once: one buffer for every call
 * (JS runs one call at a time). Hot paths never use Buffer.alloc: each call
 * creates an ArrayBuffer of its own, which costs microseconds; allocUnsafe
 * takes a slice of Node's pool.
 */
const peekWord = Buffer.alloc(8);

/**
 * One traced thread. Resume requests are synchronous syscalls; stops arrive
 * as TraceEvents through the owning Tracee. Register and memory access need the
 * thread to be stopped (the kernel answers ESRCH otherwise).
 */
export class Thread {
  state: ThreadState = 'running';
  /** Events reported so far: lets a synchronous waiter tell that nextEvent() has been answered. */
  events = 0;
  /** The event that left the thread stopped, or its exit. */
  lastEvent: TraceEvent | undefined;
  /** A signal the thread stopped to receive: resumed or detached with it unless told otherwise. */
  pendingSignal = 0;
  /** Set by interrupt(); the next interrupt stop is ours, any later one a stray trap. */
  interruptRequested = false;
  /** Created by clone and not yet seen in its first stop. */
  starting: boolean;
  /**
   * The leader exited ahead of its threads (pthread_exit from main) and is a
   * zombie until the last of them goes (kernel/exit.c, delay_group_leader):
   * no stop comes from it. Set by Tracee.leaderExited; a stop clears it (a
   * thread's exec takes the leader's place).
   */
  zombie = false;
  lastResume: ResumeRequest = Request.CONT;
  /** When (nextSequence()) the thread was last resumed: a breakpoint removed later may still have trapped it. */
  resumedAt = 0;
  private waiters: ((event: TraceEvent) => void)[] = [];
  /** registersOfStop() of the current stop; gone when the thread runs. */
  private stopRegisters: Buffer | undefined;
  /** registersOfStop() of the stop a SIGKILL ended, when they had been read (see lastRegisters). */
  private killedRegisters: Buffer | undefined;

  constructor(
    readonly tid: number,
    readonly pid: number,
    readonly arch: ArchLayout,
    options: { starting?: boolean } = {},
  ) {
    this.starting = options.starting ?? false;
  }

  get isStopped(): boolean {
    return this.state === 'stopped';
  }

  /** Resumes; `signal` defaults to the signal the thread stopped for (0 to suppress it). */
  cont(signal = this.pendingSignal): void {
    this.resume(Request.CONT, signal);
  }

  step(signal = this.pendingSignal): void {
    this.resume(Request.SINGLESTEP, signal);
  }

  /**
   * Steps while the pc stays in [start, end) and off `avoid`, in native code:
   * the steps between are never seen here. The stop that ends it is handled
   * before this returns, as if reaped; a step that takes longer than
   * STEP_SPIN_US (a blocking syscall, a loaded machine), or a run past
   * STEP_BUDGET_US, is left to the reaper, and its stop may then still be
   * inside the range: the caller steps on. An empty range is one step.
   * `watch` (native/shims.h, hk_step_range): a step after which watched
   * bytes changed, or that touched an access slot, also ends it, as a plain
   * step; the caller finds which.
   */
  stepWhileIn(start: bigint, end: bigint, avoid: BigUint64Array, signal = this.pendingSignal, watch?: StepWatch): void {
    checkSignal(signal);
    if (this.state !== 'stopped') this.requireStopped('PTRACE_SINGLESTEP');
    // Called again from the handling of a stop this delivered, and so on: stops that are not plain
    // steps (each step through a system call) would nest without end. One step, left to the reaper.
    if (stepNesting >= MAX_STEP_NESTING) return this.step(signal);
    stepNesting++;
    try {
      this.stepInNative(start, end, avoid, signal, watch);
    } finally {
      stepNesting--;
    }
  }

  private stepInNative(start: bigint, end: bigint, avoid: BigUint64Array, signal: number, watch: StepWatch | undefined): void {
    // Running from the first step on: a stop handled below finds the thread as the reaper would.
    this.markResumed(Request.SINGLESTEP);
    const registers = Buffer.allocUnsafe(this.arch.gprNames.length * 8);
    const loop = () =>
      addon.stepRange(
        this.tid,
        signal,
        start,
        end,
        avoid,
        this.arch.pcOffset,
        STEP_SPIN_US,
        STEP_BUDGET_US,
        registers,
        PLAIN_STEP_CODE,
        watch?.words,
        watch?.instructions,
      );
    let status = loop();
    while (status === 'undecoded' && watch) {
      // Stopped before an instruction the access slots need decoded: decoded, and on from there.
      if (watch.stepsTaken > 0n) signal = 0;
      watch.learnUndecoded();
      status = loop();
    }
    watch?.ended(this.tid);
    if (status === 'undecoded') throw new Error('stepRange asked for an instruction table it was not given');
    if (status === 'running') return;
    if (status === 'left' || status === 'watched') tracer.deliverStep(this.tid, registers);
    else if (status === 'vanished') tracer.deliverVanished(this.tid);
    else tracer.deliver(this.tid, status);
  }

  /**
   * Resumes a thread that has a signal queued behind the stop it is in (an
   * interrupt stop comes before a queued trap: kernel/signal.c, get_signal),
   * to take that signal's stop now: the thread runs none of its code before
   * it, so this is still the run in which the signal was raised (resumedAt
   * stays).
   */
  deliverQueued(): void {
    this.resume(Request.CONT, 0, false);
  }

  /** Resumes until the next syscall entry or exit. */
  syscall(signal = this.pendingSignal): void {
    this.resume(Request.SYSCALL, signal);
  }

  /** From a group-stop: stay stopped but report the next event (PTRACE_LISTEN). */
  listen(): void {
    this.resume(Request.LISTEN, 0);
  }

  /** Asks a running thread to stop (PTRACE_INTERRUPT); an 'interrupted' event follows. */
  interrupt(): void {
    if (this.state !== 'running') return;
    this.interruptRequested = true;
    addon.ptrace(Request.INTERRUPT, this.tid, 0, 0);
  }

  /** Sends SIGKILL to this thread (which ends its whole process). */
  kill(): void {
    addon.tgkill(this.pid, this.tid, Signal.SIGKILL);
    this.dying();
  }

  /**
   * SIGKILL wakes a stopped thread only to die: it is running towards its exit
   * status, which keeps Node alive until it is reaped.
   */
  dying(): void {
    if (this.state !== 'stopped') return;
    this.state = 'running';
    this.killedRegisters = this.stopRegisters;
    this.stopRegisters = undefined;
    this.pendingSignal = 0;
    tracer.setRunning(this.tid, true);
  }

  /** Forgets the signal the thread stopped for: a resume or detach with the default signal then delivers none. */
  dropPendingSignal(): void {
    this.pendingSignal = 0;
  }

  /** The current stop if stopped, else the next event (stop or exit). */
  stopped(): Promise<TraceEvent> {
    if (this.state !== 'running' && this.lastEvent) return Promise.resolve(this.lastEvent);
    return this.nextEvent();
  }

  /** The next event of this thread, whatever its state now. */
  nextEvent(): Promise<TraceEvent> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** General registers by name (user_regs_struct on x86_64, user_pt_regs on aarch64). */
  getRegisters(): Record<string, bigint> {
    return decodeWords(this.arch.gprNames, this.registersOfStop());
  }

  /** Changes the named registers, leaving the others as they are. */
  setRegisters(values: Record<string, bigint>): void {
    const raw = this.getRegistersRaw();
    encodeWords(this.arch.gprNames, raw, values);
    this.setRegistersRaw(raw);
  }

  /** The general regset, a copy the caller may change. */
  getRegistersRaw(): Buffer {
    return Buffer.from(this.registersOfStop());
  }

  setRegistersRaw(raw: Buffer): void {
    this.setRegset(NoteType.PRSTATUS, raw, this.arch.gprNames.length * 8);
    this.stopRegisters = undefined; // the kernel may adjust what it took (flags, selectors): read it again
  }

  /**
   * The general regset as it is in this stop, read once (GETREGSET) and kept
   * until the thread runs again: a breakpoint stop asks for the pc, rewinds it,
   * and gdb's stop reply reads the rest, all from one read. Shared: read it,
   * never change it (setRegistersRaw does).
   */
  registersOfStop(): Buffer {
    if (this.stopRegisters) return this.stopRegisters;
    const raw = Buffer.allocUnsafe(this.arch.gprNames.length * 8); // GETREGSET fills it
    addon.ptraceRegset(true, this.tid, NoteType.PRSTATUS, raw);
    if (this.state === 'stopped') this.stopRegisters = raw;
    return raw;
  }

  getPc(): bigint {
    return this.registersOfStop().readBigUInt64LE(this.arch.pcOffset);
  }

  setPc(pc: bigint): void {
    const raw = this.getRegistersRaw();
    raw.writeBigUInt64LE(pc, this.arch.pcOffset);
    const poke = this.arch.pcUserOffset;
    if (poke === undefined) this.setRegistersRaw(raw);
    else addon.ptrace(Request.POKEUSER, this.tid, poke, pc);
    // The kernel keeps a pc as given, and the rest is what it gave us: still this stop's registers.
    if (this.state === 'stopped') this.stopRegisters = raw;
  }

  /** The FP/SIMD regset (FXSAVE image on x86_64, user_fpsimd_state on aarch64). */
  getFpRegistersRaw(): Buffer {
    const raw = Buffer.allocUnsafe(this.arch.fpregsSize); // GETREGSET fills it
    addon.ptraceRegset(true, this.tid, NoteType.PRFPREG, raw);
    return raw;
  }

  setFpRegistersRaw(raw: Buffer): void {
    this.setRegset(NoteType.PRFPREG, raw, this.arch.fpregsSize);
  }

  /** The XSAVE image (NT_X86_XSTATE), as long as this CPU's. */
  getXstate(): Buffer {
    const raw = Buffer.alloc(XSTATE_MAX);
    const n = addon.ptraceRegset(true, this.tid, NoteType.X86_XSTATE, raw);
    return Buffer.from(raw.subarray(0, n));
  }

  /** xmm, ymm, zmm, k and pkru as this CPU has them, decoded from getXstate() at the CPU's own offsets. */
  getVectorRegisters(): X86VectorRegisters {
    const layout = hostXsaveLayout();
    if (!layout) throw new RangeError(`this CPU has no XSAVE state to decode (tid ${this.tid})`);
    return decodeVectorRegisters(this.getXstate(), layout);
  }

  setXstate(raw: Buffer): void {
    checkBuffer(raw);
    addon.ptraceRegset(false, this.tid, NoteType.X86_XSTATE, raw);
  }

  /** Reads any regset by note type; returns the bytes the kernel filled. */
  getRegset(noteType: number, maxBytes = XSTATE_MAX): Buffer {
    const raw = Buffer.alloc(maxBytes);
    const n = addon.ptraceRegset(true, this.tid, noteType, raw);
    return Buffer.from(raw.subarray(0, n));
  }

  /** x86 DR0..DR7 through PTRACE_PEEKUSER. */
  getDebugRegister(index: number): bigint {
    addon.ptraceBuffer(Request.PEEKUSER, this.tid, this.debugRegisterOffset(index), peekWord);
    return peekWord.readBigUInt64LE(0);
  }

  setDebugRegister(index: number, value: bigint): void {
    addon.ptrace(Request.POKEUSER, this.tid, this.debugRegisterOffset(index), BigInt.asUintN(64, value));
  }

  getSiginfo(): Siginfo {
    const raw = Buffer.allocUnsafe(SIGINFO_SIZE); // the kernel writes all of it, zeros past its own siginfo
    addon.ptraceBuffer(Request.GETSIGINFO, this.tid, 0, raw);
    return decodeSiginfo(raw);
  }

  /** Replaces the siginfo of the signal the thread is stopped for. */
  setSiginfo(raw: Buffer): void {
    if (checkBuffer(raw).length !== SIGINFO_SIZE) throw new RangeError(`siginfo must be ${SIGINFO_SIZE} bytes`);
    addon.ptraceBuffer(Request.SETSIGINFO, this.tid, 0, raw);
  }

  getSyscallInfo(): SyscallInfo {
    const raw = Buffer.allocUnsafe(SYSCALL_INFO_SIZE).fill(0); // the kernel may fill less
    addon.ptraceBuffer(Request.GET_SYSCALL_INFO, this.tid, SYSCALL_INFO_SIZE, raw);
    return decodeSyscallInfo(raw);
  }

  /** PTRACE_GETEVENTMSG: the new tid/pid of a clone/fork, the former tid of an exec, ... */
  getEventMessage(): number {
    addon.ptraceBuffer(Request.GETEVENTMSG, this.tid, 0, peekWord);
    return Number(peekWord.readBigUInt64LE(0));
  }

  setOptions(options: number): void {
    addon.ptrace(Request.SETOPTIONS, this.tid, 0, options);
  }

  /** Detaches this thread, handing it `signal` (by default the one it stopped for). */
  detach(signal = this.pendingSignal): void {
    this.requireStopped('ptrace(PTRACE_DETACH)');
    addon.ptrace(Request.DETACH, this.tid, 0, signal);
    this.markGone();
  }

  /**
   * Called by the Tracee when a wait status says the thread stopped, before it
   * looks at the stop; with the stop's general regset when that was read already.
   */
  noteStopped(registers?: Buffer): void {
    this.state = 'stopped';
    this.zombie = false;
    this.stopRegisters = registers;
    tracer.setRunning(this.tid, false);
  }

  /** Called by the Tracee once it knows what the stop was. */
  noteStop(event: TraceEvent): void {
    if (this.state !== 'stopped') this.noteStopped();
    this.interruptRequested = false;
    this.settle(event);
  }

  /** Called by the Tracee when the thread is gone. */
  noteExit(event: TraceEvent): void {
    if (this.state === 'stopped') this.killedRegisters = this.stopRegisters; // reaped straight out of its stop
    this.markGone();
    this.settle(event);
  }

  /** Resumes after a stray interrupt trap as the thread was last resumed. */
  resumeAsBefore(): void {
    this.resume(this.lastResume, 0);
  }

  private resume(request: ResumeRequest, signal: number, newRun = true): void {
    checkSignal(signal);
    if (this.state !== 'stopped') this.requireStopped(requestName(request)); // the name only on the error path
    addon.ptrace(request, this.tid, 0, signal);
    this.markResumed(request, newRun);
  }

  private markResumed(request: ResumeRequest, newRun = true): void {
    this.state = 'running';
    this.stopRegisters = undefined;
    this.pendingSignal = 0;
    this.lastResume = request;
    if (newRun) this.resumedAt = nextSequence();
    tracer.setRunning(this.tid, true);
  }

  private settle(event: TraceEvent): void {
    this.events++;
    this.lastEvent = event;
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve(event);
  }

  /**
   * The general regset of the stop the thread was killed out of (a SIGKILL
   * from outside, while its tracer held it stopped), as read in that stop; or
   * undefined. Its debugger, not yet told of the death, may still ask: gdb
   * shows the frame it stopped in, as gdbserver (which reaps later) does.
   */
  get lastRegisters(): Buffer | undefined {
    return this.killedRegisters;
  }

  private markGone(): void {
    this.stopRegisters = undefined;
    this.state = 'exited';
    tracer.remove(this.tid);
  }

  private requireStopped(syscall: string): void {
    if (this.state === 'stopped') return;
    // The kernel would say ESRCH; say it before asking, with the same shape.
    throw new SystemError(3, syscall, { pid: this.pid, tid: this.tid });
  }

  private debugRegisterOffset(index: number): number {
    const regs = this.arch.debugRegisters;
    if (!regs) throw new Error(`${this.arch.name} has no debug registers in the user area`);
    if (!Number.isInteger(index) || index < 0 || index >= regs.count) {
      throw new RangeError(`debug register index must be 0..${regs.count - 1}`);
    }
    return regs.offset(index);
  }

  private setRegset(noteType: number, raw: Buffer, size: number): void {
    if (checkBuffer(raw).length !== size) throw new RangeError(`register set 0x${noteType.toString(16)} is ${size} bytes`);
    addon.ptraceRegset(false, this.tid, noteType, raw);
  }
}

const REQUEST_NAMES: Record<ResumeRequest, string> = {
  [Request.CONT]: 'ptrace(PTRACE_CONT)',
  [Request.SINGLESTEP]: 'ptrace(PTRACE_SINGLESTEP)',
  [Request.SYSCALL]: 'ptrace(PTRACE_SYSCALL)',
  [Request.LISTEN]: 'ptrace(PTRACE_LISTEN)',
};

function requestName(request: ResumeRequest): string {
  return REQUEST_NAMES[request];
}
