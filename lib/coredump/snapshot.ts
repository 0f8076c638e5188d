/**
 * gcore-style cores of live processes, streamed in one pass. Every thread
 * is stopped (ptrace), everything the headers and notes need is collected
 * and every size computed, then the ELF header, program headers, notes and
 * memory go out in file order to any writable: a regular file (sparse),
 * a pipe, a socket. The process is then let go exactly as it was.
 */
import { checkPid } from '../errors';
import { parseAuxv } from '../procfs/auxv';
import { maps as readMaps, type Mapping } from '../procfs/maps';
import { stat as readStat } from '../procfs/stat';
import { readProcBuffer } from '../procfs/read';
import { hostXsaveLayout } from '../ptrace/cpu';
import { Tracee } from '../ptrace/tracee';
import type { Thread } from '../ptrace/thread';
import { BulkReader } from './bulk-read';
import { Machine, NoteType, PFlag } from './elf';
import { ALL_FILTER, type DumpContext, dumpSize, readCoredumpFilter } from './filter';
import { type CoreLayout, type PlannedRange, encodeHead, encodeTail, planLayout } from './layout';
import { linkMapPages } from './link-map';
import { minimalRanges } from './minimal';
import type { MappedFile } from './note-payloads';
import { processIds, processPsinfo, threadPrstatus } from './process-info';
import { type CoreArch, X86_64, coreArch } from './registers';
import { type CoreOutput, openSink } from './sink';
import { readSmaps } from './smaps';
import { type ThreadNotes, encodeCoreNotes } from './writer';
import { standardXstate } from './xsave-layout';

export interface SnapshotOptions {
  /**
   * 'filter' (default): what the kernel would dump under the process's
   * /proc/PID/coredump_filter; 'all': every mapping; 'minimal': thread
   * stacks, the pages registers point into, and ELF headers.
   */
  mode?: 'filter' | 'all' | 'minimal';
  /** A coredump_filter to use instead of the process's own (mode 'filter'). */
  filter?: number;
  /** Bytes read per step (default 8 MiB); two such buffers are all the memory a snapshot uses. */
  chunkSize?: number;
  /** Called as memory is written: bytes done so far and the total. */
  onProgress?(done: number, total: number): void;
}

export interface SnapshotResult {
  pid: number;
  threads: number;
  /** The core's size in bytes. */
  size: number;
  /** Bytes actually written (less than size when zero pages became holes). */
  written: number;
  /** Memory bytes in the core and those that could not be read (written as zeros). */
  memoryBytes: number;
  unreadableBytes: number;
  /** Bytes of never-populated anonymous pages written as zeros without being read. */
  absentBytes: number;
  sparse: boolean;
  layout: CoreLayout;
}

interface Plan {
  notes: Buffer;
  ranges: PlannedRange[];
  layout: CoreLayout;
  threads: number;
}

const MACHINE_BY_ARCH: Record<string, number> = { x86_64: Machine.X86_64, aarch64: Machine.AARCH64 };

/** Writes a core of process `pid` to `out` (a path, a file descriptor, or a Writable stream). */
export async function snapshot(pid: number, out: CoreOutput, options: SnapshotOptions = {}): Promise<SnapshotResult> {
  checkPid(pid);
  const mode = options.mode ?? 'filter';
  if (!['filter', 'all', 'minimal'].includes(mode)) throw new TypeError(`mode must be 'filter', 'all' or 'minimal', got ${String(mode)}`);
  const chunkSize = options.chunkSize ?? 8 << 20;
  if (!Number.isInteger(chunkSize) || chunkSize < 4096 || chunkSize % 4096 !== 0) throw new RangeError('chunkSize must be a positive multiple of 4096');
  if (options.filter !== undefined && (!Number.isInteger(options.filter) || options.filter < 0 || options.filter > 0x1ff)) {
    throw new RangeError('filter must be a coredump_filter value 0..0x1ff');
  }
  // The state the process was in before we stopped it, for NT_PRPSINFO.
  const stateBefore = readStat(pid).state;
  const tracee = await Tracee.attach(pid);
  const reader = new BulkReader(pid);
  try {
    const plan = collect(tracee, stateBefore, mode, options.filter, reader);
    const sink = openSink(out);
    try {
      await sink.write(encodeHead(plan.layout, plan.notes));
      const total = plan.ranges.reduce((n, r) => n + r.filesz, 0);
      await streamMemory(plan.ranges, reader, sink, chunkSize, total, options.onProgress);
      await sink.write(encodeTail(plan.layout));
      await sink.finish();
      return {
        pid,
        threads: plan.threads,
        size: plan.layout.size,
        written: sink.written,
        memoryBytes: total,
        unreadableBytes: reader.zeroFilled,
        absentBytes: reader.skipped,
        sparse: sink.sparse,
        layout: plan.layout,
      };
    } catch (err) {
      sink.abort();
      throw err;
    }
  } finally {
    reader.close();
    await tracee.detach();
  }
}

/** Threads in the order the core lists them: the leader first (gdb makes it the current thread), then by tid. */
function orderedThreads(tracee: Tracee): Thread[] {
  return [...tracee.threads.values()].sort((a, b) => (a.tid === tracee.pid ? -1 : b.tid === tracee.pid ? 1 : a.tid - b.tid));
}

