/**
 * System calls made by a traced thread on our behalf, at any stop: the
 * thread's registers (and with them a call it was blocked in, which the
 * kernel then restarts as before) are exactly as they were afterwards, and
 * listeners never see the stops this takes.
 *
 * Two ways, as the kernel allows:
 * - registers: the thread is pointed at a `syscall` instruction already in its
 *   memory (the vDSO has one), with the number and arguments in place and
 *   orig_rax -1 so the kernel's restart logic leaves this call alone; one
 *   PTRACE_SINGLESTEP runs it.
 * - syscall info (Linux 6.16): at a syscall-entry stop, PTRACE_SET_SYSCALL_INFO
 *   turns the call being entered into ours; PTRACE_SYSCALL runs it to its exit.
 * At a syscall-entry stop the thread's own call has not run yet: afterwards it
 * is entered again (pc back over the instruction), so the stop is the same
 * entry stop it was.
 */
import { HostkitError, SystemError, hasCode } from '../errors';
import { addon } from '../native';
import { maps } from '../procfs';
import { encodeWords } from './arch/layout';
import { type SyscallAbi, syscallAbi } from './arch/syscall-abi';
import { Request } from './constants';
import { RemoteStub } from './remote-stub';
import type { TraceEvent } from './events';
import { SYSCALL_INFO_SIZE } from './syscall-info';
import type { Thread } from './thread';

export type RemoteMethod = 'auto' | 'registers';

/** What RemoteSyscalls needs of its Tracee. */
export interface RemoteHost {
  readonly pid: number;
  readonly memory: { read(address: bigint, length: number): Buffer; write(address: bigint, data: Buffer): number };
  /** Resumes the thread with `resume` and gives its next event without telling listeners. */
  hiddenStop(thread: Thread, resume: () => void, soon?: boolean): Promise<TraceEvent>;
}

/** Errno values come back as -1..-4095 (include/linux/err.h, MAX_ERRNO). */
const MAX_ERRNO = 4095n;
const NOT_IN_SYSCALL = (1n << 64n) - 1n; // -1 as the kernel reads orig_rax
/** Steps before giving up on reaching the instruction (a stop at a syscall's exit comes first, signals may). */
const MAX_STEPS = 8;

export class RemoteSyscalls {
  readonly abi: SyscallAbi;
  private instructionAt: bigint | undefined;
  /** Names and numbers already looked up: a batch resolves hundreds. */
  private readonly resolved = new Map<string | number, { nr: number; name: string }>();

  constructor(
    private readonly host: RemoteHost,
    readonly thread: Thread,
  ) {
    const abi = syscallAbi(thread.arch.name);
    if (!abi) throw new HostkitError('ERR_HOSTKIT_UNSUPPORTED', `remote system calls are not built for ${thread.arch.name} yet`);
    this.abi = abi;
  }

  /**
   * Makes `call` (a name in the ABI's table, or a number) with up to six
   * arguments in the stopped thread; its result, or a SystemError
   * (`syscall` 'remote NAME') for an errno result.
   */
  async syscall(call: string | number, args: readonly (bigint | number)[] = [], options: { method?: RemoteMethod } = {}): Promise<bigint> {
    const { nr, name } = this.resolve(call, args);
    const result = await this.hijack(name, ({ atEntry, registers, caught }) =>
      atEntry && options.method !== 'registers' && setSyscallInfoWorks(this.thread)
        ? this.viaSyscallInfo(nr, args, name)
        : this.viaInstruction(nr, args, name, registers, caught),
    );
    if (result >= -MAX_ERRNO && result < 0n) throw new SystemError(Number(-result), `remote ${name}`, { pid: this.host.pid, tid: this.thread.tid });
    return result;
  }

  /** Maps a stub into the process for batches of calls (remote-stub.ts); cure() removes it. */
  installStub(): Promise<RemoteStub> {
    return RemoteStub.install(this, this.host);
  }

