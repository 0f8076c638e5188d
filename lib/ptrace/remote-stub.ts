/**
 * A skas0-style stub in a traced process (User-Mode Linux's idea): a page of
 * code and pages of data mapped from a memfd that hostkit opens too, so a
 * batch of system calls is written into shared memory (our own mapping of
 * the memfd: no system call on our side), run by the thread
 * with one resume and one stop (the int3 at its end), and its results read
 * back from the same memory. Installed with a few single remote calls
 * (memfd_create, ftruncate, mmap, mprotect, close), cured with one munmap:
 * afterwards the process's maps, registers and fds are as they were.
 */
import fs from 'node:fs';
import { HostkitError, errnoCode, hasCode } from '../errors';
import { addon } from '../native';
import { encodeWords, hostArch } from './arch';
import { type StubImage, type StubLayout, stubImage } from './arch/stub-image';
import { Request } from './constants';
import type { RemoteHost, RemoteSyscalls } from './remote';

/** The stub of the machine hostkit runs on (tracer and tracee share it); null where there is none yet. */
const IMAGE = stubImage(hostArch().name) ?? null;
/** As many records as fit before the scratch area. */
export const MAX_BATCH = IMAGE ? Math.floor((IMAGE.layout.scratch - IMAGE.layout.records) / IMAGE.layout.record) : 0;

const PROT_READ = 1;
const PROT_WRITE = 2;
const PROT_EXEC = 4;
const MAP_SHARED = 1;
const MFD_CLOEXEC = 1;
const SIGTRAP = 5;
const SIGBUS = 7;
const SIGSEGV = 11;
const SA_SIGINFO = 4;
const SA_RESTORER = 0x04000000;
/** SIGILL, SIGBUS, SIGFPE, SIGSEGV: raised by the stub's own code, they would come back at every resume. */
const FAULTS = [4, 7, 8, 11];
const MAX_ERRNO = 4095n;
const NO_ARGS: readonly number[] = [];

/** A record as the stub reads it. */
interface Rec {
  nr: number;
  name: string;
  args: readonly (bigint | number)[];
}

/** What the stub's handler read from the signal frame of a fault (SIGSEGV or SIGBUS). */
export interface FaultInfo {
  signal: number;
  /** si_code: SEGV_MAPERR 1, SEGV_ACCERR 2, BUS_ADRERR 2 ... */
  code: number;
  /** si_addr: the address that faulted. */
  address: bigint;
  /** The page-fault error code (sigcontext err): bit 0 present, 1 write, 2 user, 4 instruction fetch. */
  errorCode: bigint;
  /** The trap number (sigcontext trapno): 14 for a page fault. */
  trapNumber: bigint;
  /** Where the stub was. */
  ip: bigint;
  /** Which record of the batch faulted. */
  record: number;
}

export interface BatchCall {
  call: string | number;
  args?: readonly (bigint | number)[];
}

/** A call's outcome: its value, or the errno it failed with (a result, not an exception). */
export interface BatchResult {
  name: string;
  value: bigint;
  errno?: string;
}

/**
 * The count, then each record (nr and six arguments, 8 bytes each), as the
 * stub reads them. Numbers are split into 32-bit halves by hand: a BigInt
 * per argument cost more than the system call it describes.
 */
function encodeRecords(calls: readonly Rec[], recordSize: number): Buffer {
  const perRecord = recordSize / 8;
  const words = 1 + calls.length * perRecord;
  const buffer = new ArrayBuffer(words * 8);
  const u32 = new Uint32Array(buffer);
  const u64 = new BigUint64Array(buffer);
  const put = (word: number, value: bigint | number) => {
    if (typeof value === 'bigint') u64[word] = BigInt.asUintN(64, value);
    else if (Number.isSafeInteger(value)) {
      const high = Math.floor(value / 0x1_0000_0000); // negative for a negative value: two's complement below
      u32[word * 2] = value - high * 0x1_0000_0000;
      u32[word * 2 + 1] = high >>> 0;
    } else throw new RangeError(`system call argument ${value} is not an integer`);
  };
  put(0, calls.length);
  calls.forEach((c, i) => {
    const at = 1 + i * perRecord;
    put(at, c.nr);
    for (let j = 0; j < c.args.length; j++) put(at + 1 + j, c.args[j]!);
  });
  return Buffer.from(buffer);
}

export class RemoteStub {
  private cured = false;

  /** Our own MAP_SHARED mapping of the memfd: records, results and scratch are plain memory here. */
  private readonly shared: ArrayBuffer;
  private readonly memory: Buffer;
  private readonly layout: StubLayout;