function collect(tracee: Tracee, stateBefore: string, mode: string, filterOverride: number | undefined, reader: BulkReader): Plan {
  const pid = tracee.pid;
  const arch = coreArch(MACHINE_BY_ARCH[tracee.arch.name]!)!;
  const ids = processIds(pid);
  const threads: ThreadNotes[] = orderedThreads(tracee).map((t) => threadNotes(t, pid, ids, arch));
  const mappings = readMaps(pid);
  const extra = [];
  const cpuLayout = arch === X86_64 ? hostXsaveLayout() : null;
  if (cpuLayout) {
    // In Intel's offsets with a note saying so, for gdb 13 and 14+ alike: see xsave-layout.ts.
    const standard = standardXstate(cpuLayout);
    for (const t of threads) {
      for (const r of t.regsets) if (r.type === NoteType.X86_XSTATE) r.desc = standard.convert(r.desc);
    }
    extra.push(standard.note);
  }
  const auxvRaw = readProcBuffer(pid, 'auxv');
  const notes = encodeCoreNotes({
    arch,
    threads,
    psinfo: processPsinfo(pid, stateBefore),
    // A snapshot is taken without a signal: siginfo stays zero, as pr_cursig does.
    siginfo: Buffer.alloc(128),
    auxv: auxvRaw,
    files: mappedFiles(mappings),
    extra,
  });
  let ranges: PlannedRange[];
  if (mode === 'minimal') {
    const libraries = linkMapPages(parseAuxv(auxvRaw), (address, length) => reader.peek(address, length));
    ranges = minimalRanges(
      mappings,
      threads.map((t) => t.prstatus.registers),
      arch,
      (m) => startsWithElf(reader, m),
      libraries,
    );
  } else {
    const filter = mode === 'all' ? ALL_FILTER : (filterOverride ?? readCoredumpFilter(pid));
    const smaps = readSmaps(pid);
    const ctx: DumpContext = { filter, startsWithElf: (m) => startsWithElf(reader, m) };
    ranges = mappings.map((m) => ({
      vaddr: m.start,
      memsz: m.end - m.start,
      filesz: Number(dumpSize(m, smaps.get(m.start), ctx)),
      flags: segmentFlags(m),
      anonymous: !m.shared && (m.path === '' || m.path === '[heap]' || m.path === '[stack]' || m.path.startsWith('[anon:')),
    }));
  }
  const layout = planLayout(arch.machine, notes.length, ranges);
  return { notes, ranges, layout, threads: threads.length };
}

function threadNotes(thread: Thread, pid: number, ids: ReturnType<typeof processIds>, arch: CoreArch): ThreadNotes {
  const registers = thread.getRegistersRaw();
  const regsets: ThreadNotes['regsets'] = [];
  for (const type of arch.extraRegsets) {
    try {
      const desc = thread.getRegset(type);
      if (desc.length > 0) regsets.push({ type, desc });
    } catch {
      // The CPU or kernel lacks this regset (no SVE, no PAC...): the kernel skips it too.
    }
  }
  const fpvalid = regsets.some((r) => r.type === NoteType.PRFPREG);
  return { prstatus: threadPrstatus(pid, thread.tid, ids, registers, fpvalid), regsets };
}

export function segmentFlags(m: Mapping): number {
  return (m.readable ? PFlag.R : 0) | (m.writable ? PFlag.W : 0) | (m.executable ? PFlag.X : 0);
}

/** NT_FILE lists file-backed mappings with the path as d_path prints it (" (deleted)" included). */
function mappedFiles(mappings: Mapping[]): MappedFile[] {
  return mappings
    .filter((m) => m.path.startsWith('/'))
    .map((m) => ({ start: m.start, end: m.end, offset: m.offset, path: m.deleted ? `${m.path} (deleted)` : m.path }));
}

function startsWithElf(reader: BulkReader, m: Mapping): boolean {
  const head = reader.peek(m.start, 4);
  return head.length === 4 && head.readUInt32BE(0) === 0x7f454c46;
}

/**
 * Reads chunk N+1 while chunk N is being written, with two buffers reused
 * throughout: memory use does not grow with the target.
 */
async function streamMemory(
  ranges: readonly PlannedRange[],
  reader: BulkReader,
  sink: ReturnType<typeof openSink>,
  chunkSize: number,
  total: number,
  onProgress?: (done: number, total: number) => void,
): Promise<void> {
  const steps: { address: bigint; length: number; anonymous: boolean }[] = [];
  for (const r of ranges) {
    for (let at = 0; at < r.filesz; at += chunkSize) {
      steps.push({ address: r.vaddr + BigInt(at), length: Math.min(chunkSize, r.filesz - at), anonymous: r.anonymous ?? false });
    }
  }
  if (steps.length === 0) return;
  const buffers = [Buffer.allocUnsafe(Math.min(chunkSize, total)), Buffer.allocUnsafe(Math.min(chunkSize, total))];
  let done = 0;
  let pending = reader.readInto(steps[0]!.address, buffers[0]!, steps[0]!.length, steps[0]!.anonymous);
  for (let i = 0; i < steps.length; i++) {
    await pending;
    const current = buffers[i % 2]!.subarray(0, steps[i]!.length);
    const next = steps[i + 1];
    pending = next ? reader.readInto(next.address, buffers[(i + 1) % 2]!, next.length, next.anonymous) : Promise.resolve();
    await sink.write(current, true);
    done += current.length;
    onProgress?.(done, total);
  }
  await pending;
}
