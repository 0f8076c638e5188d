/**
 * gdb's write and access watchpoints where the host takes debug register
 * settings but never fires them (a PVM guest: probeDebugRegisters). The
 * slots DebugRegisters gives them are watched by stepping instead: each
 * thread gdb runs goes one instruction at a time, in native code
 * (Thread.stepWhileIn with this as its StepWatch), and a step is reported as
 * the CPU reports a data breakpoint, after the instruction, with the slot's
 * bit in DR6, when
 * - a write slot's bytes changed: unlike the CPU's, a write of the bytes
 *   already there is no hit (gdb would carry on from it anyway: a `watch`
 *   reports changes), and a change made by another thread while this one
 *   steps is seen at this one's next step;
 * - the instruction's memory operands touch an access slot, computed before
 *   the step from its registers and its decoded operands (InstructionTable).
 *
 * Steps taken outside the native loop (gdbsock's own steps off breakpoints)
 * have their access computed first by beforeStep.
 */
import { hasCode } from '../../errors';
import { addon } from '../../native';
import type { StepWatch, Thread } from '../../ptrace';
import { DEBUG_REGISTER_SLOTS } from './debug-registers';
import { InstructionTable, MAX_INSTRUCTION } from './instruction-table';

export interface WatchedPiece {
  address: bigint;
  length: number;
  /** 'write': seen by its bytes changing; 'access': by the operands of the instructions stepped. */
  kind: 'write' | 'access';
}

/** native/shims.h: the access slots' pairs after the write triples, then what the loop tells back. */
const ACCESS = 12;
const HIT = 20;
const UNDECODED = 21;
const STEPS = 22;
const WORDS = 23;

export class SteppedWatchpoints implements StepWatch {
  /** Write slot i's address, length (0: not watched) and the bytes last seen there at 3i..3i+2, access slot i's address and length at ACCESS+2i (native/shims.h, HK_WATCH_WORDS). */
  readonly words = new BigUint64Array(WORDS);
  private watching = false;
  private table: InstructionTable | undefined;
  /** The access slots each thread's step in flight touches, as DR6 bits (reported at its step's stop). */
  private readonly touched = new Map<number, bigint>();

  constructor(
    private readonly read: (address: bigint, length: number) => Buffer,
    private readonly gprNames: readonly string[],
  ) {}

  /** Some slot is watched: the threads gdb runs must step. */
  get active(): boolean {
    return this.watching;
  }

  /** The decoded instructions while an access slot is watched. */
  get instructions(): BigUint64Array | undefined {
    return this.table?.words;
  }

  /** Watches the slots (DebugRegisters.steppedPieces; undefined where a slot holds no watchpoint) from their bytes now. */
  watch(slots: readonly (WatchedPiece | undefined)[]): void {
    this.words.fill(0n);
    this.touched.clear();
    let accessing = false;
    for (const [i, piece] of slots.entries()) {
      if (!piece) continue;
      const at = piece.kind === 'write' ? 3 * i : ACCESS + 2 * i;
      this.words[at] = piece.address;
      this.words[at + 1] = BigInt(piece.length);
      accessing ||= piece.kind === 'access';
    }
    this.watching = slots.some((p) => p !== undefined);
    if (accessing) this.table ??= new InstructionTable(this.gprNames);
    else this.table = undefined;
    this.rebase();
  }

  /** Takes every write slot's bytes now as the point changes count from (each resume: gdb may have written since). */
  rebase(): void {
    if (this.watching) this.writesChanged();
  }

  /** DR6's bits for the slots thread `tid`'s step fired: write slots whose bytes changed since last seen (their new bytes kept), access slots it touched. */
  changed(tid: number): bigint {
    const touched = this.touched.get(tid) ?? 0n;
    this.touched.delete(tid);
    return this.writesChanged() | touched;
  }

  /** Before a step of `t` outside the native loop: the access slots it will touch, for changed() at its stop. */
  beforeStep(t: Thread): void {
    if (!this.table) return;
    const registers = t.registersOfStop();
    for (;;) {
      const bits = addon.watchedAccess(t.tid, registers, t.arch.pcOffset, this.words, this.table.words);
      if (bits >= 0) return void this.touched.set(t.tid, BigInt(bits));
      this.learnUndecoded();
    }
  }

  /** StepWatch: decodes the instruction native code stopped before (its bytes as the program has them: a step runs only lifted code). */
  learnUndecoded(): void {
    if (!this.table) return;
    const pc = this.words[UNDECODED]!;
    let code: Buffer;
    try {
      code = this.read(pc, MAX_INSTRUCTION);
    } catch (err) {
      if (!hasCode(err, 'EFAULT', 'EIO', 'ESRCH')) throw err;
      code = Buffer.alloc(0); // nothing there: an entry of no operands, and the step faults
    }
    this.table.learn(pc, code);
  }

  /** StepWatch: the native loop ended; the access slots its last step touched belong to that step's stop. */
  ended(tid: number): void {
    this.touched.set(tid, this.words[HIT]!);
    this.words[HIT] = 0n;
  }

  /** StepWatch: whether the loop took a step (a signal to deliver went with the first). */
  get stepsTaken(): bigint {
    return this.words[STEPS]!;
  }

  private writesChanged(): bigint {
    let dr6 = 0n;
    for (let i = 0; i < DEBUG_REGISTER_SLOTS; i++) {
      const length = Number(this.words[3 * i + 1]);
      if (length === 0) continue;
      const now = this.bytesAt(this.words[3 * i]!, length);
      if (now === undefined || now === this.words[3 * i + 2]) continue; // unreadable counts as unchanged, as in native/step.c
      this.words[3 * i + 2] = now;
      dr6 |= 1n << BigInt(i);
    }
    return dr6;
  }

  /** The piece's bytes as native/step.c compares them: little-endian, zero above `length`. */
  private bytesAt(address: bigint, length: number): bigint | undefined {
    let bytes: Buffer;
    try {
      bytes = this.read(address, length);
    } catch (err) {
      if (hasCode(err, 'EFAULT', 'EIO', 'ESRCH')) return undefined;
      throw err;
    }
    if (bytes.length < length) return undefined;
    this.padded.fill(0);
    bytes.copy(this.padded);
    return this.padded.readBigUInt64LE(0);
  }

  private readonly padded = Buffer.alloc(8);
}
