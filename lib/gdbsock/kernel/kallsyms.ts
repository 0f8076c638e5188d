/**
 * /proc/kallsyms: one "ADDRESS TYPE NAME[\t[MODULE]]" line per kernel symbol
 * (kernel/kallsyms.c, s_show). TYPE is nm's letter: upper case global, lower
 * case local; t text, d data, b bss, r read-only data, a absolute.
 */

export interface KernelSymbol {
  address: bigint;
  /** nm's type letter as kallsyms prints it. */
  type: string;
  name: string;
  /** The module it belongs to; undefined for the kernel image itself. */
  module?: string;
}

export class KallsymsError extends Error {
  override name = 'KallsymsError';
}

const LINE = /^([0-9a-fA-F]{1,16}) ([A-Za-z?]) (\S+)(?:\t\[(\S+)\])?$/;

/** Parses kallsyms text; throws KallsymsError naming the file and line of anything else. */
export function parseKallsyms(text: string, file = 'kallsyms'): KernelSymbol[] {
  const symbols: KernelSymbol[] = [];
  const lines = text.split('\n');
  for (const [i, raw] of lines.entries()) {
    const line = raw.trimEnd();
    if (line === '') continue;
    const m = LINE.exec(line);
    if (!m) throw new KallsymsError(`${file}:${i + 1}: not a kallsyms line: ${JSON.stringify(line.slice(0, 80))}`);
    const symbol: KernelSymbol = { address: BigInt(`0x${m[1]}`), type: m[2]!, name: m[3]! };
    if (m[4] !== undefined) symbol.module = m[4];
    symbols.push(symbol);
  }
  if (symbols.length === 0) throw new KallsymsError(`${file} holds no symbols`);
  // With kptr_restrict (or without CAP_SYSLOG) the kernel prints every address as 0.
  if (symbols.every((s) => s.address === 0n)) {
    throw new KallsymsError(`${file} shows every address as 0: read it as root, with kernel.kptr_restrict below 2`);
  }
  return symbols;
}

/** text, read-only data, data (with bss), or absolute (not an address: per-CPU offsets and the like). */
export type SymbolKind = 'text' | 'rodata' | 'data' | 'absolute';

export function symbolKind(type: string): SymbolKind {
  switch (type.toLowerCase()) {
    case 't':
    case 'w':
      return 'text';
    case 'r':
      return 'rodata';
    case 'a':
      return 'absolute';
    default:
      return 'data';
  }
}
