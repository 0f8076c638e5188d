/**
 * gdb's write watchpoints where the host takes debug register settings but
 * never fires them (a PVM guest: probeDebugRegisters). The slots
 * DebugRegisters gives them are watched by stepping instead: each thread gdb
 * runs goes one instruction at a time, in native code (Thread.stepWhileIn
 * with `words`), and a step after which a slot's bytes changed is that
 * slot's hit, reported as the CPU reports a data breakpoint: after the
 * write, with the slot's bit in DR6.
 *
 * Unlike the CPU's, a write of the bytes already there is no hit (gdb would
 * carry on from it anyway: a `watch` reports changes), and a change made by
 * another thread while this one steps is seen at this one's next step.
 */
import { hasCode } from '../../errors';
import { DEBUG_REGISTER_SLOTS } from './debug-registers';

export interface WatchedPiece {
  address: bigint;
  length: number;
}

export class SteppedWatchpoints {
  /** Slot i's address, length (0: not watched) and the bytes last seen there, at 3i, 3i+1, 3i+2 (native/shims.h, hk_step_range). */
  readonly words = new BigUint64Array(3 * DEBUG_REGISTER_SLOTS);
  private watching = false;

  constructor(private readonly read: (address: bigint, length: number) => Buffer) {}

  /** Some slot is watched: the threads gdb runs must step. */
  get active(): boolean {
    return this.watching;
  }

  /** Watches the write slots (DebugRegisters.writePieces, undefined for any other) from their bytes now. */
  watch(slots: readonly (WatchedPiece | undefined)[]): void {
    this.words.fill(0n);
    for (const [i, piece] of slots.entries()) {
      if (!piece) continue;
      this.words[3 * i] = piece.address;
      this.words[3 * i + 1] = BigInt(piece.length);
    }
    this.watching = slots.some((p) => p !== undefined);
    this.rebase();
  }

  /** Takes every slot's bytes now as the point changes count from (each resume: gdb may have written since). */
  rebase(): void {
    if (this.watching) this.changed();
  }

  /** DR6's bits for the slots whose bytes changed since last seen; their new bytes are kept. */
  changed(): bigint {
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
