/**
 * A small ELF file gdb can load (add-symbol-file, or as the exec file) that
 * holds nothing but the kernel's symbols from kallsyms: SHT_NOBITS sections
 * that give each run of text or data an address range, and a .symtab whose
 * symbols point into them (System V gABI, "Sections" and "Symbol Table").
 * gdb then resolves `x/i schedule` and names addresses in kernel memory.
 */
import { Machine } from '../../coredump/elf';
import { EHDR_SIZE, ELF_MAGIC, EV_CURRENT, ElfClass, ElfData, ElfType, SHDR_SIZE } from '../../coredump/elf';
import { type KernelSymbol, type SymbolKind, symbolKind } from './kallsyms';

const SHT_SYMTAB = 2;
const SHT_STRTAB = 3;
const SHT_NOBITS = 8;
const SHF_WRITE = 1;
const SHF_ALLOC = 2;
const SHF_EXECINSTR = 4;
const SHN_ABS = 0xfff1;
const STB_LOCAL = 0;
const STB_GLOBAL = 1;
const STT_NOTYPE = 0;
const STT_OBJECT = 1;
const STT_FUNC = 2;
const SYM_SIZE = 24;
/** A run of same-kind symbols ends at a gap wider than this (the kernel image vs modules far above it). */
const MAX_GAP = 1n << 24n;

interface Section {
  name: string;
  kind: Exclude<SymbolKind, 'absolute'>;
  start: bigint;
  end: bigint;
}

const SECTION_FLAGS: Record<Section['kind'], number> = {
  text: SHF_ALLOC | SHF_EXECINSTR,
  rodata: SHF_ALLOC,
  data: SHF_ALLOC | SHF_WRITE,
};

