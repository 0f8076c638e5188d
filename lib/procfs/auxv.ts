import { readProcBuffer } from './read';

/** Auxiliary vector keys that hostkit reads (include/uapi/linux/auxvec.h). */
export const AuxvType = {
  AT_NULL: 0,
  AT_PHDR: 3,
  AT_PHENT: 4,
  AT_PHNUM: 5,
  AT_PAGESZ: 6,
  AT_BASE: 7,
  AT_ENTRY: 9,
  AT_UID: 11,
  AT_HWCAP: 16,
  AT_CLKTCK: 17,
  AT_SECURE: 23,
  AT_RANDOM: 25,
  AT_HWCAP2: 26,
  AT_EXECFN: 31,
  AT_SYSINFO_EHDR: 33,
  AT_MINSIGSTKSZ: 51,
} as const;

export interface AuxvEntry {
  type: number;
  value: bigint;
}

export interface Auxv {
  entries: AuxvEntry[];
  /** The vector as the kernel gives it (NT_AUXV and qXfer:auxv want exactly these bytes). */
  raw: Buffer;
  get(type: number): bigint | undefined;
}

/** The process's auxiliary vector (64-bit targets: pairs of little-endian u64). */
export function auxv(pid: number): Auxv {
  return parseAuxv(readProcBuffer(pid, 'auxv'));
}

export function parseAuxv(raw: Buffer): Auxv {
  const entries: AuxvEntry[] = [];
  for (let at = 0; at + 16 <= raw.length; at += 16) {
    const type = Number(raw.readBigUInt64LE(at));
    if (type === AuxvType.AT_NULL) break;
    entries.push({ type, value: raw.readBigUInt64LE(at + 8) });
  }
  return { entries, raw, get: (type) => entries.find((e) => e.type === type)?.value };
}
