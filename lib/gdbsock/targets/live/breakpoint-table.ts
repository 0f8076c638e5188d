/**
 * gdb's breakpoints in a live process: int3s in memory (Tracee.breakpoints),
 * debug registers, the conditions gdb attached to them, the ones gdb removed
 * but that are still in memory (lifted), and which thread's stop reported
 * which hit. Where the host's debug registers never fire, gdb's hardware
 * breakpoints are int3s reported as hardware ones, and its write watchpoints
 * are watched by stepping (SteppedWatchpoints): gdb's `hbreak` and `watch`
 * work unchanged there, where gdbserver accepts them and never stops.
 */
import { probeDebugRegisters, type Thread, type Tracee } from '../../../ptrace';
import { hasCode } from '../../../errors';
import { evaluate, evaluationFailed, littleEndianValue } from '../../agent';
import { formatAgentPrintf } from '../../agent-printf';
import { agentOutput } from '../../agent-output';
import { type BreakpointCommand, type BreakpointType, BreakpointKindUnsupported, type Condition, type TracepointStepping } from '../../target';
import { DebugRegisters } from '../debug-registers';
import { SteppedWatchpoints } from '../stepped-watchpoints';

export class BreakpointTable {
  /** gdb's software breakpoints, with their conditions (none: always report). */
  readonly software = new Map<bigint, Condition[] | undefined>();
  readonly debugRegisters = new DebugRegisters();
  /** Conditional breakpoints placed in debug registers, by address. */
  readonly hardwareConditions = new Map<bigint, Condition[]>();
  /** The conditions gdb gave its own hardware breakpoints (Z1), by address. */
  readonly hwbreakConditions = new Map<bigint, Condition[]>();
  /** gdb's hardware breakpoints kept as int3s, where the debug registers do not fire. */
  private readonly hwbreakTraps = new Set<bigint>();
  /** gdb's write watchpoints watched by stepping, where the debug registers do not fire. */
  readonly stepped: SteppedWatchpoints;
  /** Software breakpoints whose hits run gdb's commands instead of being reported (dprintf-style agent). */
  readonly commands = new Map<bigint, BreakpointCommand[]>();
  /** Tracepoints' traps (TracepointSites): each hit calls its function; the int3 is shared with gdb's breakpoint at the same address. */
  readonly sites = new Map<bigint, (tid: number) => TracepointStepping | undefined>();
  /**
   * Software breakpoints gdb removed while the process is stopped, still in
   * its memory. gdb lifts every breakpoint at each stop and puts them back
   * before resuming: writing the code out and in again each time costs four
   * syscalls a breakpoint for nothing. Memory reads already show the
   * program's bytes; these come out for real before anything runs or gdb
   * writes memory (liftNow).
   */
  private readonly lifted = new Set<bigint>();
  /**
   * Threads whose reported stop was a hit of the breakpoint at this address.
   * Only they step off a breakpoint when resumed: any other thread found on
   * one (its hit came while the others were being stopped, so its pc was put
   * back, or it was interrupted right there) runs into it again and reports
   * it, as gdb expects, so no hit is lost in a thread storm.
   */
  private readonly reportedHits = new Map<number, bigint>();
  /** The thread whose registers conditions read (see anyTrue): one context for every evaluation. */
  private conditionTid = 0;
  private readonly conditionContext = {
    // General registers are views of one raw GETREGSET per stop: nothing decoded at each hit.
    register: (regno: number) => {
      const bytes = this.readRegister(this.conditionTid, regno);
      return littleEndianValue(bytes);
    },
    memory: (address: bigint, size: number) => {
      const bytes = this.tracee.breakpoints.unshadow(address, this.tracee.memory.read(address, size));
      if (bytes.length < size) throw new RangeError('unreadable');
      // ref64 too: readUIntLE stops at 6 bytes, and its RangeError made every 64-bit load "gdb decides" (a stop).
      return littleEndianValue(bytes);
    },
  };
  /** Commands run where conditions do, and may print: a string argument is read up to its NUL. */
  private readonly commandContext = {
    ...this.conditionContext,
    printf: (format: string, args: bigint[]) => agentOutput(formatAgentPrintf(format, args, (address, max) => this.readString(address, max))),
  };