  /** A call's number and the name errors give it; RangeError for an unknown name or too many arguments. */
  resolve(call: string | number, args: readonly unknown[] = []): { nr: number; name: string } {
    if (args.length > this.abi.args.length) throw new RangeError(`a system call takes at most ${this.abi.args.length} arguments, got ${args.length}`);
    const known = this.resolved.get(call);
    if (known) return known;
    const nr = typeof call === 'number' ? call : Object.hasOwn(this.abi.numbers, call) ? this.abi.numbers[call] : undefined;
    if (nr === undefined || !Number.isInteger(nr) || nr < 0) throw new RangeError(`unknown system call ${JSON.stringify(call)}`);
    const entry = { nr, name: typeof call === 'string' ? call : `syscall ${call}` };
    this.resolved.set(call, entry);
    return entry;
  }

  /**
   * Lends the stopped thread to `work`, then gives it back as it was: its
   * registers, its stop (a syscall-entry stop's call is entered again), its
   * pending signal; signals that stopped it meanwhile (`caught`) are raised
   * again, to be reported when it runs.
   */
  async hijack<T>(name: string, work: (lent: { atEntry: boolean; registers: Buffer; caught: number[] }) => Promise<T>): Promise<T> {
    const thread = this.thread;
    if (!thread.isStopped) throw new HostkitError('ERR_HOSTKIT_NOT_STOPPED', `remote ${name}: thread ${thread.tid} of process ${this.host.pid} is not stopped`);
    const saved = { registers: thread.getRegistersRaw(), lastEvent: thread.lastEvent, pendingSignal: thread.pendingSignal };
    const atEntry = saved.lastEvent?.type === 'syscall-entry';
    const caught: number[] = [];
    try {
      const result = await work({ atEntry, registers: saved.registers, caught });
      if (atEntry) await this.reenter(saved.registers, name, caught);
      return result;
    } finally {
      if (thread.isStopped) {
        thread.setRegistersRaw(saved.registers);
        thread.lastEvent = saved.lastEvent;
        thread.pendingSignal = saved.pendingSignal;
        for (const signal of caught) addon.tgkill(this.host.pid, thread.tid, signal);
      }
    }
  }

  /** The call run from a `syscall` instruction in the thread's memory, by single steps. */
  private async viaInstruction(nr: number, args: readonly (bigint | number)[], name: string, registers: Buffer, caught: number[]): Promise<bigint> {
    const at = this.instruction();
    const after = at + BigInt(this.abi.instruction.length);
    const regs = Buffer.from(registers);
    encodeWords(this.thread.arch.gprNames, regs, { ...this.callRegisters(nr, args), [this.thread.arch.pc]: at, [this.abi.inSyscall]: NOT_IN_SYSCALL });
    for (let step = 0; step < MAX_STEPS; step++) {
      // Set again before each step: from a stop inside a system call (an exec or fork event, a
      // syscall-entry stop) the first step ends at that call's exit, which stores its result in rax.
      this.thread.setRegistersRaw(regs);
      const event = await this.resumeHidden(() => this.thread.step(0), name);
      if (event.type === 'signal') caught.push(event.signal);
      const pc = this.thread.getPc();
      if (pc === after) return this.resultRegister();
      if (pc !== at)
        throw new HostkitError('ERR_HOSTKIT_REMOTE', `remote ${name}: thread ${this.thread.tid} stopped at 0x${pc.toString(16)}, not at the system call`);
    }
    throw new HostkitError('ERR_HOSTKIT_REMOTE', `remote ${name}: thread ${this.thread.tid} did not reach the system call in ${MAX_STEPS} steps`);
  }

  /** At a syscall-entry stop: the call being entered becomes ours, and runs to its exit stop. */
  private async viaSyscallInfo(nr: number, args: readonly (bigint | number)[], name: string): Promise<bigint> {
    const info = Buffer.alloc(SYSCALL_INFO_SIZE);
    addon.ptraceBuffer(Request.GET_SYSCALL_INFO, this.thread.tid, SYSCALL_INFO_SIZE, info);
    info.writeBigUInt64LE(BigInt(nr), 24);
    for (let i = 0; i < 6; i++) info.writeBigUInt64LE(BigInt.asUintN(64, BigInt(args[i] ?? 0)), 32 + i * 8);
    addon.ptraceBuffer(Request.SET_SYSCALL_INFO, this.thread.tid, SYSCALL_INFO_SIZE, info);
    const event = await this.resumeHidden(() => this.thread.syscall(0), name);
    if (event.type !== 'syscall-exit')
      throw new HostkitError('ERR_HOSTKIT_REMOTE', `remote ${name}: thread ${this.thread.tid} gave ${event.type} instead of the call's exit`);
    return BigInt.asIntN(64, event.rval);
  }

