/**
 * Reads a core from a stream that cannot seek, such as the pipe the kernel
 * writes a core into (core(5), "Piping core dumps to a program"). Bytes are
 * consumed strictly in order: headers, then notes and segment data in file
 * order, each handed to `onData` as it passes and kept for the memory view
 * only if asked.
 */
import type { Readable } from 'node:stream';
import { Core } from './core';
import { EHDR_SIZE, PHDR_SIZE, PN_XNUM, PType, SHDR_SIZE } from './elf';
import { CoreFormatError } from './errors';
import { extendedPhnum, parseElfHeader, parseProgramHeaders, type ProgramHeader } from './header';
import type { ByteSource } from './memory';
import { type Note, parseNotes } from './notes';

export interface StreamReadOptions {
  /** Keep every segment's bytes in memory so core.memory can read them (default true). */
  keepMemory?: boolean;
  /** Called with segment data in file order as it streams past (to store or forward it). */
  onData?(chunk: Buffer, fileOffset: number): void | Promise<void>;
  /** Accept a stream that ends inside segment data; the missing tails become unavailable. */
  allowTruncated?: boolean;
  /** Refuse program headers or notes larger than this (bytes); 64 MiB by default. */
  maxHeadBytes?: number;
}

/** A Core read from a stream, with how many bytes the stream carried in all. */
export class StreamedCore extends Core {
  constructor(
    parts: ConstructorParameters<typeof Core>[0],
    readonly size: number,
  ) {
    super(parts);
  }
}

/** Pulls exact byte counts from an async stream of chunks, tracking the file offset. */
class Cursor {
  position = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private done = false;

  constructor(private readonly chunks: AsyncIterator<Buffer | string>) {}

  private async fill(): Promise<boolean> {
    if (this.done) return false;
    const next = await this.chunks.next();
    if (next.done) {
      this.done = true;
      return false;
    }
    const chunk = typeof next.value === 'string' ? Buffer.from(next.value, 'latin1') : next.value;
    if (chunk.length > 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
    }
    return true;
  }

  /** Takes up to `max` bytes that are available now or after one more chunk; empty at the end. */
  private async take(max: number): Promise<Buffer> {
    while (this.pendingBytes === 0) if (!(await this.fill())) return Buffer.alloc(0);
    const first = this.pending[0]!;
    const n = Math.min(max, first.length);
    const out = first.subarray(0, n);
    if (n === first.length) this.pending.shift();
    else this.pending[0] = first.subarray(n);
    this.pendingBytes -= n;
    this.position += n;
    return out;
  }

  /** Exactly `n` bytes, or fewer only when the stream ends. */
  async read(n: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let got = 0;
    while (got < n) {
      const part = await this.take(n - got);
      if (part.length === 0) break;
      parts.push(part);
      got += part.length;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, got);
  }

  /** Passes `n` bytes to `each` chunk by chunk; returns how many there were before the end. */
  async pass(n: number, each: (chunk: Buffer, offset: number) => void | Promise<void>): Promise<number> {
    let got = 0;
    while (got < n) {
      const at = this.position;
      const part = await this.take(n - got);
      if (part.length === 0) break;
      await each(part, at);
      got += part.length;
    }
    return got;
  }

  /** Reads and drops whatever is left (a kernel pipe writer waits until the core is consumed). */
  async drain(): Promise<void> {
    this.position += this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    while (await this.fill()) {
      this.position += this.pendingBytes;
      this.pending = [];
      this.pendingBytes = 0;
    }
  }
}

interface Region {
  kind: 'note' | 'load' | 'shdr0';
  index: number;
  offset: number;
  size: number;
}