  constructor(
    private readonly tracee: Tracee,
    private readonly readRegister: (tid: number, regno: number) => Buffer,
  ) {
    this.stepped = new SteppedWatchpoints((address, length) => tracee.memory.read(address, length), tracee.arch.gprNames);
  }

  insert(type: BreakpointType, address: bigint, length: number, conditions?: Condition[], commands?: BreakpointCommand[]): void {
    // A tracepoint's debug register where gdb now wants a breakpoint: one trap would fire for both,
    // or two registers in one #DB, of which DR6 names one to us. The tracepoint moves to the int3.
    if ((type === 'software' || type === 'hardware') && this.siteInDebugRegister(address)) this.siteToInt3(address);
    if (type === 'software') {
      if (commands) this.commands.set(address, commands);
      else this.commands.delete(address);
      return this.insertSoftware(address, conditions);
    }
    // x86 debug registers trap reads and writes alike, never reads alone (Intel SDM vol. 3, 18.2.4: R/W 11).
    if (type === 'read') throw new BreakpointKindUnsupported('no read-only watchpoints');
    const emulated = !this.debugRegistersFire;
    this.debugRegisters.emulated = emulated;
    if (type === 'hardware') {
      if (conditions) this.hwbreakConditions.set(address, conditions);
      else this.hwbreakConditions.delete(address);
    }
    if (this.debugRegisters.holds(type, address, length, 'gdb')) return; // inserted again: new conditions at most
    if (this.debugRegisters.free === 0) this.evictOwnSlot();
    // Slots are taken as on a host whose registers fire, so gdb is refused exactly what the CPU would refuse.
    this.debugRegisters.insert(type, address, length);
    if (emulated && type === 'hardware') this.placeHwbreakTrap(address);
    else if (emulated) this.stepped.watch(this.debugRegisters.steppedPieces());
    // Where they do not fire, nothing is written, but the threads that run (non-stop) are interrupted, to run on stepping (go).
    this.applyToThreads();
  }

  /**
   * gdb's hardware breakpoint as an int3 (see hwbreakTraps): shared with a
   * software one or a tracepoint's there. A debug register takes any
   * address, mapped or not (gdb.base/hbreak-unmapped.exp: `hbreak *0`), so an
   * address with nothing mapped is taken too, and its int3 placed at the first
   * resume that finds its page (beforeRun).
   */
  private placeHwbreakTrap(address: bigint): void {
    this.hwbreakTraps.add(address);
    if (this.lifted.delete(address) && this.tracee.breakpoints.inPlace(address)) return;
    if (!this.tryTrap(address)) this.unplacedHwbreaks.add(address);
  }

  /** Puts an int3 at `address`; false when nothing is mapped there. */
  private tryTrap(address: bigint): boolean {
    try {
      this.tracee.breakpoints.insert(address);
      return true;
    } catch (err) {
      if (err instanceof RangeError || hasCode(err, 'EFAULT', 'EIO')) return false;
      throw err;
    }
  }

  /** gdb's hardware breakpoints at addresses nothing was mapped at yet (placeHwbreakTrap). */
  private readonly unplacedHwbreaks = new Set<bigint>();

