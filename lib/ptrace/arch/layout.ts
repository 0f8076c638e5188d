/** What the bridge needs to know about one CPU architecture's ptrace view. */
export interface ArchLayout {
  readonly name: 'x86_64' | 'aarch64';
  /** General registers in NT_PRSTATUS regset order, each 8 bytes. */
  readonly gprNames: readonly string[];
  readonly pc: string;
  /** Byte offset of the pc in the general regset. */
  readonly pcOffset: number;
  /** Offset of the pc in the user area, where PTRACE_POKEUSER reaches it (one word, not a whole regset). */
  readonly pcUserOffset?: number;
  readonly sp: string;
  /** Size in bytes of the NT_PRFPREG regset. */
  readonly fpregsSize: number;
  /** The software breakpoint instruction. */
  readonly breakpoint: Buffer;
  /** How far past the breakpoint the pc is when the trap is reported. */
  readonly pcAfterBreakpoint: number;
  /** Hardware debug registers, where the arch reaches them through PTRACE_PEEKUSER. */
  readonly debugRegisters?: { count: number; offset(index: number): number };
}

/** Decodes a regset buffer of 8-byte words into named registers. */
export function decodeWords(names: readonly string[], raw: Buffer, base = 0): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  for (const [i, name] of names.entries()) out[name] = raw.readBigUInt64LE(base + i * 8);
  return out;
}

/** Writes named registers (a subset is fine) into a regset buffer of 8-byte words. */
export function encodeWords(names: readonly string[], raw: Buffer, values: Record<string, bigint>, base = 0): void {
  for (const [name, value] of Object.entries(values)) {
    const i = names.indexOf(name);
    if (i < 0) throw new RangeError(`unknown register '${name}'`);
    raw.writeBigUInt64LE(BigInt.asUintN(64, value), base + i * 8);
  }
}