  private constructor(
    private readonly remote: RemoteSyscalls,
    private readonly host: RemoteHost,
    private readonly image: StubImage,
    /** Where the stub is mapped in the process. */
    readonly base: bigint,
    /** Our descriptor of the memfd behind it. */
    private readonly fd: number,
  ) {
    this.layout = image.layout;
    this.shared = addon.mapShared(fd, this.layout.size);
    this.memory = Buffer.from(this.shared);
  }

  /** Maps the stub into the process of the remote's thread (which must be stopped). */
  static async install(remote: RemoteSyscalls, host: RemoteHost): Promise<RemoteStub> {
    const image = IMAGE;
    if (!image) throw new HostkitError('ERR_HOSTKIT_UNSUPPORTED', `the remote-call stub is not built for ${hostArch().name} yet`);
    const { layout } = image;
    const thread = remote.thread;
    // The memfd's name goes below the thread's stack red zone (128 bytes on x86-64), put back after.
    const name = Buffer.from('hostkit-stub\0');
    const sp = thread.getRegisters()[thread.arch.sp]!;
    const scratch = (sp - 512n) & ~15n;
    const underneath = host.memory.read(scratch, name.length);
    let remoteFd: bigint | undefined;
    let ours: number | undefined;
    let base: bigint | undefined;
    try {
      host.memory.write(scratch, name);
      remoteFd = await remote.syscall('memfd_create', [scratch, MFD_CLOEXEC]);
      await remote.syscall('ftruncate', [remoteFd, layout.size]);
      ours = fs.openSync(`/proc/${host.pid}/fd/${remoteFd}`, 'r+');
      fs.writeSync(ours, image.code, 0, image.code.length, 0);
      base = await remote.syscall('mmap', [0, layout.size, PROT_READ | PROT_WRITE, MAP_SHARED, remoteFd, 0]);
      await remote.syscall('mprotect', [base, layout.data, PROT_READ | PROT_EXEC]);
      await remote.syscall('close', [remoteFd]);
      remoteFd = undefined;
      return new RemoteStub(remote, host, image, base, ours);
    } catch (err) {
      // Whatever was made is unmade; the first error is the one told.
      if (base !== undefined) await remote.syscall('munmap', [base, layout.size]).catch(() => undefined);
      if (remoteFd !== undefined) await remote.syscall('close', [remoteFd]).catch(() => undefined);
      if (ours !== undefined) fs.closeSync(ours);
      throw err;
    } finally {
      if (thread.isStopped) host.memory.write(scratch, underneath);
    }
  }

  /**
   * Runs the calls in order with one resume of the thread; each result is
   * its value or its errno. A call may also be `{ call: 'touch', args: [address] }`
   * (read a byte there) or `'touch-write'` (read it and write it back): the
   * page is faulted in, or the fault is caught. With `catchFaults`, a SIGSEGV
   * or SIGBUS in the batch is taken by the stub's own handler, which records
   * what the signal frame says (faultInfo()), and the batch ends there: the
   * results are those of the records before it. The process's own handlers
   * and signal mask are put back either way. A signal that stops the thread
   * meanwhile is held and raised again afterwards; the process dying is an
   * ESRCH SystemError.
   */
  async batch(calls: readonly BatchCall[], options: { catchFaults?: boolean } = {}): Promise<BatchResult[]> {
    if (this.cured) throw new HostkitError('ERR_HOSTKIT_STUB_CURED', `the stub in process ${this.host.pid} was removed`);
    if (calls.length === 0) return [];
    const catching = options.catchFaults === true;
    const extra = catching ? 2 : 0;
    if (calls.length + extra > MAX_BATCH) throw new RangeError(`a batch holds at most ${MAX_BATCH - extra} calls, got ${calls.length}`);
    const records = calls.map((c) => this.record(c));
    this.lastFault = null;
    const label = `batch of ${records.length}`;
    const done = await this.remote.hijack(label, async ({ registers, caught }) => {
      if (!catching) return this.run(records, registers, caught, label, false);
      const mask = this.signalMask();
      const sigaction = (signal: number, act: number, old: number) => ({
        nr: this.remote.resolve('rt_sigaction').nr,
        name: 'rt_sigaction',
        args: [signal, act ? this.base + BigInt(act) : 0n, old ? this.base + BigInt(old) : 0n, 8],
      });
      const { act, oldSegv, oldBus } = this.writeHandlerAction();
      const install = [sigaction(SIGSEGV, act, oldSegv), sigaction(SIGBUS, act, oldBus)];
      const restore = [sigaction(SIGSEGV, oldSegv, 0), sigaction(SIGBUS, oldBus, 0)];
      try {
        const ran = await this.run([...install, ...records], registers, caught, label, true);
        const installed = this.readResults(2);
        if (installed.some((v) => v !== 0n))
          throw new HostkitError('ERR_HOSTKIT_REMOTE', `the stub's fault handler could not be installed in process ${this.host.pid}`);
        return ran - 2;
      } finally {
        // The process's own handlers back, and the mask the handler's entry changed.
        if (this.remote.thread.isStopped) {
          await this.run(restore, registers, caught, label, false);
          this.setSignalMask(mask);
        }
      }
    });
    const offset = catching ? 2 : 0;
    const values = this.readResults(done + offset).slice(offset);
    return values.map((value, i) => {
      const name = records[i]!.name;
      return value >= -MAX_ERRNO && value < 0n ? { name, value, errno: errnoCode(Number(value)) } : { name, value };
    });
  }