  /**
   * A conditional breakpoint goes into a free debug register when there is one:
   * an instruction breakpoint traps before the instruction and the kernel sets
   * EFLAGS.RF (arch/x86/kernel/hw_breakpoint.c), so a false condition costs one
   * stop and a PTRACE_CONT, where an int3 would also need a step over it.
   */
  private insertSoftware(address: bigint, conditions: Condition[] | undefined): void {
    const memory = this.tracee.breakpoints;
    if (this.lifted.delete(address) && memory.inPlace(address)) {
      // Still in memory (an exec or a new mapping would have wiped it), so it only has to be gdb's again, unless a condition now wants a debug register.
      if (!conditions || this.debugRegisters.free === 0 || !this.debugRegistersFire || this.sites.has(address)) {
        this.software.set(address, conditions);
        return;
      }
      memory.remove(address);
    }
    if (this.hardwareConditions.has(address)) {
      if (conditions) return void this.hardwareConditions.set(address, conditions);
      this.remove('software', address, 1, false);
    }
    // A breakpoint with commands stays an int3: a debug register's hit knows only conditions.
    // Not where a tracepoint has a debug register: one #DB would fire both, and DR6 names only one to us.
    if (
      conditions &&
      !this.commands.has(address) &&
      !memory.has(address) &&
      !this.sites.has(address) &&
      this.debugRegisters.free > 0 &&
      this.debugRegistersFire
    ) {
      this.debugRegisters.insert('hardware', address, 1, 'condition');
      this.applyToThreads();
      this.hardwareConditions.set(address, conditions);
      return;
    }
    memory.insert(address);
    this.software.set(address, conditions);
  }

  /** gdb wants a debug register that a condition or a tracepoint of ours holds: that one goes back to an int3. */
  private evictOwnSlot(): void {
    const site = this.debugRegisters.addressesOf('tracepoint')[0];
    if (site !== undefined) return this.siteToInt3(site);
    const address = this.debugRegisters.addressesOf('condition')[0];
    if (address === undefined) return;
    const conditions = this.hardwareConditions.get(address);
    this.hardwareConditions.delete(address);
    this.debugRegisters.remove('hardware', address, 1, 'condition');
    this.tracee.breakpoints.insert(address);
    this.software.set(address, conditions);
  }

  /** `outNow`: an int3 gdb removes leaves memory at once (something runs), instead of being lifted. */
  remove(type: BreakpointType, address: bigint, length: number, outNow: boolean): void {
    if (type === 'software' && this.hardwareConditions.has(address)) {
      this.hardwareConditions.delete(address);
      this.debugRegisters.remove('hardware', address, 1, 'condition');
      this.applyToThreads();
      return;
    }
    if (type === 'software') {
      this.software.delete(address);
      this.commands.delete(address);
      return this.dropTrap(address, outNow);
    }
    if (type === 'hardware') this.hwbreakConditions.delete(address);
    this.debugRegisters.remove(type, address, length);
    if (type === 'hardware' && this.hwbreakTraps.delete(address) && !this.unplacedHwbreaks.delete(address)) this.dropTrap(address, outNow);
    if (this.stepped.active) this.stepped.watch(this.debugRegisters.steppedPieces());
    this.applyToThreads();
  }

  /** An int3 nobody may want any more: out, or lifted (see `lifted`), unless a breakpoint or tracepoint still wants it. */
  private dropTrap(address: bigint, outNow: boolean): void {
    if (this.wantsTrap(address)) return;
    // Lifted only while its page is there: a removal that cannot happen is gdb's warning to give now (its z0 fails).
    const memory = this.tracee.breakpoints;
    if (outNow || !memory.has(address) || !memory.stillMapped(address)) memory.remove(address);
    else this.lifted.add(address);
  }

  /**
   * A tracepoint's trap at `address`: a free debug register when there is
   * one and no breakpoint of gdb's is there (an instruction breakpoint traps
   * before the instruction and the kernel sets EFLAGS.RF, so a hit costs one
   * stop, where an int3 costs a stop, a step and two writes of the code, as
   * gdbserver's step over it does), else an int3. Throws a RangeError if the
   * page is not mapped.
   */
  insertSite(address: bigint, hit: (tid: number) => TracepointStepping | undefined): void {
    const ours = this.software.has(address) || this.hardwareConditions.has(address) || this.tracee.breakpoints.has(address);
    if (!ours && this.debugRegistersFire && this.debugRegisters.free > 0 && this.tracee.memory.read(address, 1).length === 1) {
      this.debugRegisters.insert('hardware', address, 1, 'tracepoint');
      this.applyToThreads();
    } else {
      this.lifted.delete(address); // gdb's, removed but still in memory: the int3 is the tracepoint's now
      this.tracee.breakpoints.insert(address);
    }
    this.sites.set(address, hit);
  }

