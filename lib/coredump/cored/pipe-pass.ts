/**
 * The one pass over the kernel's pipe: every chunk goes to each live sink
 * (concurrently, with backpressure) and to the core engine's stream reader
 * for the notes. A sink that fails, or accepts nothing for `stallMs`, is
 * aborted and dropped while the others go on. The pass stops early when the
 * time budget runs out: returning closes the pipe, the kernel stops writing
 * and the crashing process is released.
 */
import { buildIdAt } from '../build-id';
import { ELF_MAGIC, EHDR_SIZE, PHDR_SIZE, PN_XNUM, SHDR_SIZE } from '../elf';
import { parseElfHeader, parseProgramHeaders } from '../header';
import { NoteType, PType } from '../elf';
import { decodeCoreSiginfo } from '../note-payloads';
import { parseNotes } from '../notes';
import { type StreamedCore, readCoreStream } from '../stream-reader';
import { Core } from '../core';
import { AuxvType } from '../../procfs/auxv';
import type { CrashRecord } from './record';
import type { CrashSink } from './sinks/types';

type Chunks = AsyncIterator<Buffer>;

/** Pulls chunks until the ELF and program headers are in hand: the core's size before its data. */
export interface Head {
  /** The core's size from its program headers. */
  expectedSize?: number;
  /** Where segment data starts: everything before (headers, notes) is parsed, and must be copied to be kept. */
  dataStart?: number;
  /** From the first NT_PRSTATUS and NT_SIGINFO: the thread that dumped and its signal. */
  crash?: { tid: number; signal: number };
  /** The chunks read so far, to be replayed. */
  replay: Buffer[];
  ended: boolean;
}

/** Notes further into the core than this are not waited for: the head is for deciding, not for parsing. */
const NOTES_WITHIN = 4 << 20;

/** The dumping thread (the kernel writes its NT_PRSTATUS first) and the signal, from the notes. */
function crashingThread(notes: Buffer, base: number): Head['crash'] {
  let tid: number | undefined;
  let signal: number | undefined;
  for (const note of parseNotes(notes, base)) {
    if (note.name !== 'CORE') continue;
    if (note.type === NoteType.PRSTATUS && tid === undefined && note.desc.length >= 36) {
      signal ??= note.desc.readInt16LE(12); // pr_cursig
      tid = note.desc.readInt32LE(32); // pr_pid: the same offsets on every 64-bit architecture
    } else if (note.type === NoteType.SIGINFO) signal = decodeCoreSiginfo(note.desc, note.offset).signo;
  }
  return tid !== undefined && signal !== undefined ? { tid, signal } : undefined;
}

export async function peekHead(chunks: Chunks): Promise<Head> {
  const replay: Buffer[] = [];
  let have = 0;
  let ended = false;
  const need = async (n: number) => {
    while (have < n && !ended) {
      const next = await chunks.next();
      if (next.done) ended = true;
      else {
        replay.push(Buffer.from(next.value)); // the reader reuses its buffers
        have += next.value.length;
      }
    }
    return have >= n;
  };
  try {
    if (!(await need(EHDR_SIZE))) return { replay, ended };
    let head = Buffer.concat(replay);
    const header = parseElfHeader(head.subarray(0, EHDR_SIZE));
    const phnum = header.rawPhnum === PN_XNUM ? 1 : header.rawPhnum;
    if (header.phoff + phnum * PHDR_SIZE > 1 << 20 || !(await need(header.phoff + phnum * PHDR_SIZE))) return { replay, ended };
    head = Buffer.concat(replay);
    let end = header.rawPhnum === PN_XNUM ? header.shoff + SHDR_SIZE : header.phoff + phnum * PHDR_SIZE;
    let dataStart = Infinity;
    let notes: { offset: number; size: number } | undefined;
    for (const ph of parseProgramHeaders(head.subarray(header.phoff, header.phoff + phnum * PHDR_SIZE), phnum, header.phoff)) {
      end = Math.max(end, ph.offset + ph.filesz);
      if (ph.type === PType.LOAD && ph.filesz > 0) dataStart = Math.min(dataStart, ph.offset);
      if (ph.type === PType.NOTE && !notes) notes = { offset: ph.offset, size: ph.filesz };
    }
    if (header.rawPhnum === PN_XNUM) return { replay, ended };
    const result: Head = { expectedSize: end, dataStart: Number.isFinite(dataStart) ? dataStart : end, replay, ended };
    if (notes && notes.offset + notes.size <= NOTES_WITHIN && (await need(notes.offset + notes.size))) {
      result.crash = crashingThread(Buffer.concat(replay).subarray(notes.offset, notes.offset + notes.size), notes.offset);
    }
    result.ended = ended;
    return result;
  } catch {
    return { replay, ended }; // not an ELF core: the sinks still get the bytes, the notes are left out
  }
}

