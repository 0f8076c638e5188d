/**
 * A skas0-style stub in a traced process (User-Mode Linux's idea): a page of
 * code and pages of data mapped from a memfd that hostkit opens too, so a
 * batch of system calls is written into shared memory, run by the thread
 * with one resume and one stop (the int3 at its end), and its results read
 * back from the same memory. Installed with a few single remote calls
 * (memfd_create, ftruncate, mmap, mprotect, close), cured with one munmap:
 * afterwards the process's maps, registers and fds are as they were.
 */
import fs from 'node:fs';
import { HostkitError, errnoCode, hasCode } from '../errors';
import type { RemoteHost, RemoteSyscalls } from './remote';

/**
 * The stub (x86-64, position independent; GNU as source in its comment).
 *   entry: lea data(%rip),%rbx; mov (%rbx),%r13           count
 *          lea 8(%rbx),%r12; lea 0x7000(%rbx),%r14         records, results
 *          xor %r15d,%r15d
 *   1:     cmp %r13,%r15; jae 2f
 *          mov (%r12),%rax; mov 8..48(%r12),%rdi,%rsi,%rdx,%r10,%r8,%r9
 *          syscall
 *          mov %rax,(%r14,%r15,8); add $56,%r12; inc %r15
 *          mov %r15,0x7ff8(%rbx)                           records done
 *          jmp 1b
 *   2:     int3
 * Nothing here touches the stack, which is the stub's own anyway.
 */
const STUB_CODE = Buffer.from(
  '488d1df90f00004c8b2b4c8d63084c8db3007000004531ff4d39ef7338498b0424498b7c2408498b742410498b5424184d8b5424204d8b4424284d8b4c24300f054b8904fe4983c43849ffc74c89bbf87f0000ebc3cc',
  'hex',
);
/** Where the pc is after the int3 that ends a batch. */
const STUB_END = STUB_CODE.length;

/** Offsets in the stub's mapping. */
const Layout = {
  size: 0x10000,
  code: 0x0,
  data: 0x1000,
  records: 0x1008,
  results: 0x8000,
  done: 0x8ff8,
  stackTop: 0x10000,
  record: 56,
  /** Free for the caller's own data (a timespec, a path): the last 4 KiB before the results. */
  scratch: 0x7000,
  scratchSize: 0x1000,
} as const;
/** As many records as fit before the results. */
export const MAX_BATCH = Math.floor((Layout.scratch - Layout.records) / Layout.record);

const PROT_READ = 1;
const PROT_WRITE = 2;
const PROT_EXEC = 4;
const MAP_SHARED = 1;
const MFD_CLOEXEC = 1;
const SIGTRAP = 5;
/** SIGILL, SIGBUS, SIGFPE, SIGSEGV: raised by the stub's own code, they would come back at every resume. */
const FAULTS = [4, 7, 8, 11];
const MAX_ERRNO = 4095n;
const NO_ARGS: readonly number[] = [];

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
function encodeRecords(calls: readonly { nr: number; args: readonly (bigint | number)[] }[]): Buffer {
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

  private constructor(
    private readonly remote: RemoteSyscalls,
    private readonly host: RemoteHost,
    /** Where the stub is mapped in the process. */
    readonly base: bigint,
    /** Our descriptor of the memfd behind it. */
    private readonly fd: number,
  ) {}

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
   * its value or its errno. A signal that stops the thread meanwhile is held
   * and raised again afterwards; the process dying is an ESRCH SystemError.
   */
  async batch(calls: readonly BatchCall[]): Promise<BatchResult[]> {
    if (this.cured) throw new HostkitError('ERR_HOSTKIT_STUB_CURED', `the stub in process ${this.host.pid} was removed`);
    if (calls.length === 0) return [];
    if (calls.length > MAX_BATCH) throw new RangeError(`a batch holds at most ${MAX_BATCH} calls, got ${calls.length}`);
    const resolved = calls.map((c) => {
      const args = c.args ?? NO_ARGS;
      const { nr, name } = this.remote.resolve(c.call, args);
      return { nr, name, args };
    });
    const data = encodeRecords(resolved);
    fs.writeSync(this.fd, data, 0, data.length, Layout.data);
    fs.writeSync(this.fd, Buffer.alloc(8), 0, 8, Layout.done);
    const thread = this.remote.thread;
    const label = `batch of ${resolved.length}`;
    await this.remote.hijack(label, async ({ registers, caught }) => {
      const regs = Buffer.from(registers);
      const names = thread.arch.gprNames;
      const put = (reg: string, value: bigint) => regs.writeBigUInt64LE(BigInt.asUintN(64, value), names.indexOf(reg) * 8);
      put(thread.arch.pc, this.base + BigInt(Layout.code));
      put(thread.arch.sp, this.base + BigInt(Layout.stackTop));
      put(this.remote.abi.inSyscall, -1n); // not in a system call: the kernel restarts nothing of ours
      thread.setRegistersRaw(regs);
      const end = this.base + BigInt(STUB_END);
      for (;;) {
        const event = await this.remote.resumeHidden(() => thread.cont(0), label);
        const pc = thread.getPc();
        if (event.type === 'signal' && event.signal === SIGTRAP && pc === end) return;
        const inCode = pc >= this.base && pc < this.base + BigInt(Layout.data);
        if (event.type === 'signal' && inCode && FAULTS.includes(event.signal)) {
          throw new HostkitError('ERR_HOSTKIT_REMOTE', `the stub in process ${this.host.pid} faulted (signal ${event.signal}) at 0x${pc.toString(16)}`);
        }
        if (event.type === 'signal') caught.push(event.signal); // raised again once the thread is given back
      }
    });
    const out = Buffer.alloc(resolved.length * 8);
    fs.readSync(this.fd, out, 0, out.length, Layout.results);
    return resolved.map((c, i) => {
      const value = out.readBigInt64LE(i * 8);
      return value >= -MAX_ERRNO && value < 0n ? { name: c.name, value, errno: errnoCode(Number(value)) } : { name: c.name, value };
    });
  }

  /** Where the scratch area is in the process: pointers in a batch's arguments may point into it. */
  get scratchAddress(): bigint {
    return this.base + BigInt(Layout.scratch);
  }

  /** Writes `data` at `offset` of the scratch area, through the shared memory. */
  writeScratch(data: Buffer, offset = 0): void {
    if (offset < 0 || offset + data.length > Layout.scratchSize) throw new RangeError(`the scratch area holds ${Layout.scratchSize} bytes`);
    fs.writeSync(this.fd, data, 0, data.length, Layout.scratch + offset);
  }

  /** Reads `length` bytes at `offset` of the scratch area. */
  readScratch(length: number, offset = 0): Buffer {
    if (offset < 0 || offset + length > Layout.scratchSize) throw new RangeError(`the scratch area holds ${Layout.scratchSize} bytes`);
    const out = Buffer.alloc(length);
    fs.readSync(this.fd, out, 0, length, Layout.scratch + offset);
    return out;
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
