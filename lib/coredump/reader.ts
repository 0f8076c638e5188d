/**
 * Reads a core from a file (or a file descriptor): headers and notes up
 * front, memory on demand with pread, so a core of any size costs little.
 */
import fs from 'node:fs';
import { fromNodeError } from '../errors';
import { Core } from './core';
import { EHDR_SIZE, PHDR_SIZE, PN_XNUM, PType, SHDR_SIZE } from './elf';
import { CoreFormatError } from './errors';
import { type ElfHeader, type ProgramHeader, extendedPhnum, parseElfHeader, parseProgramHeaders } from './header';
import type { ByteSource } from './memory';
import { type Note, parseNotes } from './notes';

export interface ReadOptions {
  /** Accept a core whose segments run past the end of the file (their tails become unavailable). */
  allowTruncated?: boolean;
  /** Refuse note segments larger than this (bytes); 64 MiB by default. */
  maxNoteBytes?: number;
}

/** A core read from a file; close() releases its descriptor. */
export class CoreFile extends Core {
  constructor(
    parts: ConstructorParameters<typeof Core>[0],
    private fd: number | undefined,
    readonly size: number,
  ) {
    super(parts);
  }

  close(): void {
    if (this.fd === undefined) return;
    fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Opens and parses a core file. Throws CoreFormatError for a malformed core, SystemError for I/O. */
export function openCore(path: string, options: ReadOptions = {}): CoreFile {
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (err) {
    throw fromNodeError(err, { path });
  }
  try {
    return readCoreFd(fd, options, path);
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}

/** Parses the core on `fd` (it must support pread); the CoreFile owns the fd from then on. */
export function readCoreFd(fd: number, options: ReadOptions = {}, path?: string): CoreFile {
  const size = fs.fstatSync(fd).size;
  const pread = (offset: number, length: number): Buffer => {
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      let n: number;
      try {
        n = fs.readSync(fd, buf, done, length - done, offset + done);
      } catch (err) {
        throw fromNodeError(err, path === undefined ? { fd } : { path });
      }
      if (n === 0) break;
      done += n;
    }
    return done === length ? buf : buf.subarray(0, done);
  };
  const parts = parseHead(pread, size, options);
  const source: ByteSource = {
    read(offset, length) {
      const got = pread(offset, length);
      if (got.length < length) throw new CoreFormatError(offset + got.length, 'file ends inside segment data');
      return got;
    },
  };
  return new CoreFile({ ...parts, source }, fd, size);
}

/** Reads a whole core from a Buffer (small cores, tests, cores received in memory). */
export function parseCoreBuffer(bytes: Buffer, options: ReadOptions = {}): Core {
  const slice = (offset: number, length: number) => bytes.subarray(offset, Math.min(bytes.length, offset + length));
  const parts = parseHead(slice, bytes.length, options);
  const source: ByteSource = {
    read(offset, length) {
      const got = slice(offset, length);
      if (got.length < length) throw new CoreFormatError(offset + got.length, 'core ends inside segment data');
      return got;
    },
  };
  return new Core({ ...parts, source });
}

type Read = (offset: number, length: number) => Buffer;

function parseHead(read: Read, size: number, options: ReadOptions) {
  const header = parseElfHeader(read(0, EHDR_SIZE));
  const phnum = programHeaderCount(header, read, size);
  if (phnum > 0 && header.phoff < EHDR_SIZE) throw new CoreFormatError(32, `e_phoff ${header.phoff} overlaps the ELF header`);
  if (header.phoff + phnum * PHDR_SIZE > size) {
    throw new CoreFormatError(Math.min(size, header.phoff), `program headers (${phnum} at offset ${header.phoff}) run past the end of the file (size ${size})`);
  }
  const programHeaders = parseProgramHeaders(read(header.phoff, phnum * PHDR_SIZE), phnum, header.phoff);
  const notes = readNotes(programHeaders, header, read, size, options);
  checkSegments(programHeaders, header.phoff, size, options);
  return { header, programHeaders, notes, phoff: header.phoff };
}

function programHeaderCount(header: ElfHeader, read: Read, size: number): number {
  if (header.rawPhnum !== PN_XNUM) return header.rawPhnum;
  if (header.shoff === 0 || header.shoff + SHDR_SIZE > size) {
    throw new CoreFormatError(40, `e_phnum is PN_XNUM but section header 0 (e_shoff ${header.shoff}) is not in the file (size ${size})`);
  }
  return extendedPhnum(read(header.shoff, SHDR_SIZE), header.shoff);
}

function readNotes(phdrs: ProgramHeader[], header: ElfHeader, read: Read, size: number, options: ReadOptions): Note[] {
  const max = options.maxNoteBytes ?? 64 << 20;
  const notes: Note[] = [];
  for (const [i, ph] of phdrs.entries()) {
    if (ph.type !== PType.NOTE) continue;
    const at = header.phoff + i * PHDR_SIZE;
    if (ph.filesz > max) throw new CoreFormatError(at + 32, `PT_NOTE ${i} is ${ph.filesz} bytes, more than the ${max} allowed`);
    if (ph.offset + ph.filesz > size) {
      throw new CoreFormatError(at + 8, `PT_NOTE ${i} [${ph.offset}, ${ph.offset + ph.filesz}) runs past the end of the file (size ${size}): truncated core`);
    }
    notes.push(...parseNotes(read(ph.offset, ph.filesz), ph.offset));
  }
  return notes;
}

function checkSegments(phdrs: ProgramHeader[], phoff: number, size: number, options: ReadOptions): void {
  for (const [i, ph] of phdrs.entries()) {
    if (ph.type !== PType.LOAD || ph.offset + ph.filesz <= size) continue;
    if (!options.allowTruncated) {
      throw new CoreFormatError(
        phoff + i * PHDR_SIZE + 8,
        `PT_LOAD ${i} data [${ph.offset}, ${ph.offset + ph.filesz}) runs past the end of the file (size ${size}): truncated core`,
      );
    }
    // Keep what is there: the rest of the segment becomes unavailable.
    ph.filesz = Math.max(0, size - ph.offset);
  }
}
