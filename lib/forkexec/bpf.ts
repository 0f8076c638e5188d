/**
 * A tiny classic-BPF assembler for seccomp filters: instructions with symbolic
 * jump targets, assembled into the `struct sock_filter` array the kernel takes
 * (linux/filter.h: u16 code, u8 jt, u8 jf, u32 k, little-endian on the hosts we run on).
 */

/** Opcodes used by seccomp filters (linux/bpf_common.h). */
export const Op = {
  LD_W_ABS: 0x20, // BPF_LD | BPF_W | BPF_ABS: A = 32-bit word of seccomp_data at k
  JEQ_K: 0x15, // BPF_JMP | BPF_JEQ | BPF_K
  JGE_K: 0x35, // BPF_JMP | BPF_JGE | BPF_K
  JSET_K: 0x45, // BPF_JMP | BPF_JSET | BPF_K
  RET_K: 0x06, // BPF_RET | BPF_K
} as const;

/** Offsets into struct seccomp_data (linux/seccomp.h). */
export const SeccompData = {
  nr: 0,
  arch: 4,
  /** The low 32 bits of argument i (x86_64 and aarch64 are little-endian). */
  argLow: (i: number) => 16 + 8 * i,
} as const;

/** Filter return values (linux/seccomp.h); the low 16 bits carry data (the errno). */
export const Ret = {
  KILL_PROCESS: 0x80000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  USER_NOTIF: 0x7fc00000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
} as const;

/** A jump target: the next instruction, or a label placed later in the program. */
export type Target = 'next' | string;

interface Insn {
  code: number;
  k: number;
  jt: Target;
  jf: Target;
}

/** Classic BPF jumps only forward, by at most 255 instructions. */
const MAX_JUMP = 255;
/** BPF_MAXINSNS (linux/bpf_common.h). */
const MAX_INSNS = 4096;

export class Assembler {
  private readonly insns: Insn[] = [];
  private readonly labels = new Map<string, number>();

  load(offset: number): this {
    return this.emit(Op.LD_W_ABS, offset, 'next', 'next');
  }

  /** if (A == k) goto jt else goto jf */
  jeq(k: number, jt: Target, jf: Target = 'next'): this {
    return this.emit(Op.JEQ_K, k, jt, jf);
  }

  /** if (A >= k) goto jt else goto jf (unsigned) */
  jge(k: number, jt: Target, jf: Target = 'next'): this {
    return this.emit(Op.JGE_K, k, jt, jf);
  }

  /** if (A & k) goto jt else goto jf */
  jset(k: number, jt: Target, jf: Target = 'next'): this {
    return this.emit(Op.JSET_K, k, jt, jf);
  }

  ret(value: number): this {
    return this.emit(Op.RET_K, value, 'next', 'next');
  }

  label(name: string): this {
    if (name === 'next') throw new RangeError("'next' is reserved");
    if (this.labels.has(name)) throw new RangeError(`label ${name} placed twice`);
    this.labels.set(name, this.insns.length);
    return this;
  }

  get length(): number {
    return this.insns.length;
  }

  /** The program as sock_filter bytes, 8 per instruction. */
  assemble(): Buffer {
    if (this.insns.length === 0 || this.insns.length > MAX_INSNS) {
      throw new RangeError(`a filter has 1 to ${MAX_INSNS} instructions, this one ${this.insns.length}`);
    }
    const last = this.insns[this.insns.length - 1]!;
    if (last.code !== Op.RET_K) throw new RangeError('a filter must end with a return');
    const out = Buffer.alloc(this.insns.length * 8);
    this.insns.forEach((insn, i) => {
      out.writeUInt16LE(insn.code, i * 8);
      out.writeUInt8(this.offset(insn.jt, i), i * 8 + 2);
      out.writeUInt8(this.offset(insn.jf, i), i * 8 + 3);
      out.writeUInt32LE(insn.k >>> 0, i * 8 + 4);
    });
    return out;
  }

  private offset(target: Target, at: number): number {
    if (target === 'next') return 0;
    const to = this.labels.get(target);
    if (to === undefined) throw new RangeError(`jump to unknown label ${target}`);
    const distance = to - at - 1;
    if (distance < 0) throw new RangeError(`label ${target} is behind instruction ${at}: BPF jumps only forward`);
    if (distance > MAX_JUMP) throw new RangeError(`label ${target} is ${distance} instructions away (at most ${MAX_JUMP})`);
    return distance;
  }

  private emit(code: number, k: number, jt: Target, jf: Target): this {
    if (!Number.isInteger(k) || k < 0 || k > 0xffffffff) throw new RangeError(`BPF constant ${k} is not a u32`);
    this.insns.push({ code, k, jt, jf });
    return this;
  }
}

/** Reads sock_filter bytes back into instructions (for tests and diagnostics). */
export function disassemble(program: Buffer): { code: number; jt: number; jf: number; k: number }[] {
  const out = [];
  for (let at = 0; at + 8 <= program.length; at += 8) {
    out.push({ code: program.readUInt16LE(at), jt: program[at + 2]!, jf: program[at + 3]!, k: program.readUInt32LE(at + 4) });
  }
  return out;
}