  /**
   * Parks the thread in the stub, waiting on a futex in the shared page: each
   * batch of the returned handle is then run with no ptrace stop at all (the
   * idea of UML's seccomp mode and gVisor's systrap), answered through a
   * second futex. unpark() gives the thread back as it was. While parked the
   * thread runs: a signal that stops it is held and raised after unpark(),
   * and the thread goes back to its batch or its wait.
   */
  async park(): Promise<ParkedStub> {
    if (this.cured) throw new HostkitError('ERR_HOSTKIT_STUB_CURED', `the stub in process ${this.host.pid} was removed`);
    const { layout } = this;
    const words = new Int32Array(this.shared);
    Atomics.store(words, layout.request / 4, 0);
    Atomics.store(words, layout.answer / 4, 0);
    const thread = this.remote.thread;
    let leave!: () => void;
    const leaving = new Promise<'leave'>((resolve) => {
      leave = () => resolve('leave');
    });
    let parked!: () => void;
    const running = new Promise<void>((resolve) => {
      parked = resolve;
    });
    const raiseLeave = () => {
      Atomics.store(words, layout.request / 4, -1);
      addon.futexWake(this.shared, layout.request, 1);
    };
    const lent = this.remote.hijack('parked stub', async ({ registers, caught }) => {
      this.enter(this.image.entry.park, registers);
      const end = this.base + BigInt(this.image.end.park);
      let left = false;
      let stop = this.remote.resumeHidden(() => thread.cont(0), 'parked stub', false);
      parked();
      for (;;) {
        const next = left ? await stop : await Promise.race([stop, leaving]);
        if (next === 'leave') {
          left = true;
          raiseLeave();
          continue;
        }
        if (next.type === 'signal' && next.signal === SIGTRAP && thread.getPc() === end) return;
        if (next.type === 'signal') caught.push(next.signal);
        stop = this.remote.resumeHidden(() => thread.cont(0), 'parked stub', false);
        if (left) raiseLeave(); // the stop may have come before the stub saw the request
      }
    });
    const parkedStub = new ParkedStub(this, this.shared, layout, async () => {
      leave();
      await lent;
    });
    lent.catch((err: unknown) => parkedStub.lost(err));
    await Promise.race([running, lent]); // lent fails first when the thread could not be lent at all
    return parkedStub;
  }

  /** For ParkedStub: the records of a batch, checked and resolved. */
  records(calls: readonly BatchCall[]): Rec[] {
    if (calls.length > MAX_BATCH) throw new RangeError(`a batch holds at most ${MAX_BATCH} calls, got ${calls.length}`);
    return calls.map((c) => {
      const r = this.record(c);
      if (r.nr < 0) throw new RangeError(`${r.name} is not run by a parked stub`);
      return r;
    });
  }

  /** What the stub's handler recorded of the fault that ended the last batch, or null. */
  faultInfo(): FaultInfo | null {
    return this.lastFault;
  }

  private lastFault: FaultInfo | null = null;

  record(c: BatchCall): Rec {
    const args = c.args ?? NO_ARGS;
    if (c.call === 'touch' || c.call === 'touch-write') {
      if (args.length !== 1) throw new RangeError(`${c.call} takes one address`);
      return { nr: c.call === 'touch' ? this.image.touch.read : this.image.touch.write, name: c.call, args };
    }
    const { nr, name } = this.remote.resolve(c.call, args);
    return { nr, name, args };
  }

