/**
 * gdb's registers of a traced process's stopped threads, in the layout gdb
 * was given: read from the kernel once per stop and kept until the thread
 * runs or they are written. The general registers come from the thread's own
 * copy of its stop (Thread.registersOfStop); the rest, from the XSAVE image,
 * only when gdb asks for one of them.
 */
import type { Thread } from '../../ptrace';
import { decodeWords } from '../../ptrace/arch';
import type { Regsets, RegisterLayout } from '../registers';

/** Stands in for the FXSAVE image where only a general register is decoded (nothing writes it). */
const NO_FXSAVE = Buffer.alloc(512);

export class StopRegisters {
  private readonly regsetCache = new Map<number, Regsets>();
  /** Hex of a stop's general regset (registersOfStop's buffer, new at each stop). */
  private readonly gprHex = new WeakMap<Buffer, string>();
  private readonly gprCache = new Map<number, Record<string, bigint>>();
  /** For each gdb register number, its word in the kernel's general regset (-1: not there). */
  private readonly gprWordOf: number[];
  private allRegisters: ReadonlySet<number> | undefined;
  private outsideGpr: ReadonlySet<number> | undefined;

  constructor(
    readonly layout: RegisterLayout,
    private readonly gprNames: readonly string[],
    private readonly thread: (tid: number) => Thread,
  ) {
    this.gprWordOf = layout.registers.map((r) => gprNames.indexOf(r.name));
  }

  readAll(tid: number): Buffer {
    return this.layout.encodeAll(this.regsets(tid));
  }

  read(tid: number, regno: number): Buffer {
    // The stop reply's expedited registers are all general ones: bytes of one GETREGSET, little-endian as on the wire.
    const word = this.gprWordOf[regno] ?? -1;
    if (word >= 0) {
      const at = word * 8;
      return this.rawGpr(tid).subarray(at, at + this.layout.registers[regno]!.size);
    }
    return this.layout.encode(this.regsets(tid), regno);
  }

  readHex(tid: number, regno: number): string {
    const word = this.gprWordOf[regno] ?? -1;
    if (word < 0) return this.read(tid, regno).toString('hex');
    // One hex string per stop for all general registers; each register is a slice of it.
    const raw = this.rawGpr(tid);
    let hex = this.gprHex.get(raw);
    if (hex === undefined) {
      hex = raw.toString('hex');
      this.gprHex.set(raw, hex);
    }
    return hex.substring(word * 16, word * 16 + this.layout.registers[regno]!.size * 2);
  }

  write(tid: number, regno: number, value: Buffer): void {
    const thread = this.thread(tid);
    if ((this.gprWordOf[regno] ?? -1) >= 0) {
      // A general register (P of the pc, say): one SETREGSET, without reading the XSAVE image.
      const gpr = { ...this.gpr(tid) };
      if (this.layout.decode({ gpr, fxsave: NO_FXSAVE }, regno, value) === 'gpr') {
        thread.setRegisters(gpr);
        this.forget(tid);
        return;
      }
    }
    const rs = this.regsets(tid);
    const which = this.layout.decode(rs, regno, value);
    if (which === 'gpr') thread.setRegisters(rs.gpr);
    else if (which === 'fxsave') thread.setFpRegistersRaw(rs.fxsave);
    else if (rs.xstate) thread.setXstate(rs.xstate);
    this.forget(tid);
  }

  /**
   * Several registers at once (gdb's G): each regset they touch is written
   * once, where `write` would read and write the XSAVE image per register.
   * The XSAVE image goes first and the FXSAVE one after it, so x87 and SSE
   * values written here win over the image's copy of them.
   */
  writeMany(tid: number, values: readonly (readonly [number, Buffer])[]): void {
    const thread = this.thread(tid);
    const rs = this.regsets(tid);
    const touched = new Set<'gpr' | 'fxsave' | 'xstate'>();
    for (const [regno, value] of values) touched.add(this.layout.decode(rs, regno, value));
    try {
      if (touched.has('gpr')) thread.setRegisters(rs.gpr);
      if (touched.has('xstate') && rs.xstate) thread.setXstate(rs.xstate);
      if (touched.has('fxsave')) thread.setFpRegistersRaw(rs.fxsave);
    } finally {
      this.forget(tid);
    }
  }

  /**
   * Every register of a thread killed out of its stop, from the general regset
   * kept of that stop (Thread.lastRegisters); the others, which were not kept,
   * as zeros: unavailableWith says which.
   */
  readKept(raw: Buffer | undefined): Buffer {
    return raw ? this.layout.encodeAll(this.keptRegsets(raw)) : Buffer.alloc(this.layout.gSize);
  }

  readKeptOne(raw: Buffer | undefined, regno: number): Buffer {
    const size = this.layout.registers[regno]?.size ?? 0;
    return raw ? this.layout.encode(this.keptRegsets(raw), regno) : Buffer.alloc(size);
  }

  /** The registers readKept has no value for: the ones outside the general regset, or all of them with none kept. */
  unavailableWith(raw: Buffer | undefined): ReadonlySet<number> {
    if (!raw) {
      this.allRegisters ??= new Set(this.layout.registers.map((_, i) => i));
      return this.allRegisters;
    }
    this.outsideGpr ??= new Set(this.gprWordOf.flatMap((word, i) => (word < 0 ? [i] : [])));
    return this.outsideGpr;
  }

  private keptRegsets(raw: Buffer): Regsets {
    return { gpr: decodeWords(this.gprNames, raw), fxsave: Buffer.alloc(512) };
  }

  /** Drops what was decoded for `tid` (every thread if none): it ran, or its registers changed. */
  forget(tid?: number): void {
    if (tid === undefined) {
      this.regsetCache.clear();
      this.gprCache.clear();
    } else {
      this.regsetCache.delete(tid);
      this.gprCache.delete(tid);
    }
  }

  /** The general regset as the kernel gave it at this stop: one GETREGSET per stop, whoever asks. */
  private rawGpr(tid: number): Buffer {
    return this.thread(tid).registersOfStop();
  }

  private gpr(tid: number): Record<string, bigint> {
    let regs = this.gprCache.get(tid);
    if (!regs) {
      regs = decodeWords(this.gprNames, this.rawGpr(tid));
      this.gprCache.set(tid, regs);
    }
    return regs;
  }

  private regsets(tid: number): Regsets {
    let rs = this.regsetCache.get(tid);
    if (!rs) {
      const xstate = this.thread(tid).getXstate();
      rs = { gpr: { ...this.gpr(tid) }, fxsave: Buffer.from(xstate.subarray(0, 512)), xstate };
      this.regsetCache.set(tid, rs);
    }
    return rs;
  }
}
