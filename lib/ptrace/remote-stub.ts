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
import { Request } from './constants';
import type { RemoteHost, RemoteSyscalls } from './remote';

/**
 * The stub (x86-64, position independent; GNU as source in its comment).
 *   0x000 entry: lea data(%rip),%rbx; mov (%rbx),%r13                count
 *                lea 8(%rbx),%r12; lea 0x7000(%rbx),%r14; xor %r15d,%r15d
 *         1:     cmp %r13,%r15; jae 9f
 *                mov (%r12),%rax; mov 8(%r12),%rdi
 *                cmp $-2,%rax; je 5f; cmp $-3,%rax; je 6f        touches, not calls
 *                mov 16..48(%r12),%rsi,%rdx,%r10,%r8,%r9; syscall
 *         2:     mov %rax,(%r14,%r15,8); add $56,%r12; inc %r15
 *                mov %r15,0x7ff8(%rbx); jmp 1b                    records done
 *         5:     movzbl (%rdi),%eax; xor %eax,%eax; jmp 2b        read a byte
 *         6:     movzbl (%rdi),%eax; mov %al,(%rdi); xor %eax,%eax; jmp 2b   write it back
 *         9:     int3                                             batch done (pc 0x72)
 *   0x100 handler (SIGSEGV/SIGBUS, SA_SIGINFO): lea data(%rip),%rbx
 *                signo, si_code (8(%rsi)), si_addr (16(%rsi)), and from the
 *                ucontext's sigcontext (%rdx + 40) err [19], trapno [20], rip [16]
 *                into 0x7f00(%rbx)..0x7f28(%rbx); int3          fault told (pc 0x14f)
 *   0x180 restorer: mov $15,%eax; syscall                         rt_sigreturn (never reached: the tracer takes over)
 *   0x200 park: lea data(%rip),%rbx; xor %r12d,%r12d              r12d: the last request done
 *         3:     mov 0x7fe0(%rbx),%eax; cmp %r12d,%eax; jne 4f    a new request?
 *                futex(0x7fe0(%rbx), FUTEX_WAIT, %r12d, NULL); jmp 3b
 *         4:     mov %eax,%r12d; cmp $-1,%eax; je 8f             -1: leave
 *                the records, as at entry (record pointer in %rbp)
 *                mov %r12d,0x7fe4(%rbx); futex(0x7fe4(%rbx), FUTEX_WAKE, 1); jmp 3b   answered
 *         8:     int3                                             unparked (pc 0x29b)
 * Nothing touches the thread's own stack: the stub has its own.
 */
const STUB_CODE = Buffer.from(
  '488d1df90f00004c8b2b4c8d63084c8db3007000004531ff4d39ef7354498b0424498b7c24084883f8fe74354883f8fd7436498b742410498b5424184d8b5424204d8b4424284d8b4c24300f054b8904fe4983c43849ffc74c89bbf87f0000ebb70fb60731c0ebe50fb607880731c0ebdccc' +
    '00'.repeat(0x100 - 0x72) +
    '488d1df90e00004889bb007f000048634608488983087f0000488b4610488983107f0000488b82c0000000488983187f0000488b82c8000000488983207f0000488b82a8000000488983287f0000cc' +
    '00'.repeat(0x180 - 0x14f) +
    'b80f0000000f05' +
    '00'.repeat(0x200 - 0x187) +
    '488d1df90d00004531e48b83e07f00004439e07518488dbbe07f000031f64489e24531d2b8ca0000000f05ebdd4189c483f8ff74654c8b2b488d6b084c8db3007000004531ff4d39ef732b488b4500488b7d08488b7510488b55184c8b55204c8b45284c8b4d300f054b8904fe4883c53849ffc7ebd04489a3e47f0000488dbbe47f0000be01000000ba01000000b8ca0000000f05e970ffffffcc',
  'hex',
);
/** Where the pc is after the int3 that ends a batch, and after the one that ends the fault handler. */
const BATCH_END = 0x72;
const FAULT_END = 0x14f;
const HANDLER = 0x100;
const PARK = 0x200;
const PARK_END = 0x29b;
const RESTORER = 0x180;
/** Record numbers the stub takes as "touch this address" instead of a system call. */
const TOUCH_READ = -2;
const TOUCH_WRITE = -3;