  /**
   * Points the lent thread at `entry` in the stub, on the stub's own stack,
   * outside any system call (orig_rax -1: the kernel restarts nothing of ours).
   */
  private enter(entry: number, registers: Buffer): void {
    const thread = this.remote.thread;
    const regs = Buffer.from(registers);
    encodeWords(thread.arch.gprNames, regs, {
      [thread.arch.pc]: this.base + BigInt(entry),
      [thread.arch.sp]: this.base + BigInt(this.layout.stackTop),
      [this.remote.abi.inSyscall]: -1n,
    });
    thread.setRegistersRaw(regs);
  }

  /** Writes the records and lets the lent thread run them to the stub's int3 (or, catching faults, the handler's); the records done. */
  private async run(records: readonly Rec[], registers: Buffer, caught: number[], label: string, catching: boolean): Promise<number> {
    this.memory.set(encodeRecords(records, this.layout.record), this.layout.data);
    this.memory.writeBigUInt64LE(0n, this.layout.done);
    this.enter(this.image.entry.batch, registers);
    const thread = this.remote.thread;
    const end = this.base + BigInt(this.image.end.batch);
    const faultEnd = this.base + BigInt(this.image.end.fault);
    let deliver = 0;
    for (;;) {
      const signal = deliver;
      deliver = 0;
      const event = await this.remote.resumeHidden(() => thread.cont(signal), label);
      const pc = thread.getPc();
      if (event.type === 'signal' && event.signal === SIGTRAP && pc === end) return this.recordsDone();
      if (event.type === 'signal' && event.signal === SIGTRAP && pc === faultEnd && catching) {
        this.lastFault = { ...this.readFault(), record: this.recordsDone() - 2 };
        return this.recordsDone();
      }
      const inCode = pc >= this.base && pc < this.base + BigInt(this.layout.data);
      if (event.type === 'signal' && inCode && FAULTS.includes(event.signal)) {
        if (catching && (event.signal === SIGSEGV || event.signal === SIGBUS)) {
          deliver = event.signal; // to the stub's own handler
          continue;
        }
        throw new HostkitError('ERR_HOSTKIT_REMOTE', `the stub in process ${this.host.pid} faulted (signal ${event.signal}) at 0x${pc.toString(16)}`);
      }
      if (event.type === 'signal') caught.push(event.signal); // raised again once the thread is given back
    }
  }

  private recordsDone(): number {
    return Number(this.memory.readBigUInt64LE(this.layout.done));
  }

  private readResults(count: number): bigint[] {
    return Array.from(new BigInt64Array(this.shared, this.layout.results, count));
  }

  private readFault(): Omit<FaultInfo, 'record'> {
    const raw = this.memory.subarray(this.layout.fault, this.layout.fault + 48);
    return {
      signal: Number(raw.readBigUInt64LE(0)),
      code: Number(raw.readBigInt64LE(8)),
      address: raw.readBigUInt64LE(16),
      errorCode: raw.readBigUInt64LE(24),
      trapNumber: raw.readBigUInt64LE(32),
      ip: raw.readBigUInt64LE(40),
    };
  }

  /** struct kernel_sigaction for the handler (SA_SIGINFO | SA_RESTORER), and room for the two it replaces. */
  private writeHandlerAction(): { act: number; oldSegv: number; oldBus: number } {
    const act = Buffer.alloc(32);
    act.writeBigUInt64LE(this.base + BigInt(this.image.entry.handler), 0);
    act.writeBigUInt64LE(BigInt(SA_SIGINFO | SA_RESTORER), 8);
    act.writeBigUInt64LE(this.base + BigInt(this.image.entry.restorer), 16);
    // Every signal blocked in the handler but SIGTRAP: a trap raised while blocked makes the kernel reset its handler (force_sig_info).
    act.writeBigUInt64LE(((1n << 64n) - 1n) & ~(1n << BigInt(SIGTRAP - 1)), 24);
    this.memory.set(act, this.layout.sigactions);
    return { act: this.layout.sigactions, oldSegv: this.layout.sigactions + 32, oldBus: this.layout.sigactions + 64 };
  }

  private signalMask(): Buffer {
    const mask = Buffer.alloc(8);
    addon.ptraceBuffer(Request.GETSIGMASK, this.remote.thread.tid, 8, mask);
    return mask;
  }

  private setSignalMask(mask: Buffer): void {
    addon.ptraceBuffer(Request.SETSIGMASK, this.remote.thread.tid, 8, mask);
  }

  /** Where the scratch area is in the process: pointers in a batch's arguments may point into it. */
  get scratchAddress(): bigint {
    return this.base + BigInt(this.layout.scratch);
  }

