/**
 * The ELF64 header, program headers and section header 0, parsed from and
 * encoded into little-endian bytes (System V gABI, "ELF Header" and
 * "Program Header"; Linux only writes little-endian cores on x86_64/aarch64).
 */
import { EHDR_SIZE, ELF_MAGIC, EV_CURRENT, ElfClass, ElfData, ElfType, PHDR_SIZE, PN_XNUM, SHDR_SIZE } from './elf';
import { CoreFormatError } from './errors';

export interface ElfHeader {
  type: number;
  machine: number;
  entry: bigint;
  phoff: number;
  shoff: number;
  flags: number;
  phentsize: number;
  /** The e_phnum field as written (PN_XNUM when the real count lives in section header 0). */
  rawPhnum: number;
  shentsize: number;
  shnum: number;
  shstrndx: number;
}

export interface ProgramHeader {
  type: number;
  flags: number;
  offset: number;
  vaddr: bigint;
  paddr: bigint;
  filesz: number;
  memsz: bigint;
  align: bigint;
}

/** A u64 file quantity as a JS number, refusing what a number cannot hold exactly. */
function fileNumber(buf: Buffer, at: number, base: number, what: string): number {
  const value = buf.readBigUInt64LE(at);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new CoreFormatError(base + at, `${what} 0x${value.toString(16)} is beyond any file`);
  return Number(value);
}

/** Parses the 64-byte ELF header at the start of `buf`; `base` is its file offset (for errors). */
export function parseElfHeader(buf: Buffer, base = 0): ElfHeader {
  if (buf.length < EHDR_SIZE) throw new CoreFormatError(base + buf.length, `file ends inside the ELF header (${buf.length} of ${EHDR_SIZE} bytes)`);
  if (!buf.subarray(0, 4).equals(ELF_MAGIC)) throw new CoreFormatError(base, 'no ELF magic (\\x7fELF)');
  if (buf[4] !== ElfClass.ELF64) throw new CoreFormatError(base + 4, `ELF class ${buf[4]} is not ELFCLASS64`);
  if (buf[5] !== ElfData.LSB) throw new CoreFormatError(base + 5, `data encoding ${buf[5]} is not little-endian`);
  if (buf[6] !== EV_CURRENT) throw new CoreFormatError(base + 6, `ELF version ${buf[6]}`);
  const header: ElfHeader = {
    type: buf.readUInt16LE(16),
    machine: buf.readUInt16LE(18),
    entry: buf.readBigUInt64LE(24),
    phoff: fileNumber(buf, 32, base, 'e_phoff'),
    shoff: fileNumber(buf, 40, base, 'e_shoff'),
    flags: buf.readUInt32LE(48),
    phentsize: buf.readUInt16LE(54),
    rawPhnum: buf.readUInt16LE(56),
    shentsize: buf.readUInt16LE(58),
    shnum: buf.readUInt16LE(60),
    shstrndx: buf.readUInt16LE(62),
  };
  if (header.rawPhnum > 0 && header.phentsize !== PHDR_SIZE) {
    throw new CoreFormatError(base + 54, `e_phentsize ${header.phentsize}, expected ${PHDR_SIZE}`);
  }
  if (header.rawPhnum === PN_XNUM && header.shentsize !== SHDR_SIZE) {
    throw new CoreFormatError(base + 58, `e_phnum is PN_XNUM but e_shentsize is ${header.shentsize}, expected ${SHDR_SIZE}`);
  }
  return header;
}

/**
 * With e_phnum == PN_XNUM the real number of program headers is sh_info of
 * section header 0 (gABI "Extended numbering"; the kernel writes it in
 * fs/binfmt_elf.c, fill_extnum_info). `shdr0` is that header's 64 bytes.
 */
export function extendedPhnum(shdr0: Buffer, base: number): number {
  if (shdr0.length < SHDR_SIZE) throw new CoreFormatError(base + shdr0.length, 'file ends inside section header 0 (needed for PN_XNUM)');
  return shdr0.readUInt32LE(44);
}

