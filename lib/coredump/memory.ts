/**
 * A core's memory by virtual address. Only the bytes a PT_LOAD carries in
 * the file exist; the rest of its memsz (filesz < memsz), and everything no
 * segment covers, is unavailable: reported, never invented as zeros.
 */
import { UnavailableMemoryError } from './errors';
import { findRange } from './ranges';

/** Gives `length` bytes of segment data starting `offset` bytes into the core file. */
export interface ByteSource {
  read(fileOffset: number, length: number): Buffer;
}

export interface MemorySegment {
  vaddr: bigint;
  memsz: bigint;
  fileOffset: number;
  filesz: number;
  /** PF_R | PF_W | PF_X */
  flags: number;
}

export interface AvailableRange {
  start: bigint;
  end: bigint;
}

export class CoreMemory {
  /** Sorted by address. */
  readonly segments: readonly MemorySegment[];

  constructor(
    segments: readonly MemorySegment[],
    private readonly source: ByteSource,
  ) {
    this.segments = [...segments].sort((a, b) => (a.vaddr < b.vaddr ? -1 : a.vaddr > b.vaddr ? 1 : 0));
  }

  /** The segment whose mapping (memsz) holds `address`, if any. */
  segmentAt(address: bigint): MemorySegment | undefined {
    return findRange(
      this.segments,
      address,
      (s) => s.vaddr,
      (s) => s.vaddr + s.memsz,
    );
  }

  /** Address ranges whose bytes the core holds, merged where they touch. */
  available(): AvailableRange[] {
    const result: AvailableRange[] = [];
    for (const s of this.segments) {
      if (s.filesz === 0) continue;
      const end = s.vaddr + BigInt(s.filesz);
      const last = result[result.length - 1];
      if (last && last.end === s.vaddr) last.end = end;
      else result.push({ start: s.vaddr, end });
    }
    return result;
  }

  /** Reads exactly `length` bytes, or throws UnavailableMemoryError naming the first missing address. */
  read(address: bigint | number, length: number): Buffer {
    const at = BigInt(address);
    const got = this.readAvailable(at, length);
    if (got.length < length) throw new UnavailableMemoryError(at, length, at + BigInt(got.length));
    return got;
  }

  /** Reads as many of the `length` bytes at `address` as the core holds without a gap (maybe none). */
  readAvailable(address: bigint | number, length: number): Buffer {
    if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`length must be a non-negative integer, got ${length}`);
    let at = BigInt(address);
    const parts: Buffer[] = [];
    let remaining = length;
    while (remaining > 0) {
      const s = this.segmentAt(at);
      if (!s) break;
      const into = Number(at - s.vaddr);
      if (into >= s.filesz) break;
      const n = Math.min(remaining, s.filesz - into);
      parts.push(this.source.read(s.fileOffset + into, n));
      remaining -= n;
      at += BigInt(n);
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  /** A NUL-terminated string at `address` (at most `max` bytes), or undefined if it is not all there. */
  readCString(address: bigint | number, max = 4096): string | undefined {
    const bytes = this.readAvailable(address, max);
    const end = bytes.indexOf(0);
    return end < 0 ? undefined : bytes.toString('utf8', 0, end);
  }
}