/** Offsets in the stub's mapping. */
const Layout = {
  size: 0x10000,
  code: 0x0,
  data: 0x1000,
  records: 0x1008,
  results: 0x8000,
  /** What the fault handler records: signo, si_code, si_addr, err, trapno, rip. */
  fault: 0x8f00,
  /** Parked mode: the request counter we raise, and the one the stub answers with. */
  request: 0x8fe0,
  answer: 0x8fe4,
  done: 0x8ff8,
  stackTop: 0x10000,
  record: 56,
  /** Free for the caller's own data (a timespec, a path): the last 4 KiB before the results. */
  scratch: 0x7000,
  scratchSize: 0xf00,
  /** After the caller's scratch: the sigactions a fault-catching batch installs and saves. */
  sigactions: 0x7f00,
} as const;
/** As many records as fit before the results. */
export const MAX_BATCH = Math.floor((Layout.scratch - Layout.records) / Layout.record);

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
function encodeRecords(calls: readonly Rec[]): Buffer {
  const words = 1 + calls.length * (Layout.record / 8);
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
    const at = 1 + i * (Layout.record / 8);
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

  private constructor(
    private readonly remote: RemoteSyscalls,
    private readonly host: RemoteHost,
    /** Where the stub is mapped in the process. */
    readonly base: bigint,
    /** Our descriptor of the memfd behind it. */
    private readonly fd: number,
  ) {
    this.shared = addon.mapShared(fd, Layout.size);
    this.memory = Buffer.from(this.shared);
  }

  /** Maps the stub into the process of the remote's thread (which must be stopped). */
  static async install(remote: RemoteSyscalls, host: RemoteHost): Promise<RemoteStub> {
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
      await remote.syscall('ftruncate', [remoteFd, Layout.size]);
      ours = fs.openSync(`/proc/${host.pid}/fd/${remoteFd}`, 'r+');
      fs.writeSync(ours, STUB_CODE, 0, STUB_CODE.length, Layout.code);
      base = await remote.syscall('mmap', [0, Layout.size, PROT_READ | PROT_WRITE, MAP_SHARED, remoteFd, 0]);
      await remote.syscall('mprotect', [base, Layout.data, PROT_READ | PROT_EXEC]);
      await remote.syscall('close', [remoteFd]);
      remoteFd = undefined;
      return new RemoteStub(remote, host, base, ours);
    } catch (err) {
      // Whatever was made is unmade; the first error is the one told.
      if (base !== undefined) await remote.syscall('munmap', [base, Layout.size]).catch(() => undefined);
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
   * thread runs; a signal that stops it is held and raised after unpark().
   */
  async park(): Promise<ParkedStub> {
    if (this.cured) throw new HostkitError('ERR_HOSTKIT_STUB_CURED', `the stub in process ${this.host.pid} was removed`);
    const shared = this.shared;
    const words = new Int32Array(shared);
    Atomics.store(words, Layout.request / 4, 0);
    Atomics.store(words, Layout.answer / 4, 0);
    const thread = this.remote.thread;
    let leave!: () => void;
    const leaving = new Promise<'leave'>((resolve) => {
      leave = () => resolve('leave');
    });
    let parked!: () => void;
    const running = new Promise<void>((resolve) => {
      parked = resolve;
    });
    const lent = this.remote.hijack('parked stub', async ({ registers, caught }) => {
      const regs = Buffer.from(registers);
      const names = thread.arch.gprNames;
      const put = (reg: string, value: bigint) => regs.writeBigUInt64LE(BigInt.asUintN(64, value), names.indexOf(reg) * 8);
      put(thread.arch.pc, this.base + BigInt(PARK));
      put(thread.arch.sp, this.base + BigInt(Layout.stackTop));
      put(this.remote.abi.inSyscall, -1n);
      thread.setRegistersRaw(regs);
      const end = this.base + BigInt(PARK_END);
      let left = false;
      let stop = this.remote.resumeHidden(() => thread.cont(0), 'parked stub', false);
      parked();
      for (;;) {
        const next = left ? await stop : await Promise.race([stop, leaving]);
        if (next === 'leave') {
          left = true;
          Atomics.store(words, Layout.request / 4, -1);
          addon.futexWake(shared, Layout.request, 1);
          continue;
        }
        if (next.type === 'signal' && next.signal === SIGTRAP && thread.getPc() === end) return;
        if (next.type === 'signal') caught.push(next.signal);
        stop = this.remote.resumeHidden(() => thread.cont(0), 'parked stub', false);
        if (left) {
          Atomics.store(words, Layout.request / 4, -1);
          addon.futexWake(shared, Layout.request, 1);
        }
      }
    });
    lent.catch(() => undefined); // told through unpark()
    await running;
    return new ParkedStub(this, shared, async () => {
      leave();
      await lent;
    });
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
      return { nr: c.call === 'touch' ? TOUCH_READ : TOUCH_WRITE, name: c.call, args };
    }
    const { nr, name } = this.remote.resolve(c.call, args);
    return { nr, name, args };
  }

  /**
   * Writes the records, points the lent thread at the stub and lets it run
   * to its int3 (or, catching faults, to the handler's); the records done.
   */
  private async run(records: readonly Rec[], registers: Buffer, caught: number[], label: string, catching: boolean): Promise<number> {
    const data = encodeRecords(records);
    this.memory.set(data, Layout.data);
    this.memory.writeBigUInt64LE(0n, Layout.done);
    const thread = this.remote.thread;
    const regs = Buffer.from(registers);
    const names = thread.arch.gprNames;
    const put = (reg: string, value: bigint) => regs.writeBigUInt64LE(BigInt.asUintN(64, value), names.indexOf(reg) * 8);
    put(thread.arch.pc, this.base + BigInt(Layout.code));
    put(thread.arch.sp, this.base + BigInt(Layout.stackTop));
    put(this.remote.abi.inSyscall, -1n); // not in a system call: the kernel restarts nothing of ours
    thread.setRegistersRaw(regs);
    const end = this.base + BigInt(BATCH_END);
    const faultEnd = this.base + BigInt(FAULT_END);
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
      const inCode = pc >= this.base && pc < this.base + BigInt(Layout.data);
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
    return Number(this.memory.readBigUInt64LE(Layout.done));
  }

  private readResults(count: number): bigint[] {
    return Array.from(new BigInt64Array(this.shared, Layout.results, count));
  }

  private readFault(): Omit<FaultInfo, 'record'> {
    const raw = this.memory.subarray(Layout.fault, Layout.fault + 48);
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
    act.writeBigUInt64LE(this.base + BigInt(HANDLER), 0);
    act.writeBigUInt64LE(BigInt(SA_SIGINFO | SA_RESTORER), 8);
    act.writeBigUInt64LE(this.base + BigInt(RESTORER), 16);
    // Every signal blocked in the handler but SIGTRAP: a trap raised while blocked makes the kernel reset its handler (force_sig_info).
    act.writeBigUInt64LE(((1n << 64n) - 1n) & ~(1n << BigInt(SIGTRAP - 1)), 24);
    this.memory.set(act, Layout.sigactions);
    return { act: Layout.sigactions, oldSegv: Layout.sigactions + 32, oldBus: Layout.sigactions + 64 };
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
    return this.base + BigInt(Layout.scratch);
  }

  /** Writes `data` at `offset` of the scratch area, through the shared memory. */
  writeScratch(data: Buffer, offset = 0): void {
    if (offset < 0 || offset + data.length > Layout.scratchSize) throw new RangeError(`the scratch area holds ${Layout.scratchSize} bytes`);
    this.memory.set(data, Layout.scratch + offset);
  }

  /** Reads `length` bytes at `offset` of the scratch area. */
  readScratch(length: number, offset = 0): Buffer {
    if (offset < 0 || offset + length > Layout.scratchSize) throw new RangeError(`the scratch area holds ${Layout.scratchSize} bytes`);
    return Buffer.from(this.memory.subarray(Layout.scratch + offset, Layout.scratch + offset + length));
  }

  /** Unmaps the stub: the process keeps nothing of it. */
  async cure(): Promise<void> {
    if (this.cured) return;
    this.cured = true;
    try {
      if (this.remote.thread.state === 'exited') return; // the process died and took the stub with it
      await this.remote.syscall('munmap', [this.base, Layout.size]);
    } catch (err) {
      if (!hasCode(err, 'ESRCH')) throw err; // a process that died took the stub with it
    } finally {
      fs.closeSync(this.fd);
    }
  }
}