export function parseProgramHeaders(buf: Buffer, count: number, base: number): ProgramHeader[] {
  const need = count * PHDR_SIZE;
  if (buf.length < need) throw new CoreFormatError(base + buf.length, `file ends inside the program headers (${count} expected)`);
  const result: ProgramHeader[] = [];
  for (let i = 0; i < count; i++) {
    const at = i * PHDR_SIZE;
    const ph: ProgramHeader = {
      type: buf.readUInt32LE(at),
      flags: buf.readUInt32LE(at + 4),
      offset: fileNumber(buf, at + 8, base, `program header ${i} p_offset`),
      vaddr: buf.readBigUInt64LE(at + 16),
      paddr: buf.readBigUInt64LE(at + 24),
      filesz: fileNumber(buf, at + 32, base, `program header ${i} p_filesz`),
      memsz: buf.readBigUInt64LE(at + 40),
      align: buf.readBigUInt64LE(at + 48),
    };
    if (ph.offset + ph.filesz > Number.MAX_SAFE_INTEGER) throw new CoreFormatError(base + at + 8, `program header ${i} ends beyond any file`);
    result.push(ph);
  }
  return result;
}

export interface HeaderFields {
  type?: number;
  machine: number;
  phnum: number;
  /** Where section header 0 sits when phnum needs extended numbering. */
  shoff?: number;
}

/** The ELF header of a core: program headers right after it, as the kernel writes them. */
export function encodeElfHeader(fields: HeaderFields): Buffer {
  const buf = Buffer.alloc(EHDR_SIZE);
  ELF_MAGIC.copy(buf, 0);
  buf[4] = ElfClass.ELF64;
  buf[5] = ElfData.LSB;
  buf[6] = EV_CURRENT;
  // EI_OSABI 0 (SYSV), as the kernel writes it.
  const extended = fields.phnum >= PN_XNUM;
  buf.writeUInt16LE(fields.type ?? ElfType.CORE, 16);
  buf.writeUInt16LE(fields.machine, 18);
  buf.writeUInt32LE(EV_CURRENT, 20);
  buf.writeBigUInt64LE(fields.phnum > 0 ? BigInt(EHDR_SIZE) : 0n, 32);
  buf.writeBigUInt64LE(extended ? BigInt(fields.shoff ?? 0) : 0n, 40);
  buf.writeUInt16LE(EHDR_SIZE, 52);
  buf.writeUInt16LE(PHDR_SIZE, 54);
  buf.writeUInt16LE(extended ? PN_XNUM : fields.phnum, 56);
  buf.writeUInt16LE(extended ? SHDR_SIZE : 0, 58);
  buf.writeUInt16LE(extended ? 1 : 0, 60);
  return buf;
}

export function encodeProgramHeader(ph: ProgramHeader, into = Buffer.alloc(PHDR_SIZE), at = 0): Buffer {
  into.writeUInt32LE(ph.type, at);
  into.writeUInt32LE(ph.flags, at + 4);
  into.writeBigUInt64LE(BigInt(ph.offset), at + 8);
  into.writeBigUInt64LE(ph.vaddr, at + 16);
  into.writeBigUInt64LE(ph.paddr, at + 24);
  into.writeBigUInt64LE(BigInt(ph.filesz), at + 32);
  into.writeBigUInt64LE(ph.memsz, at + 40);
  into.writeBigUInt64LE(ph.align, at + 48);
  return into;
}

/** Section header 0 for extended numbering: SHT_NULL with sh_info = the real phnum. */
export function encodeXnumSection(phnum: number): Buffer {
  const buf = Buffer.alloc(SHDR_SIZE);
  // sh_size would hold a real e_shnum and sh_link a real e_shstrndx: both 0 in a core.
  buf.writeUInt32LE(phnum, 44);
  return buf;
}
