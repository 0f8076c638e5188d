/**
 * A minimal core, in the spirit of minicoredumper: each thread's stack from
 * its stack pointer up, the page every general register points into, the
 * ELF header page of each file mapping, the small kernel mappings (vDSO)
 * that unwinders need, the data and bss of the executable and libraries,
 * and the dynamic linker's list of loaded objects (link-map.ts), so that
 * debuggers find the libraries and the threads. Everything else is described but not dumped.
 * A mapping may then need several PT_LOADs: one per run of dumped or
 * skipped pages.
 */
import type { Mapping } from '../procfs/maps';
import { decodeWords } from '../ptrace/arch';
import type { PlannedRange } from './layout';
import type { CoreArch } from './registers';
import { PFlag } from './elf';

const PAGE = 4096n;
/** The x86_64 ABI lets leaf functions use 128 bytes below the stack pointer. */
const RED_ZONE = 128n;
/** An anonymous mapping right after a library's data is its bss when it is this small or smaller. */
const BSS_MAX = 1n << 20n;
const ALWAYS = new Set(['[vdso]', '[vsyscall]', '[vectors]', '[sigpage]']);

const pageOf = (a: bigint) => a - (a % PAGE);

export function minimalRanges(
  mappings: readonly Mapping[],
  registerSets: readonly Buffer[],
  arch: CoreArch,
  startsWithElf: (m: Mapping) => boolean,
  extraPages: readonly bigint[] = [],
): PlannedRange[] {
  const find = (a: bigint) => mappings.find((m) => a >= m.start && a < m.end);
  /** Per mapping, [start, end) intervals to dump. */
  const wanted = new Map<Mapping, [bigint, bigint][]>();
  const want = (m: Mapping, start: bigint, end: bigint) => {
    const list = wanted.get(m) ?? [];
    list.push([start < m.start ? m.start : start, end > m.end ? m.end : end]);
    wanted.set(m, list);
  };
  for (const raw of registerSets) {
    const regs = decodeWords(arch.layout.gprNames, raw);
    const sp = regs[arch.layout.sp]!;
    const stack = find(sp - RED_ZONE) ?? find(sp);
    if (stack) want(stack, pageOf(sp > RED_ZONE ? sp - RED_ZONE : 0n), stack.end);
    for (const value of Object.values(regs)) {
      const m = find(value);
      if (m?.readable) want(m, pageOf(value), pageOf(value) + PAGE);
    }
  }
  for (const page of extraPages) {
    const m = find(page);
    if (m) want(m, page, page + PAGE);
  }
  // The data and bss of the executable and libraries (a few pages each): the
  // dynamic linker's and libc's globals, which libthread_db reads to list threads.
  mappings.forEach((m, i) => {
    if (!m.path.startsWith('/') || !m.writable || m.shared) return;
    want(m, m.start, m.end);
    const next = mappings[i + 1];
    if (next && next.start === m.end && next.path === '' && next.writable && next.end - next.start <= BSS_MAX) want(next, next.start, next.end);
  });
  for (const m of mappings) {
    if (ALWAYS.has(m.path)) want(m, m.start, m.end);
    else if (m.path.startsWith('/') && m.offset === 0n && m.readable && startsWithElf(m)) want(m, m.start, m.start + PAGE);
  }
  const ranges: PlannedRange[] = [];
  for (const m of mappings) {
    const flags = (m.readable ? PFlag.R : 0) | (m.writable ? PFlag.W : 0) | (m.executable ? PFlag.X : 0);
    const runs = merge(wanted.get(m) ?? []);
    let at = m.start;
    for (const [start, end] of runs) {
      if (start > at) ranges.push({ vaddr: at, memsz: start - at, filesz: 0, flags });
      ranges.push({ vaddr: start, memsz: end - start, filesz: Number(end - start), flags });
      at = end;
    }
    if (at < m.end) ranges.push({ vaddr: at, memsz: m.end - at, filesz: 0, flags });
  }
  return ranges;
}

function merge(intervals: [bigint, bigint][]): [bigint, bigint][] {
  const sorted = [...intervals].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: [bigint, bigint][] = [];
  for (const [s, e] of sorted) {
    const last = out[out.length - 1];
    // biome-ignore lint/complexity/useMathMinMax: bigints; Math.max takes numbers
    if (last && s <= last[1]) last[1] = e > last[1] ? e : last[1];
    else out.push([s, e]);
  }
  return out;
}
