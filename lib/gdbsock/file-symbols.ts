/**
 * Symbols of an ELF file's own symbol table (.symtab, SHT_SYMTAB, and the
 * string table its sh_link names: System V gABI, "Sections" and "Symbol
 * Table"), read from the file. A statically linked program has no dynamic
 * symbols to look up in memory (dynamic-symbols.ts), only these.
 */
import * as fs from 'node:fs';
import { parseElfHeader } from '../coredump/header';

const SHT_SYMTAB = 2;
const SHDR_SIZE = 64;
const SYM_SIZE = 24;
/** A symbol table larger than this is not read (a static program's is a few hundred KiB). */
const MAX_TABLE = 64 * 1024 * 1024;

/** The link-time values of the symbols of `wanted` that `file` defines, and its entry point (to find its load bias). */
export async function fileSymbols(file: string, wanted: (name: string) => boolean): Promise<{ entry: bigint; symbols: Map<string, bigint> }> {
  // fs.promises, not node:fs/promises: loaded when first used (a static program's TLS), not at every start.
  const fh = await fs.promises.open(file, 'r');
  try {
    const read = async (offset: number, length: number): Promise<Buffer> => {
      const b = Buffer.alloc(length);
      const { bytesRead } = await fh.read(b, 0, length, offset);
      if (bytesRead < length) throw new RangeError(`${file}: ${length} bytes at offset ${offset} are past its end`);
      return b;
    };
    const header = parseElfHeader(await read(0, 64));
    const symbols = new Map<string, bigint>();
    if (header.shoff === 0 || header.shnum === 0) return { entry: header.entry, symbols };
    const sections = await read(header.shoff, header.shnum * SHDR_SIZE);
    const section = (i: number) => ({
      type: sections.readUInt32LE(i * SHDR_SIZE + 4),
      offset: Number(sections.readBigUInt64LE(i * SHDR_SIZE + 24)),
      size: Number(sections.readBigUInt64LE(i * SHDR_SIZE + 32)),
      link: sections.readUInt32LE(i * SHDR_SIZE + 40),
    });
    for (let i = 0; i < header.shnum; i++) {
      const symtab = section(i);
      if (symtab.type !== SHT_SYMTAB || symtab.link >= header.shnum) continue;
      const strtab = section(symtab.link);
      if (symtab.size > MAX_TABLE || strtab.size > MAX_TABLE) continue;
      const [syms, strings] = await Promise.all([read(symtab.offset, symtab.size), read(strtab.offset, strtab.size)]);
      for (let at = 0; at + SYM_SIZE <= syms.length; at += SYM_SIZE) {
        const nameAt = syms.readUInt32LE(at);
        const shndx = syms.readUInt16LE(at + 6);
        if (nameAt === 0 || shndx === 0) continue; // unnamed, or undefined here
        const end = strings.indexOf(0, nameAt);
        const name = strings.toString('latin1', nameAt, end < 0 ? strings.length : end);
        if (wanted(name)) symbols.set(name, syms.readBigUInt64LE(at + 8));
      }
    }
    return { entry: header.entry, symbols };
  } finally {
    await fh.close();
  }
}
