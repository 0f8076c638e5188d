import { hasCode } from '../errors';
import type { ArchLayout } from './arch';
import type { TraceEvent } from './events';
import type { Memory } from './memory';
import { nextSequence } from './sequence';
import type { Thread } from './thread';

/**
 * Software breakpoints: the arch's trap instruction written over the code
 * through /proc/PID/mem, with the original bytes kept so that detaching, and
 * anyone reading memory, sees the program as it was.
 */
export class Breakpoints {
  private readonly saved = new Map<bigint, Buffer>();
  /** When (nextSequence()) each breakpoint removed since it was last inserted went. */
  private readonly removedAt = new Map<bigint, number>();

  constructor(
    private readonly memory: Memory,
    private readonly arch: ArchLayout,
  ) {}

  insert(address: bigint): void {
    if (this.inPlace(address)) return;
    const size = this.arch.breakpoint.length;
    const original = this.memory.read(address, size);
    if (original.length < size) throw new RangeError(`cannot place a breakpoint at 0x${address.toString(16)}: unmapped`);
    this.memory.writeForced(address, this.arch.breakpoint);
    this.saved.set(address, original);
    this.removedAt.delete(address);
  }

  /** Puts the original bytes back; throws if that fails (its page unmapped: the breakpoint went with it, and is forgotten). */
  remove(address: bigint): void {
    const original = this.saved.get(address);
    if (!original) return;
    this.saved.delete(address);
    this.removedAt.set(address, nextSequence());
    this.memory.writeForced(address, original);
  }

  /** Whether the breakpoint's page is still mapped (the program may have unmapped it while it ran). */
  stillMapped(address: bigint): boolean {
    try {
      return this.memory.read(address, 1).length === 1;
    } catch (err) {
      if (hasCode(err, 'EFAULT', 'EIO')) return false;
      throw err;
    }
  }

  has(address: bigint): boolean {
    return this.saved.has(address);
  }

  /**
   * Whether a breakpoint of ours is at `address` with its trap still in
   * memory. One whose code was replaced under it is forgotten: a library
   * unloaded and another loaded at its address (gdb, which leaves the
   * breakpoints of an unloaded library as they were, then inserts one there
   * again: gdb.base/unload.exp), or the program writing over its own code.
   * gdbserver checks the same when gdb inserts a breakpoint it already has
   * (mem-break.cc, validate_inserted_breakpoint).
   */
  inPlace(address: bigint): boolean {
    if (!this.saved.has(address)) return false;
    const trap = this.arch.breakpoint;
    let now: Buffer;
    try {
      now = this.memory.read(address, trap.length);
    } catch (err) {
      if (!hasCode(err, 'EFAULT', 'EIO')) throw err;
      now = Buffer.alloc(0);
    }
    if (now.equals(trap)) return true;
    this.saved.delete(address);
    return false;
  }

  get addresses(): bigint[] {
    return [...this.saved.keys()];
  }

  /** Puts every original byte back, where the page is still there. */
  removeAll(): void {
    for (const address of [...this.saved.keys()]) {
      try {
        this.remove(address);
      } catch (err) {
        if (!hasCode(err, 'EIO', 'EFAULT')) throw err;
      }
    }
  }

  /** After exec the old address space, and every breakpoint in it, is gone. */
  forget(): void {
    this.saved.clear();
    this.removedAt.clear();
  }

  /** The breakpoint a trap with this pc came from, if it is one of ours. */
  hitBy(pc: bigint): bigint | undefined {
    const address = pc - BigInt(this.arch.pcAfterBreakpoint);
    return this.saved.has(address) ? address : undefined;
  }

  /**
   * The breakpoint a trap with this pc came from if it was removed after the
   * thread was resumed (at `resumedAt`): the thread ran into the trap while
   * it was still there, and its stop was reaped only after the removal.
   */
  removedHitBy(pc: bigint, resumedAt: number): bigint | undefined {
    const address = pc - BigInt(this.arch.pcAfterBreakpoint);
    const removed = this.removedAt.get(address);
    return removed !== undefined && removed > resumedAt ? address : undefined;
  }

  /**
   * Writes `data` at `address` with `write`, around any breakpoints it
   * covers: the traps stay in memory and the written bytes become their
   * original code once the write went through (gdb, with breakpoints always
   * inserted, writes over one and expects to read its bytes back and still
   * hit it, as gdbserver gives: mem-break.cc, check_mem_write).
   */
  writeAround(address: bigint, data: Buffer, write: (bytes: Buffer) => number): number {
    const end = address + BigInt(data.length);
    const covered = [...this.saved].filter(([at, original]) => at < end && at + BigInt(original.length) > address);
    if (covered.length === 0) return write(data);
    const bytes = Buffer.from(data);
    for (const [at] of covered)
      this.arch.breakpoint.forEach((trap, i) => {
        const offset = at + BigInt(i) - address;
        if (offset >= 0n && offset < BigInt(data.length)) bytes[Number(offset)] = trap;
      });
    const written = write(bytes);
    for (const [at, original] of covered)
      original.forEach((_, i) => {
        const offset = at + BigInt(i) - address;
        if (offset >= 0n && offset < BigInt(written)) original[i] = data[Number(offset)]!;
      });
    return written;
  }

  /** Replaces breakpoint bytes in `data` (read at `address`) by the original code. */
  unshadow(address: bigint, data: Buffer): Buffer {
    if (this.saved.size === 0) return data;
    const end = address + BigInt(data.length);
    for (const [at, original] of this.saved) {
      // Most reads (gdb's stack reads) hold no breakpoint: a range test first, byte arithmetic only for overlaps.
      if (at >= end || at + BigInt(original.length) <= address) continue;
      for (let i = 0; i < original.length; i++) {
        const byte = at + BigInt(i);
        if (byte >= address && byte < end) data[Number(byte - address)] = original[i]!;
      }
    }
    return data;
  }

  /**
   * Runs one instruction of `thread` from a breakpoint address: lifts the
   * breakpoint, single-steps, puts it back. Other threads should be stopped
   * meanwhile, or they may run past the lifted breakpoint.
   */
  async stepOver(thread: Thread, signal = 0): Promise<TraceEvent> {
    const pc = thread.getPc();
    const lifted = this.saved.has(pc);
    if (lifted) this.remove(pc);
    try {
      thread.step(signal);
      return await thread.nextEvent();
    } finally {
      if (lifted && thread.state !== 'exited') this.insert(pc);
    }
  }
}