const PAGE = 4096;
const KEEP = 2 * PAGE;
const MAX_KEPT = 512;

/**
 * Keeps the first pages of every ELF image that passes (page-aligned
 * "\x7fELF" in segment data), so build-ids can be read without keeping the
 * core in memory: the kernel dumps those pages for coredump_filter bit 4.
 */
class ElfPageKeeper {
  readonly kept = new Map<number, Buffer>();
  private open?: { start: number; parts: Buffer[]; got: number };

  feed(chunk: Buffer, offset: number): void {
    let p = 0;
    if (this.open) p = this.extend(chunk, 0);
    for (let at = (PAGE - (offset % PAGE)) % PAGE; at + 4 <= chunk.length; at += PAGE) {
      if (at < p || chunk[at] !== 0x7f || !chunk.subarray(at, at + 4).equals(ELF_MAGIC)) continue;
      if (this.kept.size >= MAX_KEPT) return;
      this.close();
      this.open = { start: offset + at, parts: [], got: 0 };
      p = this.extend(chunk, at);
    }
  }

  private extend(chunk: Buffer, from: number): number {
    const open = this.open!;
    const n = Math.min(KEEP - open.got, chunk.length - from);
    open.parts.push(Buffer.from(chunk.subarray(from, from + n)));
    open.got += n;
    if (open.got === KEEP) this.close();
    return from + n;
  }

  private close(): void {
    if (!this.open) return;
    this.kept.set(this.open.start, Buffer.concat(this.open.parts));
    this.open = undefined;
  }

  finish(): void {
    this.close();
  }

  read(offset: number, length: number): Buffer {
    for (const [start, bytes] of this.kept) {
      if (offset >= start && offset + length <= start + bytes.length) return bytes.subarray(offset - start, offset - start + length);
    }
    throw new Error(`core offset ${offset} was not kept`);
  }
}

export interface PassOptions {
  sinks: CrashSink[];
  /** Sinks get at most this many bytes (limits.max_core_size with on_oversize = "truncate"). */
  maxBytes?: number;
  /** Date.now() after which the pass stops. */
  deadline: number;
  stallMs: number;
  /** Chunks before this offset are copied for the stream reader, which keeps parsed notes (default: all). */
  copyUntil?: number;
  onSinkFailed(sink: CrashSink, error: string): void;
}