  /** Takes a tracepoint's trap out, unless gdb has a breakpoint there; a page gone meanwhile took it already. */
  removeSite(address: bigint): void {
    if (!this.sites.delete(address)) return;
    if (this.siteInDebugRegister(address)) {
      this.debugRegisters.remove('hardware', address, 1, 'tracepoint');
      this.applyToThreads();
      return;
    }
    if (this.wantsTrap(address)) return;
    try {
      this.tracee.breakpoints.remove(address);
    } catch (err) {
      if (!hasCode(err, 'EIO', 'EFAULT', 'ESRCH')) throw err;
    }
  }

  private siteToInt3(address: bigint): void {
    this.debugRegisters.remove('hardware', address, 1, 'tracepoint');
    this.applyToThreads();
    this.tracee.breakpoints.insert(address);
  }

  /** Whether the tracepoint at `address` traps through a debug register, not an int3. */
  private siteInDebugRegister(address: bigint): boolean {
    return this.debugRegisters.holds('hardware', address, 1, 'tracepoint');
  }

  /** Whether an int3 at `address` is still wanted: gdb's breakpoint or a tracepoint's. */
  wantsTrap(address: bigint): boolean {
    return this.software.has(address) || this.hwbreakTraps.has(address) || (this.sites.has(address) && !this.siteInDebugRegister(address));
  }

  /**
   * gdb's breakpoint behind the int3 at `address`: how its hit is reported,
   * and the conditions it holds on. A software one wins over a hardware one
   * at the same address, as either explains the stop. None: a tracepoint's.
   */
  gdbsTrap(address: bigint): { reason: 'swbreak' | 'hwbreak'; conditions: Condition[] | undefined } | undefined {
    if (this.software.has(address)) return { reason: 'swbreak', conditions: this.software.get(address) };
    if (this.hwbreakTraps.has(address)) return { reason: 'hwbreak', conditions: this.hwbreakConditions.get(address) };
    return undefined;
  }

  /** Takes the breakpoints gdb removed out of memory (see `lifted`). */
  liftNow(): void {
    for (const address of this.lifted) this.tracee.breakpoints.remove(address);
    this.lifted.clear();
  }

  /**
   * Before threads run for gdb: removed breakpoints out (liftNow), hardware
   * ones whose page has come placed, and watched bytes seen afresh (gdb may
   * have written them).
   */
  beforeRun(): void {
    this.liftNow();
    for (const address of this.unplacedHwbreaks) if (this.tryTrap(address)) this.unplacedHwbreaks.delete(address);
    this.stepped.rebase();
  }

  /**
   * Writes the debug registers into every thread. ptrace writes them only
   * into a stopped thread, so a running one (gdb sets a watchpoint while the
   * program runs, in non-stop or with a non-stop target) is interrupted and
   * written at that stop (refresh), then runs on as before, as gdbserver
   * stops its threads to update theirs (x86_linux_update_debug_registers).
   * Before, the watchpoint never fired in a thread that was running
   * (gdb.base/watchpoint-running.exp).
   */
  /**
   * Whether gdb's Z1..Z4, and our own conditions and tracepoints, may use
   * debug registers: the architecture has them and this host's fire (asked at
   * the first use, once per process). Where they are taken but never fire,
   * conditions and tracepoints stay int3s, which work everywhere.
   */
  private get debugRegistersFire(): boolean {
    return this.tracee.arch.debugRegisters !== undefined && probeDebugRegisters().fire;
  }