/** How long a parked batch may go unanswered: the thread was stopped (a signal) or killed. */
const PARKED_TIMEOUT_MS = 5000;
/** Polls of the answer before sleeping on its futex: a short batch is answered within them. */
const PARKED_SPINS = 2000;

/** A stub whose thread waits in it: see RemoteStub.park(). */
export class ParkedStub {
  private request = 0;
  private readonly words: Int32Array;
  private readonly bytes: Uint8Array;
  private gone = false;

  constructor(
    private readonly stub: RemoteStub,
    private readonly shared: ArrayBuffer,
    private readonly leave: () => Promise<void>,
  ) {
    this.words = new Int32Array(shared);
    this.bytes = new Uint8Array(shared);
  }

  /**
   * Runs the calls with no ptrace stop: records into the shared page, a futex
   * wake, and the answer awaited on another futex (the JS thread blocks for it).
   */
  batch(calls: readonly BatchCall[]): BatchResult[] {
    if (this.gone) throw new HostkitError('ERR_HOSTKIT_STUB_CURED', 'the stub was unparked');
    if (calls.length === 0) return [];
    const records = this.stub.records(calls);
    this.bytes.set(encodeRecords(records), Layout.data);
    this.request = (this.request % 0x7ffffffe) + 1;
    Atomics.store(this.words, Layout.request / 4, this.request);
    addon.futexWake(this.shared, Layout.request, 1);
    this.awaitAnswer();
    const values = new BigInt64Array(this.shared, Layout.results, records.length);
    return records.map((r, i) => {
      const value = values[i]!;
      return value >= -MAX_ERRNO && value < 0n ? { name: r.name, value, errno: errnoCode(Number(value)) } : { name: r.name, value };
    });
  }

  /** Gives the thread back as it was before park(). */
  async unpark(): Promise<void> {
    if (this.gone) return;
    this.gone = true;
    await this.leave();
  }

  private awaitAnswer(): void {
    const slot = Layout.answer / 4;
    for (let i = 0; i < PARKED_SPINS; i++) if (Atomics.load(this.words, slot) === this.request) return;
    const deadline = Date.now() + PARKED_TIMEOUT_MS;
    for (;;) {
      const seen = Atomics.load(this.words, slot);
      if (seen === this.request) return;
      if (Date.now() > deadline)
        throw new HostkitError('ERR_HOSTKIT_REMOTE', `the parked stub did not answer in ${PARKED_TIMEOUT_MS} ms (its thread was stopped or killed)`);
      addon.futexWait(this.shared, Layout.answer, seen, 100);
    }
  }
}