export interface PassResult {
  bytes: number;
  truncated: boolean;
  budgetExceeded: boolean;
  summary?: NonNullable<CrashRecord['core']>;
  parseError?: string;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(what)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export async function runPass(head: Buffer[], rest: Chunks, restEnded: boolean, options: PassOptions): Promise<PassResult> {
  const live = new Set(options.sinks);
  const keeper = new ElfPageKeeper();
  const result: PassResult = { bytes: 0, truncated: false, budgetExceeded: false };

  const deliver = async (chunk: Buffer) => {
    let part = chunk;
    if (options.maxBytes !== undefined && result.bytes + chunk.length > options.maxBytes) {
      part = chunk.subarray(0, Math.max(0, options.maxBytes - result.bytes));
      result.truncated = true;
    }
    if (part.length === 0 || live.size === 0) return;
    await Promise.all(
      [...live].map(async (sink) => {
        try {
          await withTimeout(sink.write(part), options.stallMs, `stalled: took no data for ${options.stallMs / 1000} s`);
        } catch (err) {
          live.delete(sink);
          sink.abort((err as Error).message);
          options.onSinkFailed(sink, (err as Error).message);
        }
      }),
    );
  };

  let inFlight: Promise<void> = Promise.resolve();
  async function* tap(): AsyncGenerator<Buffer> {
    const feed = async function* (chunk: Buffer) {
      keeper.feed(chunk, result.bytes);
      // One chunk in the sinks while the next is read: the reader reuses a buffer only two chunks later.
      await inFlight;
      inFlight = deliver(chunk); // takes its slice of `chunk` now, from result.bytes before this chunk
      const start = result.bytes;
      result.bytes += chunk.length;
      // Headers and notes are kept by the reader (note payloads are views into the chunk); data is not.
      yield start < (options.copyUntil ?? Infinity) ? Buffer.from(chunk) : chunk;
    };
    for (const chunk of head) {
      if (Date.now() > options.deadline) {
        result.budgetExceeded = true;
        return;
      }
      yield* feed(chunk);
    }
    if (restEnded) return;
    // A writer that stops writing must not hold us past the deadline either.
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'expired'>((resolve) => (timer = setTimeout(() => resolve('expired'), Math.max(0, options.deadline - Date.now()))));
    try {
      for (;;) {
        const next = await Promise.race([rest.next(), expired]);
        if (next === 'expired' || Date.now() > options.deadline) {
          result.budgetExceeded = true;
          return;
        }
        if (next.done) return;
        yield* feed(next.value);
      }
    } finally {
      clearTimeout(timer);
    }
  }

  const chunks = tap();
  let streamed: StreamedCore | undefined;
  try {
    streamed = await readCoreStream({ [Symbol.asyncIterator]: () => chunks }, { keepMemory: false, allowTruncated: true });
  } catch (err) {
    result.parseError = (err as Error).message;
    // Keep feeding the sinks: a core the reader cannot parse is still a core to store.
    while (!(await chunks.next()).done);
  }
  await inFlight;
  keeper.finish();
  if (streamed) {
    try {
      result.summary = summarize(streamed, keeper);
    } catch (err) {
      result.parseError = (err as Error).message;
    }
  }
  return result;
}

function summarize(streamed: StreamedCore, keeper: ElfPageKeeper): NonNullable<CrashRecord['core']> {
  // The same headers and notes over the kept pages only: enough for build-ids.
  const core = new Core({
    header: streamed.header,
    programHeaders: [...streamed.programHeaders],
    notes: [...streamed.notes],
    source: { read: (offset, length) => keeper.read(offset, length) },
    phoff: streamed.header.phoff,
  });
  const buildIds: { path: string; buildId: string }[] = [];
  const seen = new Set<string>();
  const tryAt = (path: string, start: bigint) => {
    if (seen.has(path)) return;
    try {
      const id = buildIdAt(core.memory, start);
      if (id) {
        seen.add(path);
        buildIds.push({ path, buildId: id });
      }
    } catch {
      /* that image's first page was not dumped or not kept */
    }
  };
  for (const f of core.files) if (f.offset === 0n) tryAt(f.path, f.start);
  const vdso = core.auxv?.get(AuxvType.AT_SYSINFO_EHDR);
  if (vdso) tryAt('[vdso]', vdso);

  const first = core.firstThread;
  const si = core.siginfo;
  return {
    threads: core.threads.map((t) => ({ tid: t.tid, signal: t.signal })),
    crashingThread: first && {
      tid: first.tid,
      registers: Object.fromEntries(Object.entries(first.registers).map(([k, v]) => [k, `0x${v.toString(16)}`])),
    },
    siginfo: si && {
      signo: si.signo,
      code: si.code,
      errno: si.errno,
      ...(si.addr !== undefined ? { addr: `0x${si.addr.toString(16)}` } : {}),
      ...(si.pid !== undefined ? { pid: si.pid, uid: si.uid } : {}),
    },
    buildIds,
    files: core.files.length,
  };
}