  applyToThreads(): void {
    for (const t of this.tracee.threads.values()) {
      if (t.state === 'stopped') {
        this.staleDebugRegisters.delete(t.tid);
        this.debugRegisters.applyTo(t);
      } else if (t.arch.debugRegisters && !this.staleDebugRegisters.has(t.tid)) {
        this.staleDebugRegisters.add(t.tid);
        try {
          t.interrupt();
        } catch (err) {
          if (!hasCode(err, 'ESRCH')) throw err; // exiting: its exit is next, no stop to write them at
        }
      }
    }
  }

  /** At any stop of `t`: its debug registers written if they changed while it ran (see applyToThreads). */
  refresh(t: Thread): void {
    if (this.staleDebugRegisters.delete(t.tid)) this.debugRegisters.applyTo(t);
  }

  /** Threads that ran while the debug registers changed, interrupted to take them at their next stop. */
  private readonly staleDebugRegisters = new Set<number>();

  applyTo(t: Thread): void {
    this.debugRegisters.applyTo(t);
  }

  /** An exec: the old address space, and every breakpoint in it, is gone; gdb inserts its own again. */
  forgetAll(): void {
    this.software.clear();
    this.sites.clear();
    this.commands.clear();
    this.hardwareConditions.clear();
    this.forgetHardware();
  }

  /** A detach takes every int3 out; the debug registers are cleared in each thread (applyToThreads after this). */
  forDetach(): void {
    this.lifted.clear();
    this.forgetHardware();
  }

  /** gdb's hardware breakpoints and watchpoints gone: slots, their conditions, and what stands in for them where the registers do not fire. */
  private forgetHardware(): void {
    this.hwbreakConditions.clear();
    this.hwbreakTraps.clear();
    this.unplacedHwbreaks.clear();
    this.debugRegisters.clear();
    this.stepped.watch([]);
  }

  /** Whether gdb still has a breakpoint of this kind at `address` (a conditional one in a debug register counts as software). */
  hasAt(type: 'software' | 'hardware', address: bigint): boolean {
    if (type === 'software') return this.software.has(address) || this.hardwareConditions.has(address);
    return this.debugRegisters.has('hardware', address);
  }

  noteReportedHit(tid: number, address: bigint): void {
    this.reportedHits.set(tid, address);
  }

  /** Whether `tid`'s reported stop was the hit of the breakpoint at `pc`; forgotten either way, as the thread resumes. */
  takeReportedHit(tid: number, pc: bigint): boolean {
    const reported = this.reportedHits.get(tid) === pc;
    this.reportedHits.delete(tid);
    return reported;
  }

  /**
   * Runs gdb's commands for the breakpoint `tid` stopped at. One that fails
   * (memory it cannot read, bytecode it does not know) is skipped with a
   * word on the output, as gdbserver does; the program carries on.
   */
  runCommands(tid: number, commands: BreakpointCommand[]): void {
    this.conditionTid = tid;
    for (const code of commands) {
      try {
        evaluate(code, this.commandContext);
      } catch (err) {
        if (!evaluationFailed(err)) throw err;
        agentOutput(`gdbsock: breakpoint command failed: ${(err as Error).message}\n`);
      }
    }
  }

  private readString(address: bigint, max: number): Buffer {
    const bytes = this.tracee.breakpoints.unshadow(address, this.tracee.memory.read(address, max));
    const end = bytes.indexOf(0);
    return end < 0 ? bytes : bytes.subarray(0, end);
  }

  /** Whether any of gdb's conditions holds at `tid`'s stop. */
  anyTrue(tid: number, conditions: Condition[]): boolean {
    this.conditionTid = tid;
    for (const code of conditions) {
      try {
        if (evaluate(code, this.conditionContext) !== 0n) return true;
      } catch (err) {
        // gdb decides when we cannot: bytecode we cannot run, registers or memory we cannot read.
        if (!evaluationFailed(err)) throw err;
        return true;
      }
    }
    return false;
  }
}
