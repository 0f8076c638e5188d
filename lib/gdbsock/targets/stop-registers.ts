/**
 * gdb's registers of a traced process's stopped threads, in the layout gdb
 * was given: read from the kernel once per stop and kept until the thread
 * runs or they are written. The general registers come from the thread's own
 * copy of its stop (Thread.registersOfStop); the rest, from the XSAVE image,
 * only when gdb asks for one of them.
 */
import type { Thread } from '../../ptrace';
import { decodeWords } from '../../ptrace/arch';
import type { Regset, Regsets, RegisterLayout } from '../registers';

/** Stands in for the FXSAVE image where only a general register is decoded (nothing writes it). */
const NO_FXSAVE = Buffer.alloc(512);

/** A thread's FXSAVE and XSAVE images of one stop. */
interface Images {
  fxsave: Buffer;
  xstate: Buffer;
}

export class StopRegisters {
  private readonly imageCache = new Map<number, Images>();
  /** Each thread's registers in gdb's layout, the `g` reply's bytes: shared, never changed, replaced when a register changes. */
  private readonly layoutCache = new Map<number, Buffer>();
  /** Hex of a stop's general regset (registersOfStop's buffer, new at each stop). */
  private readonly gprHex = new WeakMap<Buffer, string>();
  private readonly gprCache = new Map<number, Record<string, bigint>>();
  /** For each gdb register number, its word in the kernel's general regset (-1: not there). */
  private readonly gprWordOf: number[];
  /** The register each byte of the layout belongs to. */
  private readonly registerAt: Uint16Array;
  /** The registers of the general regset. */
  private readonly gprRegisters: number[];
  private allRegisters: ReadonlySet<number> | undefined;
  private outsideGpr: ReadonlySet<number> | undefined;

  constructor(
    readonly layout: RegisterLayout,
    private readonly gprNames: readonly string[],
    private readonly thread: (tid: number) => Thread,
  ) {
    this.gprWordOf = layout.registers.map((r) => gprNames.indexOf(r.name));
    this.gprRegisters = layout.registers.flatMap((r, i) => (r.source.kind === 'gpr' ? [i] : []));
    this.registerAt = new Uint16Array(layout.gSize);
    for (let i = 0; i < layout.registers.length; i++) this.registerAt.fill(i, layout.offsets[i], layout.offsets[i + 1]);
  }

  /** Every register, the `g` reply's bytes: one encoding per stop (or per write), shared; the caller must not change it. */
  readAll(tid: number): Buffer {
    let all = this.layoutCache.get(tid);
    if (all === undefined) {
      all = this.layout.encodeAll(this.regsets(tid));
      this.layoutCache.set(tid, all);
    }
    return all;
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
    if ((this.gprWordOf[regno] ?? -1) >= 0) {
      // A general register (P of the pc, say): one SETREGSET, without reading the XSAVE image.
      const gpr = { ...this.gpr(tid) };
      if (this.layout.decode({ gpr, fxsave: NO_FXSAVE }, regno, value) === 'gpr') {
        this.writeRegsets(tid, { gpr, fxsave: NO_FXSAVE }, new Set(['gpr']));
        return;
      }
    }
    const rs = this.regsetsToWrite(tid);
    this.writeRegsets(tid, rs, new Set([this.layout.decode(rs, regno, value)]));
  }

  /**
   * gdb's G: the registers `data` covers, in the layout's order. Only the
   * registers whose bytes differ from the ones held are decoded, and only the
   * regsets they belong to are written, each once (gdb rewrites every
   * register to change one; gdbserver keeps them all until the thread runs).
   */
  writeAll(tid: number, data: Buffer): void {
    const held = this.readAll(tid);
    const { registerAt } = this;
    const { offsets } = this.layout;
    const end = Math.min(data.length, held.length);
    let rs: Regsets | undefined;
    const touched = new Set<Regset>();
    // A byte loop, not Buffer.compare: a native call per register cost more than the whole loop once optimized.
    for (let at = 0; at < end; at++) {
      if (data[at] === held[at]) continue;
      const regno = registerAt[at]!;
      const to = offsets[regno + 1]!;
      if (to > data.length) break; // cut short by the end of data: not written
      rs ??= this.regsetsToWrite(tid);
      touched.add(this.layout.decode(rs, regno, data.subarray(offsets[regno]!, to)));
      at = to - 1;
    }
    if (rs) this.writeRegsets(tid, rs, touched);
  }

  /**
   * Writes the regsets `touched` names, the XSAVE image before the FXSAVE one,
   * so x87 and SSE values written win over the image's copy of them; then
   * drops what the kernel may have adjusted, to be read again.
   */
  private writeRegsets(tid: number, rs: Regsets, touched: ReadonlySet<Regset>): void {
    const thread = this.thread(tid);
    try {
      if (touched.has('gpr')) thread.setRegisters(rs.gpr);
      if (touched.has('xstate') && rs.xstate) thread.setXstate(rs.xstate);
      if (touched.has('fxsave')) thread.setFpRegistersRaw(rs.fxsave);
    } catch (err) {
      this.forget(tid);
      throw err;
    }
    if (touched.has('xstate') || touched.has('fxsave')) {
      this.forget(tid);
      return;
    }
    // Only general registers changed (gdb's inferior calls): read those back from the kernel, which may
    // have adjusted them (flags, selectors), and keep the rest of the layout and the images as they were.
    const held = this.layoutCache.get(tid);
    this.gprCache.delete(tid);
    this.layoutCache.delete(tid);
    if (held === undefined) return;
    const all = Buffer.from(held);
    const kernel: Regsets = { gpr: this.gpr(tid), fxsave: NO_FXSAVE };
    for (const regno of this.gprRegisters) this.layout.encodeInto(kernel, regno, all, this.layout.offsets[regno]!);
    this.layoutCache.set(tid, all);
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
      this.imageCache.clear();
      this.gprCache.clear();
      this.layoutCache.clear();
    } else {
      this.imageCache.delete(tid);
      this.gprCache.delete(tid);
      this.layoutCache.delete(tid);
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

  /** The regsets to read from: the kept ones themselves. */
  private regsets(tid: number): Regsets {
    const { fxsave, xstate } = this.images(tid);
    return { gpr: this.gpr(tid), fxsave, xstate };
  }

  /** Copies of the kept regsets, for decode to change before they are written. */
  private regsetsToWrite(tid: number): Regsets {
    const { fxsave, xstate } = this.images(tid);
    return { gpr: { ...this.gpr(tid) }, fxsave: Buffer.from(fxsave), xstate: Buffer.from(xstate) };
  }

  private images(tid: number): Images {
    let images = this.imageCache.get(tid);
    if (!images) {
      const xstate = this.thread(tid).getXstate();
      images = { fxsave: Buffer.from(xstate.subarray(0, 512)), xstate };
      this.imageCache.set(tid, images);
    }
    return images;
  }
}
