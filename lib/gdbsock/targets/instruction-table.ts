/**
 * The memory operands of the instructions a thread steps, for access
 * watchpoints watched by stepping (SteppedWatchpoints): native/step.c looks
 * each pc up here before stepping it, computes the addresses its operands
 * touch from the registers, and compares them with the watched slots. An
 * instruction not here yet stops the loop, and is decoded here, once per pc:
 * the table keeps its bytes, so code that changes at a pc is decoded again.
 *
 * Decoding is iced-x86's (Rust compiled to WebAssembly): every x86-64
 * instruction with its implicit operands (push, call, ret, string
 * operations), which a hand-written operand decoder would get wrong for
 * years. It loads on first use, so only sessions that need it pay for it.
 *
 * Not seen: gathers and scatters (their index is a vector register) and
 * operands of no fixed size (xsave, xrstor).
 */
import type * as Iced from 'iced-x86';

/** One entry's words (native/shims.h, HK_INSN_WORDS): pc, 16 code bytes, length and count, 4 operands of 2. */
const OPERANDS = 4;
const ENTRY_WORDS = 4 + 2 * OPERANDS;
/** Entries (a power of two); the table starts again empty when half full, so probes stay short. */
const ENTRIES = 4096;
/** The layout word's fields (native/shims.h). */
const SEGMENT_FS = 1n << 24n;
const SEGMENT_GS = 2n << 24n;
const ADDRESS_32 = 1n << 26n;
const REPEATED = 1n << 27n;
/** The longest x86 instruction. */
export const MAX_INSTRUCTION = 15;

let iced: typeof Iced | undefined;
function decoderLibrary(): typeof Iced {
  iced ??= require('iced-x86') as typeof Iced;
  return iced;
}

export class InstructionTable {
  readonly words = new BigUint64Array(ENTRY_WORDS * ENTRIES);
  private used = 0;
  /** iced's Register value -> the register's word in NT_PRSTATUS + 1, for 64- and 32-bit general registers. */
  private readonly wordOf = new Map<number, number>();
  /** iced's operand analyser, made at the first decode and kept (it holds its buffers between calls). */
  private factory: Iced.InstructionInfoFactory | undefined;

  /** `gprNames`: NT_PRSTATUS's words by name (ArchLayout.gprNames). */
  constructor(private readonly gprNames: readonly string[]) {}

  /** Decodes the instruction whose bytes at `pc` start `code` (up to MAX_INSTRUCTION of them) into the table. */
  learn(pc: bigint, code: Buffer): void {
    if (this.used >= ENTRIES / 2) this.clear();
    const at = this.slotFor(pc);
    if (this.words[at] === 0n) this.used++;
    this.words.fill(0n, at, at + ENTRY_WORDS);
    this.words[at] = pc;
    const { length, operands } = this.decode(pc, code);
    const bytes = Buffer.alloc(16);
    code.copy(bytes, 0, 0, Math.min(length, 16));
    this.words[at + 1] = bytes.readBigUInt64LE(0);
    this.words[at + 2] = bytes.readBigUInt64LE(8);
    this.words[at + 3] = BigInt(length) | (BigInt(operands.length) << 8n);
    for (const [k, op] of operands.entries()) {
      this.words[at + 4 + 2 * k] = op.displacement;
      this.words[at + 5 + 2 * k] = op.layout;
    }
  }

  clear(): void {
    this.words.fill(0n);
    this.used = 0;
  }

  /** The entry for pc: its own, or the first empty one its probe reaches (the hash is native/shims.h's HK_INSN_HASH). */
  private slotFor(pc: bigint): number {
    let i = Number((BigInt.asUintN(64, pc * 0x9e3779b97f4a7c15n) >> 40n) & BigInt(ENTRIES - 1));
    for (;;) {
      const word = this.words[i * ENTRY_WORDS];
      if (word === 0n || word === pc) return i * ENTRY_WORDS;
      i = (i + 1) & (ENTRIES - 1);
    }
  }

  private decode(pc: bigint, code: Buffer): { length: number; operands: { displacement: bigint; layout: bigint }[] } {
    const x86 = decoderLibrary();
    const decoder = new x86.Decoder(64, new Uint8Array(code.subarray(0, MAX_INSTRUCTION)), x86.DecoderOptions.None);
    decoder.ip = pc;
    const instruction = decoder.decode();
    this.factory ??= new x86.InstructionInfoFactory();
    const info = this.factory.info(instruction);
    const operands: { displacement: bigint; layout: bigint }[] = [];
    try {
      const repeated = instruction.isStringInstruction && (instruction.hasRepPrefix || instruction.hasRepePrefix || instruction.hasRepnePrefix);
      for (const used of info.usedMemory()) {
        try {
          const size = x86.MemorySizeExt.size(used.memorySize) || (repeated ? x86.MemorySizeExt.size(instruction.memorySize) : 0);
          if (used.access === x86.OpAccess.NoMemAccess || size === 0 || operands.length === OPERANDS) continue;
          if (used.index !== x86.Register.None && x86.RegisterExt.isVectorRegister(used.index)) continue; // a gather's lanes: not computed
          const base = this.registerWord(x86, used.base);
          const index = this.registerWord(x86, used.index);
          if (base === undefined || index === undefined) continue;
          const narrow = [used.base, used.index].some((r) => r !== x86.Register.None && x86.RegisterExt.isGPR32(r));
          let layout = BigInt(base) | (BigInt(index) << 8n) | (BigInt(used.scale) << 16n) | (BigInt(size) << 32n);
          if (used.segment === x86.Register.FS) layout |= SEGMENT_FS;
          if (used.segment === x86.Register.GS) layout |= SEGMENT_GS;
          if (narrow) layout |= ADDRESS_32;
          if (repeated) layout |= REPEATED;
          operands.push({ displacement: BigInt.asUintN(64, used.displacement), layout });
        } finally {
          used.free();
        }
      }
      return { length: instruction.length, operands };
    } finally {
      info.free();
      instruction.free();
      decoder.free();
    }
  }

  /**
   * A register's word + 1 (0 for none or the pc: iced gives a pc-relative
   * operand's address whole, in the displacement), or undefined for one a
   * step cannot compute from general registers.
   */
  private registerWord(x86: typeof Iced, register: Iced.Register): number | undefined {
    if (register === x86.Register.None || register === x86.Register.RIP || register === x86.Register.EIP) return 0;
    let word = this.wordOf.get(register);
    if (word === undefined) {
      if (!x86.RegisterExt.isGPR64(register) && !x86.RegisterExt.isGPR32(register)) return undefined;
      const name = x86.Register[x86.RegisterExt.fullRegister(register)]?.toLowerCase();
      const at = name === undefined ? -1 : this.gprNames.indexOf(name);
      if (at < 0) return undefined;
      word = at + 1;
      this.wordOf.set(register, word);
    }
    return word;
  }
}