/** Builds the ELF image. */
export function buildSymbolFile(symbols: readonly KernelSymbol[]): Buffer {
  const placed = symbols.map((s) => ({ ...s, kind: symbolKind(s.type) })).sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));

  // Consecutive symbols of one kind share a section; each section reaches to the next one's start.
  const sections: Section[] = [];
  const sectionOf = new Map<KernelSymbol, number>();
  const sizeOf = new Map<KernelSymbol, bigint>();
  const counts: Record<string, number> = {};
  const addressed = placed.filter((s) => s.kind !== 'absolute');
  for (const [i, s] of addressed.entries()) {
    const last = sections[sections.length - 1];
    const kind = s.kind as Section['kind'];
    if (!last || last.kind !== kind || s.address - last.end > MAX_GAP) {
      const base = kind === 'text' ? '.text' : kind === 'rodata' ? '.rodata' : '.data';
      counts[base] = (counts[base] ?? 0) + 1;
      sections.push({ name: counts[base] === 1 ? base : `${base}.${counts[base]}`, kind, start: s.address, end: s.address + 1n });
    }
    const section = sections[sections.length - 1]!;
    section.end = s.address + 1n;
    sectionOf.set(s, sections.length); // section header index: 0 is SHN_UNDEF
    const next = addressed[i + 1];
    if (next && next.address > s.address && next.address - s.address <= MAX_GAP) sizeOf.set(s, next.address - s.address);
  }
  for (const [i, section] of sections.entries()) {
    const next = sections[i + 1];
    if (next && next.start - section.end <= MAX_GAP) section.end = next.start;
    else section.end += 0xfffn; // the last symbol gets the rest of its page
  }
  // gdb does not name data by a symbol of size 0 (printcmd.c, build_address_symbolic): the last of a section reaches its end.
  for (const s of addressed) if (!sizeOf.has(s)) sizeOf.set(s, sections[sectionOf.get(s)! - 1]!.end - s.address);

  // Locals first: sh_info of .symtab is the index of the first global (gABI).
  const local = (s: KernelSymbol) => s.type === s.type.toLowerCase();
  const ordered = [...placed.filter(local), ...placed.filter((s) => !local(s))];
  const strtab = new StringTable();
  const symtab = Buffer.alloc((ordered.length + 1) * SYM_SIZE);
  ordered.forEach((s, i) => {
    const at = (i + 1) * SYM_SIZE;
    const type = s.kind === 'text' ? STT_FUNC : s.kind === 'absolute' ? STT_NOTYPE : STT_OBJECT;
    symtab.writeUInt32LE(strtab.add(s.name), at);
    symtab[at + 4] = ((local(s) ? STB_LOCAL : STB_GLOBAL) << 4) | type;
    symtab.writeUInt16LE(s.kind === 'absolute' ? SHN_ABS : sectionOf.get(s)!, at + 6);
    symtab.writeBigUInt64LE(s.address, at + 8);
    symtab.writeBigUInt64LE(sizeOf.get(s) ?? 0n, at + 16);
  });
  const firstGlobal = placed.filter(local).length + 1;

  const shstrtab = new StringTable();
  const names = sections.map((s) => shstrtab.add(s.name));
  const symtabName = shstrtab.add('.symtab');
  const strtabName = shstrtab.add('.strtab');
  const shstrtabName = shstrtab.add('.shstrtab');
  const strBytes = strtab.bytes();
  const shstrBytes = shstrtab.bytes();

  const symtabIndex = sections.length + 1;
  const strtabIndex = symtabIndex + 1;
  const shstrtabIndex = strtabIndex + 1;
  const shnum = shstrtabIndex + 1;
  const symtabOffset = align8(EHDR_SIZE);
  const strtabOffset = symtabOffset + symtab.length;
  const shstrtabOffset = strtabOffset + strBytes.length;
  const shoff = align8(shstrtabOffset + shstrBytes.length);
  const out = Buffer.alloc(shoff + shnum * SHDR_SIZE);

  ELF_MAGIC.copy(out, 0);
  out[4] = ElfClass.ELF64;
  out[5] = ElfData.LSB;
  out[6] = EV_CURRENT;
  out.writeUInt16LE(ElfType.EXEC, 16);
  out.writeUInt16LE(Machine.X86_64, 18);
  out.writeUInt32LE(EV_CURRENT, 20);
  out.writeBigUInt64LE(BigInt(shoff), 40);
  out.writeUInt16LE(EHDR_SIZE, 52);
  out.writeUInt16LE(SHDR_SIZE, 58);
  out.writeUInt16LE(shnum, 60);
  out.writeUInt16LE(shstrtabIndex, 62);
  symtab.copy(out, symtabOffset);
  strBytes.copy(out, strtabOffset);
  shstrBytes.copy(out, shstrtabOffset);

  const header = (
    index: number,
    h: {
      name: number;
      type: number;
      flags?: number;
      addr?: bigint;
      offset?: number;
      size: bigint | number;
      link?: number;
      info?: number;
      align?: number;
      entsize?: number;
    },
  ) => {
    const at = shoff + index * SHDR_SIZE;
    out.writeUInt32LE(h.name, at);
    out.writeUInt32LE(h.type, at + 4);
    out.writeBigUInt64LE(BigInt(h.flags ?? 0), at + 8);
    out.writeBigUInt64LE(h.addr ?? 0n, at + 16);
    out.writeBigUInt64LE(BigInt(h.offset ?? 0), at + 24);
    out.writeBigUInt64LE(BigInt(h.size), at + 32);
    out.writeUInt32LE(h.link ?? 0, at + 40);
    out.writeUInt32LE(h.info ?? 0, at + 44);
    out.writeBigUInt64LE(BigInt(h.align ?? 1), at + 48);
    out.writeBigUInt64LE(BigInt(h.entsize ?? 0), at + 56);
  };
  sections.forEach((s, i) => {
    // NOBITS: an address range with no bytes in the file, so gdb reads its contents from the target.
    header(i + 1, { name: names[i]!, type: SHT_NOBITS, flags: SECTION_FLAGS[s.kind], addr: s.start, offset: shstrtabOffset, size: s.end - s.start, align: 1 });
  });
  header(symtabIndex, {
    name: symtabName,
    type: SHT_SYMTAB,
    offset: symtabOffset,
    size: symtab.length,
    link: strtabIndex,
    info: firstGlobal,
    align: 8,
    entsize: SYM_SIZE,
  });
  header(strtabIndex, { name: strtabName, type: SHT_STRTAB, offset: strtabOffset, size: strBytes.length });
  header(shstrtabIndex, { name: shstrtabName, type: SHT_STRTAB, offset: shstrtabOffset, size: shstrBytes.length });
  return out;
}

const align8 = (n: number) => n + ((8 - (n % 8)) % 8);

/** A string table: NUL first, each name once. */
class StringTable {
  private readonly parts: Buffer[] = [Buffer.alloc(1)];
  private readonly offsets = new Map<string, number>();
  private size = 1;

  add(name: string): number {
    const known = this.offsets.get(name);
    if (known !== undefined) return known;
    const bytes = Buffer.from(`${name}\0`, 'utf8');
    const at = this.size;
    this.parts.push(bytes);
    this.size += bytes.length;
    this.offsets.set(name, at);
    return at;
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts, this.size);
  }
}
