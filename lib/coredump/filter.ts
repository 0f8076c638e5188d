/**
 * How much of each mapping goes into a core: the kernel's rules
 * (fs/coredump.c, vma_dump_size) driven by /proc/PID/coredump_filter
 * (core(5)), seen from user space through maps and smaps.
 */
import fs from 'node:fs';
import type { Mapping } from '../procfs/maps';
import type { SmapsEntry } from './smaps';

/** coredump_filter bits (core(5); MMF_DUMP_* in include/linux/sched/coredump.h). */
export const Filter = {
  ANON_PRIVATE: 1 << 0,
  ANON_SHARED: 1 << 1,
  MAPPED_PRIVATE: 1 << 2,
  MAPPED_SHARED: 1 << 3,
  ELF_HEADERS: 1 << 4,
  HUGETLB_PRIVATE: 1 << 5,
  HUGETLB_SHARED: 1 << 6,
} as const;

/** The kernel's default (MMF_DUMP_FILTER_DEFAULT): anonymous memory, ELF headers, private hugetlb. */
export const DEFAULT_FILTER = 0x33;
/** Every kind of mapping. */
export const ALL_FILTER = 0x7f;

/** Mappings the kernel always dumps whole: the gate area and named special mappings (always_dump_vma). */
const ALWAYS_DUMPED = new Set(['[vdso]', '[vvar]', '[vvar_vclock]', '[vsyscall]', '[uprobes]', '[sigpage]', '[vectors]']);

export function readCoredumpFilter(pid: number): number {
  try {
    return Number.parseInt(fs.readFileSync(`/proc/${pid}/coredump_filter`, 'utf8'), 16);
  } catch {
    return DEFAULT_FILTER;
  }
}

export interface DumpContext {
  filter: number;
  /** Whether the mapping starts with an ELF header (read from the process). */
  startsWithElf(mapping: Mapping): boolean;
}

/** A file-backed mapping of a file whose mode has an execute bit (the kernel dumps its first page unread). */
function executableFile(mapping: Mapping): boolean {
  if (mapping.deleted) return false;
  try {
    return (fs.statSync(mapping.path).mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

/** Bytes of `mapping` to dump from its start: 0, one page, or all of it. */
export function dumpSize(mapping: Mapping, smaps: SmapsEntry | undefined, ctx: DumpContext): bigint {
  const whole = mapping.end - mapping.start;
  const has = (bit: number) => (ctx.filter & bit) !== 0;
  const flags = smaps?.vmFlags ?? new Set<string>();
  if (ALWAYS_DUMPED.has(mapping.path)) return whole;
  if (flags.has('dd')) return 0n;
  if (flags.has('ht')) return has(mapping.shared ? Filter.HUGETLB_SHARED : Filter.HUGETLB_PRIVATE) ? whole : 0n;
  if (flags.has('io')) return 0n;
  const fileBacked = mapping.path.startsWith('/');
  if (mapping.shared) {
    // Shared anonymous memory is a deleted file of shmem (/dev/zero, SYSV, memfd): i_nlink == 0.
    const anonymous = !fileBacked || mapping.deleted;
    return has(anonymous ? Filter.ANON_SHARED : Filter.MAPPED_SHARED) ? whole : 0n;
  }
  // "Dump segments that have been written to": the kernel tests vma->anon_vma; smaps' Anonymous is its trace.
  if ((smaps?.anonymousKb ?? 0) > 0 && has(Filter.ANON_PRIVATE)) return whole;
  if (!fileBacked) return 0n;
  if (has(Filter.MAPPED_PRIVATE)) return whole;
  if (has(Filter.ELF_HEADERS) && mapping.offset === 0n && mapping.readable) {
    if (executableFile(mapping) || ctx.startsWithElf(mapping)) return 4096n;
  }
  return 0n;
}
