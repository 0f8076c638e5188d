/**
 * x86 debug registers for Z1..Z4 (Intel SDM vol. 3, 18.2): four address slots
 * DR0..DR3, their kind and length in DR7, which one fired in DR6. The same
 * settings go to every thread, new ones included; gdb's unaligned or long
 * watch regions are split into aligned pieces of 1, 2, 4 or 8 bytes.
 */
import type { Thread } from '../../ptrace';
import type { BreakpointType } from '../target';
import type { WatchedPiece } from './stepped-watchpoints';

/**
 * 'gdb' for Z1..Z4; 'condition' for a conditional Z0 we placed in a debug
 * register ourselves; 'tracepoint' for a tracepoint's trap we placed there.
 */
export type SlotOwner = 'gdb' | 'condition' | 'tracepoint';

interface Slot {
  /** What gdb asked for: reported back as is when any piece fires. */
  request: { type: BreakpointType; address: bigint; length: number; owner: SlotOwner };
  address: bigint;
  length: number;
}

/** DR0..DR3; native/step.c watches as many by stepping (HK_WATCH_SLOTS). */
export const DEBUG_REGISTER_SLOTS = 4;

/** DR7 R/W bits: 00 instruction, 01 data write, 11 data read or write (x86 has no read-only). */
const RW: Record<BreakpointType, number> = { software: 0, hardware: 0, write: 1, read: 3, access: 3 };
/** DR7 LEN bits by byte length. */
const LEN: Record<number, number> = { 1: 0, 2: 1, 4: 3, 8: 2 };

export class DebugRegisters {
  private slots: (Slot | undefined)[] = [undefined, undefined, undefined, undefined];

  /** Each slot's piece if it watches data, by slot, for watching by stepping (SteppedWatchpoints.watch); x86 has no read-only ones (Z3 is refused before). */
  steppedPieces(): (WatchedPiece | undefined)[] {
    return this.slots.map((s) => {
      const kind = s?.request.type;
      return s && (kind === 'write' || kind === 'access') ? { address: s.address, length: s.length, kind } : undefined;
    });
  }

  /** Takes slots for the request; one already held is left as it is (gdb inserts again to change its conditions). */
  insert(type: BreakpointType, address: bigint, length: number, owner: SlotOwner = 'gdb'): void {
    if (this.holds(type, address, length, owner)) return;
    const pieces = type === 'hardware' ? [{ address, length: 1 }] : split(address, length);
    const free = this.slots.flatMap((s, i) => (s ? [] : [i]));
    if (pieces.length === 0 || pieces.length > free.length) throw new RangeError('no free debug register');
    const request = { type, address, length, owner }; // one object for all its pieces: watchHits names it once
    for (const [k, p] of pieces.entries()) this.slots[free[k]!] = { request, ...p };
    this.noteWatching();
  }

  /**
   * Some slot watches data. A step that also fires a watchpoint stops as a
   * step (si_code TRAP_TRACE wins: arch/x86/kernel/traps.c, get_si_code), so
   * only then is DR6 worth reading after a step.
   */
  watching = false;

  private noteWatching(): void {
    this.watching = this.slots.some((s) => s !== undefined && s.request.type !== 'hardware' && s.request.type !== 'software');
  }

  /** The watchpoint DR6 says fired, if any. */
  watchHit(dr6: bigint): Slot['request'] | undefined {
    return this.watchHits(dr6)[0];
  }

  /**
   * Every watchpoint DR6 says fired, each once (a region split over several
   * slots is one): one instruction can touch two watched regions, or two
   * watchpoints can overlap, and the CPU then sets a bit for each (Intel SDM
   * vol. 3, 18.2.3).
   */
  watchHits(dr6: bigint): Slot['request'][] {
    const hits: Slot['request'][] = [];
    for (let i = 0; i < 4; i++) {
      const s = this.slots[i];
      if ((dr6 >> BigInt(i)) & 1n && s && s.request.type !== 'hardware' && s.request.type !== 'software' && !hits.includes(s.request)) hits.push(s.request);
    }
    return hits;
  }

  get free(): number {
    return this.slots.filter((s) => !s).length;
  }

  remove(type: BreakpointType, address: bigint, length: number, owner: SlotOwner = 'gdb'): void {
    this.slots = this.slots.map((s) =>
      s && s.request.type === type && s.request.address === address && s.request.length === length && s.request.owner === owner ? undefined : s,
    );
    this.noteWatching();
  }

  holds(type: BreakpointType, address: bigint, length: number, owner: SlotOwner): boolean {
    return this.slots.some((s) => s?.request.type === type && s.request.address === address && s.request.length === length && s.request.owner === owner);
  }

  /** Whether gdb holds a slot of this kind at `address`. */
  has(type: BreakpointType, address: bigint): boolean {
    return this.slots.some((s) => s !== undefined && s.request.owner === 'gdb' && s.request.type === type && s.request.address === address);
  }

  /** Addresses of the slots of one of our own kinds (conditions, tracepoints). */
  addressesOf(owner: Exclude<SlotOwner, 'gdb'>): bigint[] {
    return this.slots.flatMap((s) => (s && s.request.owner === owner ? [s.request.address] : []));
  }

  clear(): void {
    this.slots = [undefined, undefined, undefined, undefined];
    this.watching = false;
  }

  get dr7(): bigint {
    let dr7 = 0n;
    this.slots.forEach((s, i) => {
      if (!s) return;
      dr7 |= 1n << BigInt(i * 2);
      dr7 |= BigInt(RW[s.request.type]) << BigInt(16 + i * 4);
      dr7 |= BigInt(LEN[s.length]!) << BigInt(18 + i * 4);
    });
    return dr7;
  }

  /**
   * The host takes the registers and never fires them (probeDebugRegisters):
   * the slots are only counted, and watched another way (BreakpointTable),
   * so nothing is written into threads.
   */
  emulated = false;

  /** Writes the slots into a stopped thread. */
  applyTo(thread: Thread): void {
    if (!thread.arch.debugRegisters || this.emulated) return;
    const dr7 = this.dr7;
    if (dr7 === 0n && !this.touched.has(thread.tid)) return;
    this.touched.add(thread.tid);
    thread.setDebugRegister(7, 0n);
    for (const [i, s] of this.slots.entries()) thread.setDebugRegister(i, s ? s.address : 0n);
    thread.setDebugRegister(7, dr7);
  }

  private readonly touched = new Set<number>();

  /** The request whose slot DR6 says fired. */
  hit(dr6: bigint): Slot['request'] | undefined {
    for (let i = 0; i < 4; i++) if ((dr6 >> BigInt(i)) & 1n && this.slots[i]) return this.slots[i]!.request;
    return undefined;
  }
}

function split(address: bigint, length: number): { address: bigint; length: number }[] {
  const out: { address: bigint; length: number }[] = [];
  let at = address;
  let left = length;
  while (left > 0) {
    let size = 8;
    while (size > 1 && (at % BigInt(size) !== 0n || size > left)) size >>= 1;
    out.push({ address: at, length: size });
    at += BigInt(size);
    left -= size;
  }
  return out;
}