/** Reads a core from a Readable (or any async iterable of chunks) without seeking. */
export async function readCoreStream(stream: Readable | AsyncIterable<Buffer | string>, options: StreamReadOptions = {}): Promise<StreamedCore> {
  const keep = options.keepMemory ?? true;
  const maxHead = options.maxHeadBytes ?? 64 << 20;
  const cursor = new Cursor((stream as AsyncIterable<Buffer>)[Symbol.asyncIterator]());
  const ended = (what: string) => new CoreFormatError(cursor.position, `stream ends inside ${what}`);

  const header = parseElfHeader(await cursor.read(EHDR_SIZE));
  if (header.rawPhnum > 0 && header.phoff < EHDR_SIZE) throw new CoreFormatError(32, `e_phoff ${header.phoff} overlaps the ELF header`);
  if (header.phoff > maxHead) throw new CoreFormatError(32, `e_phoff ${header.phoff} is beyond the ${maxHead} bytes allowed before the program headers`);
  await cursor.pass(header.phoff - cursor.position, () => undefined);
  if (cursor.position < header.phoff) throw ended('the gap before the program headers');

  let phnum = header.rawPhnum;
  let programHeaders: ProgramHeader[];
  if (phnum === PN_XNUM) {
    // Section header 0, which holds the count, comes after the data; the
    // first program header is PT_NOTE and its notes start right after the
    // last program header (fs/binfmt_elf.c), which gives the count now.
    const firstBytes = await cursor.read(PHDR_SIZE);
    const [first] = parseProgramHeaders(firstBytes, 1, header.phoff);
    if (first!.type !== PType.NOTE || (first!.offset - header.phoff) % PHDR_SIZE !== 0 || first!.offset <= header.phoff) {
      throw new CoreFormatError(
        header.phoff,
        'e_phnum is PN_XNUM and the first program header is not a PT_NOTE right after the program headers: cannot count them without seeking',
      );
    }
    phnum = (first!.offset - header.phoff) / PHDR_SIZE;
    if (phnum * PHDR_SIZE > maxHead) throw new CoreFormatError(header.phoff, `${phnum} program headers exceed the ${maxHead} bytes allowed`);
    const rest = await cursor.read((phnum - 1) * PHDR_SIZE);
    if (rest.length < (phnum - 1) * PHDR_SIZE) throw ended('the program headers');
    programHeaders = [first!, ...parseProgramHeaders(rest, phnum - 1, header.phoff + PHDR_SIZE)];
  } else {
    const bytes = await cursor.read(phnum * PHDR_SIZE);
    if (bytes.length < phnum * PHDR_SIZE) throw ended('the program headers');
    programHeaders = parseProgramHeaders(bytes, phnum, header.phoff);
  }

  const regions: Region[] = [];
  programHeaders.forEach((ph, index) => {
    if (ph.filesz === 0) return;
    if (ph.type === PType.NOTE) regions.push({ kind: 'note', index, offset: ph.offset, size: ph.filesz });
    else if (ph.type === PType.LOAD) regions.push({ kind: 'load', index, offset: ph.offset, size: ph.filesz });
  });
  if (header.rawPhnum === PN_XNUM) regions.push({ kind: 'shdr0', index: -1, offset: header.shoff, size: SHDR_SIZE });
  regions.sort((a, b) => a.offset - b.offset);

  const notes: Note[] = [];
  const kept = new Map<number, Buffer>(); // file offset of a segment -> its bytes
  for (const region of regions) {
    const phdrAt = header.phoff + region.index * PHDR_SIZE;
    if (region.offset < cursor.position) {
      throw new CoreFormatError(
        region.kind === 'shdr0' ? 40 : phdrAt + 8,
        `${describe(region)} at offset ${region.offset} lies before offset ${cursor.position}, already read: cannot stream`,
      );
    }
    await cursor.pass(region.offset - cursor.position, () => undefined);
    if (cursor.position < region.offset) {
      if (region.kind === 'load' && options.allowTruncated) {
        programHeaders[region.index]!.filesz = 0;
        continue;
      }
      throw ended(`the gap before ${describe(region)}`);
    }
    if (region.kind === 'note') {
      if (region.size > maxHead) throw new CoreFormatError(phdrAt + 32, `PT_NOTE ${region.index} is ${region.size} bytes, more than the ${maxHead} allowed`);
      const bytes = await cursor.read(region.size);
      if (bytes.length < region.size) throw ended(`PT_NOTE ${region.index}`);
      notes.push(...parseNotes(bytes, region.offset));
    } else if (region.kind === 'shdr0') {
      const bytes = await cursor.read(SHDR_SIZE);
      if (extendedPhnum(bytes, region.offset) !== phnum) {
        throw new CoreFormatError(
          region.offset + 44,
          `section header 0 says ${extendedPhnum(bytes, region.offset)} program headers, the layout implied ${phnum}`,
        );
      }
    } else {
      const parts: Buffer[] = [];
      const got = await cursor.pass(region.size, async (chunk, offset) => {
        if (keep) parts.push(Buffer.from(chunk)); // copy: the stream may reuse its buffers
        await options.onData?.(chunk, offset);
      });
      if (got < region.size) {
        if (!options.allowTruncated) throw ended(`PT_LOAD ${region.index} (${got} of ${region.size} bytes)`);
        programHeaders[region.index]!.filesz = got;
      }
      if (keep) kept.set(region.offset, Buffer.concat(parts, got));
    }
  }
  await cursor.drain();

  const source: ByteSource = {
    read(offset, length) {
      for (const [start, bytes] of kept) {
        if (offset >= start && offset + length <= start + bytes.length) return bytes.subarray(offset - start, offset - start + length);
      }
      throw new Error(keep ? `no kept segment data at core offset ${offset}` : 'segment data was not kept (keepMemory: false)');
    },
  };
  return new StreamedCore({ header, programHeaders, notes, source, phoff: header.phoff }, cursor.position);
}

function describe(region: Region): string {
  if (region.kind === 'shdr0') return 'section header 0';
  return `${region.kind === 'note' ? 'PT_NOTE' : 'PT_LOAD'} ${region.index}`;
}