  /** Writes `data` at `offset` of the scratch area, through the shared memory. */
  writeScratch(data: Buffer, offset = 0): void {
    if (offset < 0 || offset + data.length > this.layout.scratchSize) throw new RangeError(`the scratch area holds ${this.layout.scratchSize} bytes`);
    this.memory.set(data, this.layout.scratch + offset);
  }

  /** Reads `length` bytes at `offset` of the scratch area. */
  readScratch(length: number, offset = 0): Buffer {
    if (offset < 0 || offset + length > this.layout.scratchSize) throw new RangeError(`the scratch area holds ${this.layout.scratchSize} bytes`);
    return Buffer.from(this.memory.subarray(this.layout.scratch + offset, this.layout.scratch + offset + length));
  }

  /** Unmaps the stub: the process keeps nothing of it. */
  async cure(): Promise<void> {
    if (this.cured) return;
    this.cured = true;
    try {
      if (this.remote.thread.state === 'exited') return; // the process died and took the stub with it
      await this.remote.syscall('munmap', [this.base, this.layout.size]);
    } catch (err) {
      if (!hasCode(err, 'ESRCH')) throw err; // a process that died took the stub with it
    } finally {
      fs.closeSync(this.fd);
    }
  }
}

/** Polls of the answer before sleeping on its futex: a short batch is answered within them. */
const PARKED_SPINS = 2000;
/**
 * How long one futex wait for the answer blocks the event loop: between waits
 * the loop runs, so a signal stop of the parked thread is seen and resumed,
 * and its death ends the batch.
 */
const PARKED_WAIT_MS = 1;

/** A stub whose thread waits in it: see RemoteStub.park(). */
export class ParkedStub {
  private request = 0;
  private readonly words: Int32Array;
  private readonly bytes: Uint8Array;
  private gone = false;
  private busy = false;
  /** Why the parked thread was lost (the process died): every batch after it fails with this. */
  private failure: unknown;

  constructor(
    private readonly stub: RemoteStub,
    private readonly shared: ArrayBuffer,
    private readonly layout: StubLayout,
    private readonly leave: () => Promise<void>,
  ) {
    this.words = new Int32Array(shared);
    this.bytes = new Uint8Array(shared);
  }

  /**
   * Runs the calls with no ptrace stop: records into the shared page, a futex
   * wake, and the answer polled, then awaited on another futex. A batch that
   * is answered at once never leaves this call's synchronous part; a longer
   * one (a call that blocks, a signal stopping the thread) lets the event
   * loop run between short waits. The process dying is the ESRCH SystemError
   * the bridge saw. One batch at a time.
   */
  async batch(calls: readonly BatchCall[]): Promise<BatchResult[]> {
    if (this.gone) throw new HostkitError('ERR_HOSTKIT_STUB_CURED', 'the stub was unparked');
    if (this.failure !== undefined) throw this.failure;
    if (this.busy) throw new HostkitError('ERR_HOSTKIT_BUSY', 'the parked stub is running a batch: await it first');
    if (calls.length === 0) return [];
    const records = this.stub.records(calls);
    this.busy = true;
    try {
      this.bytes.set(encodeRecords(records, this.layout.record), this.layout.data);
      this.request = (this.request % 0x7ffffffe) + 1;
      Atomics.store(this.words, this.layout.request / 4, this.request);
      addon.futexWake(this.shared, this.layout.request, 1);
      if (!this.answeredSoon()) await this.answered();
      const values = new BigInt64Array(this.shared, this.layout.results, records.length);
      return records.map((r, i) => {
        const value = values[i]!;
        return value >= -MAX_ERRNO && value < 0n ? { name: r.name, value, errno: errnoCode(Number(value)) } : { name: r.name, value };
      });
    } finally {
      this.busy = false;
    }
  }

  /** Gives the thread back as it was before park(). */
  async unpark(): Promise<void> {
    if (this.gone) return;
    this.gone = true;
    await this.leave();
  }

  /** From RemoteStub.park(): the parked thread was lost. */
  lost(err: unknown): void {
    this.failure ??= err;
  }

  private answeredSoon(): boolean {
    const slot = this.layout.answer / 4;
    for (let i = 0; i < PARKED_SPINS; i++) if (Atomics.load(this.words, slot) === this.request) return true;
    return false;
  }

  private async answered(): Promise<void> {
    const slot = this.layout.answer / 4;
    for (;;) {
      const seen = Atomics.load(this.words, slot);
      if (seen === this.request) return;
      if (this.failure !== undefined) throw this.failure;
      addon.futexWait(this.shared, this.layout.answer, seen, PARKED_WAIT_MS);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
}
