/**
 * A loaded ELF object's dynamic symbols, looked up in the process's memory
 * (no file needed): the dynamic section gives the symbol and string tables
 * and the GNU hash table (the ELF gABI, "Dynamic Section", and the GNU hash
 * extension), as the dynamic linker finds them.
 */

type Read = (address: bigint, length: number) => Promise<Buffer>;

const DT_NULL = 0n;
const DT_STRTAB = 5n;
const DT_SYMTAB = 6n;
const DT_GNU_HASH = 0x6ffffef5n;
const SYM_SIZE = 24n;

/** One object's symbols: built from its load base and dynamic section, then looked up by name. */
export class DynamicSymbols {
  private constructor(
    private readonly read: Read,
    private readonly base: bigint,
    private readonly strtab: bigint,
    private readonly symtab: bigint,
    private readonly hash: bigint,
  ) {}

  static async read(read: Read, base: bigint, dynamic: bigint): Promise<DynamicSymbols | undefined> {
    const tags = new Map<bigint, bigint>();
    for (let at = dynamic, n = 0; n < 512; n++, at += 16n) {
      const d = await read(at, 16);
      const tag = d.readBigInt64LE(0);
      if (tag === DT_NULL) break;
      tags.set(tag, d.readBigUInt64LE(8));
    }
    // The dynamic linker relocates these in place for most objects but not all: an address below the load base is not yet relocated.
    const address = (tag: bigint) => {
      const v = tags.get(tag);
      return v === undefined ? undefined : v < base ? v + base : v;
    };
    const strtab = address(DT_STRTAB);
    const symtab = address(DT_SYMTAB);
    const hash = address(DT_GNU_HASH);
    if (strtab === undefined || symtab === undefined || hash === undefined) return undefined;
    return new DynamicSymbols(read, base, strtab, symtab, hash);
  }

  /** The symbol's run-time address, or undefined. */
  async lookup(name: string): Promise<bigint | undefined> {
    const header = await this.read(this.hash, 16);
    const buckets = header.readUInt32LE(0);
    const symbolBase = header.readUInt32LE(4);
    const bloomWords = header.readUInt32LE(8);
    const h = gnuHash(name);
    const bucketsAt = this.hash + 16n + BigInt(bloomWords) * 8n;
    const chainAt = bucketsAt + BigInt(buckets) * 4n;
    let index = (await this.read(bucketsAt + BigInt((h % buckets) * 4), 4)).readUInt32LE(0);
    if (index === 0) return undefined;
    for (let n = 0; n < 100000; n++, index++) {
      const chained = (await this.read(chainAt + BigInt((index - symbolBase) * 4), 4)).readUInt32LE(0);
      if ((chained | 1) === (h | 1)) {
        const sym = await this.read(this.symtab + BigInt(index) * SYM_SIZE, Number(SYM_SIZE));
        const nameAt = this.strtab + BigInt(sym.readUInt32LE(0));
        const candidate = await this.read(nameAt, name.length + 1);
        if (candidate.subarray(0, name.length).toString('latin1') === name && candidate[name.length] === 0) return this.base + sym.readBigUInt64LE(8);
      }
      if (chained & 1) break;
    }
    return undefined;
  }
}

function gnuHash(name: string): number {
  let h = 5381;
  for (let i = 0; i < name.length; i++) h = (Math.imul(h, 33) + name.charCodeAt(i)) >>> 0;
  return h;
}
