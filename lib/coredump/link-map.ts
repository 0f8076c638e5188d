/**
 * The pages a debugger needs to find the shared libraries of a process:
 * the executable's dynamic section (its DT_DEBUG entry points at r_debug),
 * r_debug itself and every link_map entry with its name (glibc's link.h,
 * <elf.h>; gdb's solib-svr4 walks exactly this). A minimal core keeps them
 * so `info sharedlibrary` and backtraces through libraries still work.
 */
import { AuxvType, type Auxv } from '../procfs/auxv';
import { PHDR_SIZE, PType } from './elf';

const PAGE = 4096n;
const DT_NULL = 0n;
const DT_DEBUG = 21n;
/** Enough for any real process; stops a corrupted list from running on. */
const MAX_OBJECTS = 4096;
const MAX_DYNAMIC = 512;

type Peek = (address: bigint, length: number) => Buffer;

export function linkMapPages(auxv: Auxv, peek: Peek): bigint[] {
  const pages = new Set<bigint>();
  const keep = (address: bigint, length: number) => {
    for (let p = address - (address % PAGE); p < address + BigInt(length); p += PAGE) pages.add(p);
  };
  const u64 = (address: bigint) => {
    const b = peek(address, 8);
    return b.length === 8 ? b.readBigUInt64LE(0) : undefined;
  };

  const phdr = auxv.get(AuxvType.AT_PHDR);
  const phnum = Number(auxv.get(AuxvType.AT_PHNUM) ?? 0n);
  if (!phdr || phnum === 0 || phnum > 256) return [];
  const headers = peek(phdr, phnum * PHDR_SIZE);
  keep(phdr, headers.length);
  let bias: bigint | undefined;
  let dynamicVaddr: bigint | undefined;
  for (let at = 0; at + PHDR_SIZE <= headers.length; at += PHDR_SIZE) {
    const type = headers.readUInt32LE(at);
    const vaddr = headers.readBigUInt64LE(at + 16);
    if (type === PType.PHDR) bias = phdr - vaddr; // PT_PHDR = 6: where the headers themselves load
    if (type === PType.DYNAMIC) dynamicVaddr = vaddr;
  }
  if (dynamicVaddr === undefined) return [...pages];
  const dynamic = BigInt.asUintN(64, (bias ?? 0n) + dynamicVaddr);

  let rDebug: bigint | undefined;
  for (let i = 0n; i < BigInt(MAX_DYNAMIC); i++) {
    const tag = u64(dynamic + i * 16n);
    if (tag === undefined || tag === DT_NULL) {
      keep(dynamic, Number((i + 1n) * 16n));
      break;
    }
    if (tag === DT_DEBUG) rDebug = u64(dynamic + i * 16n + 8n);
  }
  if (!rDebug) return [...pages];
  keep(rDebug, 40); // struct r_debug: r_version, r_map, r_brk, r_state, r_ldbase

  let map = u64(rDebug + 8n);
  for (let n = 0; map && n < MAX_OBJECTS; n++) {
    keep(map, 40); // l_addr, l_name, l_ld, l_next, l_prev
    const name = u64(map + 8n);
    if (name) {
      const bytes = peek(name, 4096);
      const end = bytes.indexOf(0);
      keep(name, end < 0 ? bytes.length : end + 1);
    }
    const ld = u64(map + 16n);
    if (ld) keep(ld, 16 * 64);
    map = u64(map + 24n);
  }
  return [...pages];
}