  /** Back in front of the thread's own call, which is entered again to the entry stop it was in. */
  private async reenter(registers: Buffer, name: string, caught: number[]): Promise<void> {
    const own = Buffer.from(registers);
    const names = this.thread.arch.gprNames;
    const original = own.readBigUInt64LE(names.indexOf(this.abi.inSyscall) * 8);
    const pc = own.readBigUInt64LE(this.thread.arch.pcOffset);
    encodeWords(names, own, { [this.thread.arch.pc]: pc - BigInt(this.abi.instruction.length), [this.abi.nr]: original, [this.abi.inSyscall]: NOT_IN_SYSCALL });
    this.thread.setRegistersRaw(own);
    for (let stop = 0; stop < MAX_STEPS; stop++) {
      const event = await this.resumeHidden(() => this.thread.syscall(0), name);
      if (event.type === 'syscall-entry') return;
      if (event.type === 'signal') caught.push(event.signal);
    }
    throw new HostkitError('ERR_HOSTKIT_REMOTE', `remote ${name}: thread ${this.thread.tid} did not enter its own system call again`);
  }

  /** Resumes the lent thread and gives its next stop, unseen by listeners; its end is an ESRCH SystemError. */
  async resumeHidden(resume: () => void, name: string, soon = true): Promise<TraceEvent> {
    const event = await this.host.hiddenStop(this.thread, resume, soon);
    if (event.type === 'exited' || event.type === 'killed') {
      throw new SystemError(3, `remote ${name}`, { pid: this.host.pid, tid: this.thread.tid, hint: `the thread ended during the call (${event.type})` });
    }
    return event;
  }

  private callRegisters(nr: number, args: readonly (bigint | number)[]): Record<string, bigint> {
    const values: Record<string, bigint> = { [this.abi.nr]: BigInt(nr) };
    this.abi.args.forEach((reg, i) => {
      values[reg] = BigInt(args[i] ?? 0);
    });
    return values;
  }

  private resultRegister(): bigint {
    return BigInt.asIntN(64, this.thread.getRegisters()[this.abi.result]!);
  }

  /** A `syscall` instruction in the process: from the vDSO, else from any executable mapping; checked again at each use. */
  private instruction(): bigint {
    const insn = this.abi.instruction;
    if (this.instructionAt !== undefined && this.readOrEmpty(this.instructionAt, insn.length).equals(insn)) return this.instructionAt;
    const mappings = maps(this.host.pid).filter((m) => m.executable && m.readable);
    const ordered = [...mappings.filter((m) => m.path === '[vdso]'), ...mappings.filter((m) => m.path !== '[vdso]' && m.path !== '[vsyscall]')];
    for (const m of ordered) {
      const bytes = this.readOrEmpty(m.start, Number(m.end - m.start));
      const at = bytes.indexOf(insn);
      if (at >= 0) {
        this.instructionAt = m.start + BigInt(at);
        return this.instructionAt;
      }
    }
    throw new HostkitError('ERR_HOSTKIT_REMOTE', `no system call instruction in the executable memory of process ${this.host.pid}`);
  }

  private readOrEmpty(address: bigint, length: number): Buffer {
    try {
      return this.host.memory.read(address, length);
    } catch (err) {
      if (hasCode(err, 'EFAULT', 'EIO')) return Buffer.alloc(0);
      throw err;
    }
  }
}

let setSyscallInfo: boolean | undefined;

/** Whether this kernel has PTRACE_SET_SYSCALL_INFO: asked once, with an invalid request it must refuse (EINVAL), not ignore (EIO). */
function setSyscallInfoWorks(thread: Thread): boolean {
  if (setSyscallInfo === undefined) {
    const probe = Buffer.alloc(SYSCALL_INFO_SIZE);
    probe.writeUInt8(0xff, 0); // no such op: a kernel with the request says EINVAL
    try {
      addon.ptraceBuffer(Request.SET_SYSCALL_INFO, thread.tid, SYSCALL_INFO_SIZE, probe);
      setSyscallInfo = true;
    } catch (err) {
      setSyscallInfo = hasCode(err, 'EINVAL');
    }
  }
  return setSyscallInfo;
}
