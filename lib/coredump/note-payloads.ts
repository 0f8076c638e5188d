/**
 * The descriptors of a Linux core's notes: NT_PRSTATUS, NT_PRPSINFO,
 * NT_FILE (include/linux/elfcore.h, include/uapi/linux/elfcore.h and
 * fs/binfmt_elf.c for the layouts), decoded and encoded for 64-bit targets.
 */
import { type Siginfo, decodeSiginfo } from '../ptrace/siginfo';
import { CoreFormatError } from './errors';
import { type CoreArch, PR_REG_OFFSET } from './registers';

export interface Prstatus {
  /** pr_info.si_signo and pr_cursig: the signal the thread was stopped for. */
  signal: number;
  code: number;
  errno: number;
  cursig: number;
  sigpend: bigint;
  sighold: bigint;
  pid: number;
  ppid: number;
  pgrp: number;
  sid: number;
  /** utime, stime, cutime, cstime in microseconds. */
  utime: bigint;
  stime: bigint;
  cutime: bigint;
  cstime: bigint;
  registers: Buffer;
  fpvalid: boolean;
}

function timeval(buf: Buffer, at: number): bigint {
  return buf.readBigInt64LE(at) * 1_000_000n + buf.readBigInt64LE(at + 8);
}

function writeTimeval(buf: Buffer, at: number, micros: bigint): void {
  buf.writeBigInt64LE(micros / 1_000_000n, at);
  buf.writeBigInt64LE(micros % 1_000_000n, at + 8);
}

function requireSize(desc: Buffer, size: number, offset: number, what: string): void {
  if (desc.length < size) throw new CoreFormatError(offset, `${what} note is ${desc.length} bytes, expected ${size}`);
}

export function decodePrstatus(desc: Buffer, arch: CoreArch, offset: number): Prstatus {
  requireSize(desc, arch.prstatusSize, offset, 'NT_PRSTATUS');
  const regBytes = arch.layout.gprNames.length * 8;
  return {
    signal: desc.readInt32LE(0),
    code: desc.readInt32LE(4),
    errno: desc.readInt32LE(8),
    cursig: desc.readInt16LE(12),
    sigpend: desc.readBigUInt64LE(16),
    sighold: desc.readBigUInt64LE(24),
    pid: desc.readInt32LE(32),
    ppid: desc.readInt32LE(36),
    pgrp: desc.readInt32LE(40),
    sid: desc.readInt32LE(44),
    utime: timeval(desc, 48),
    stime: timeval(desc, 64),
    cutime: timeval(desc, 80),
    cstime: timeval(desc, 96),
    registers: Buffer.from(desc.subarray(PR_REG_OFFSET, PR_REG_OFFSET + regBytes)),
    fpvalid: desc.readInt32LE(PR_REG_OFFSET + regBytes) !== 0,
  };
}

export function encodePrstatus(p: Prstatus, arch: CoreArch): Buffer {
  const buf = Buffer.alloc(arch.prstatusSize);
  buf.writeInt32LE(p.signal, 0);
  buf.writeInt32LE(p.code, 4);
  buf.writeInt32LE(p.errno, 8);
  buf.writeInt16LE(p.cursig, 12);
  buf.writeBigUInt64LE(p.sigpend, 16);
  buf.writeBigUInt64LE(p.sighold, 24);
  buf.writeInt32LE(p.pid, 32);
  buf.writeInt32LE(p.ppid, 36);
  buf.writeInt32LE(p.pgrp, 40);
  buf.writeInt32LE(p.sid, 44);
  writeTimeval(buf, 48, p.utime);
  writeTimeval(buf, 64, p.stime);
  writeTimeval(buf, 80, p.cutime);
  writeTimeval(buf, 96, p.cstime);
  const regBytes = arch.layout.gprNames.length * 8;
  p.registers.copy(buf, PR_REG_OFFSET, 0, regBytes);
  buf.writeInt32LE(p.fpvalid ? 1 : 0, PR_REG_OFFSET + regBytes);
  return buf;
}

/** struct elf_prpsinfo on 64-bit Linux: 136 bytes (uid/gid are 32-bit on x86_64 and arm64). */
export interface Prpsinfo {
  /** The index into "RSDTZW" the kernel computes from the task state. */
  state: number;
  sname: string;
  zombie: boolean;
  nice: number;
  flags: bigint;
  uid: number;
  gid: number;
  pid: number;
  ppid: number;
  pgrp: number;
  sid: number;
  /** The command name (comm), at most 15 bytes. */
  fname: string;
  /** The start of the command line, NULs as spaces, at most 79 bytes. */
  psargs: string;
}

export const PRPSINFO_SIZE = 136;

function cString(buf: Buffer, start: number, length: number): string {
  const end = buf.indexOf(0, start);
  return buf.toString('utf8', start, end < 0 || end > start + length ? start + length : end);
}

export function decodePrpsinfo(desc: Buffer, offset: number): Prpsinfo {
  requireSize(desc, PRPSINFO_SIZE, offset, 'NT_PRPSINFO');
  return {
    state: desc.readInt8(0),
    sname: String.fromCharCode(desc[1]!),
    zombie: desc[2] !== 0,
    nice: desc.readInt8(3),
    flags: desc.readBigUInt64LE(8),
    uid: desc.readUInt32LE(16),
    gid: desc.readUInt32LE(20),
    pid: desc.readInt32LE(24),
    ppid: desc.readInt32LE(28),
    pgrp: desc.readInt32LE(32),
    sid: desc.readInt32LE(36),
    fname: cString(desc, 40, 16),
    psargs: cString(desc, 56, 80),
  };
}

export function encodePrpsinfo(p: Prpsinfo): Buffer {
  const buf = Buffer.alloc(PRPSINFO_SIZE);
  buf.writeInt8(p.state, 0);
  buf.write(p.sname.slice(0, 1), 1, 'latin1');
  buf[2] = p.zombie ? 1 : 0;
  buf.writeInt8(p.nice, 3);
  buf.writeBigUInt64LE(p.flags, 8);
  buf.writeUInt32LE(p.uid, 16);
  buf.writeUInt32LE(p.gid, 20);
  buf.writeInt32LE(p.pid, 24);
  buf.writeInt32LE(p.ppid, 28);
  buf.writeInt32LE(p.pgrp, 32);
  buf.writeInt32LE(p.sid, 36);
  writeTruncated(buf, p.fname, 40, 15);
  writeTruncated(buf, p.psargs, 56, 79);
  return buf;
}

/** Writes at most `max` bytes of `text`, leaving the NUL after them. */
function writeTruncated(buf: Buffer, text: string, at: number, max: number): void {
  const bytes = Buffer.from(text, 'utf8');
  bytes.copy(buf, at, 0, Math.min(max, bytes.length));
}

/** One NT_FILE entry: a file-backed mapping. `offset` is in bytes whatever the note's unit. */
export interface MappedFile {
  start: bigint;
  end: bigint;
  offset: bigint;
  path: string;
}

/**
 * NT_FILE: count, page size, count (start, end, offset-in-pages) triples,
 * then count NUL-terminated paths (fs/binfmt_elf.c, fill_files_note). gdb's
 * gcore writes a page size of 1, so offsets become bytes either way.
 */
export function decodeFileNote(desc: Buffer, offset: number): MappedFile[] {
  if (desc.length < 16) throw new CoreFormatError(offset, `NT_FILE note is ${desc.length} bytes, too short for its count and page size`);
  const count = desc.readBigUInt64LE(0);
  const pageSize = desc.readBigUInt64LE(8);
  if (count > BigInt(Math.floor((desc.length - 16) / 24)))
    throw new CoreFormatError(offset, `NT_FILE claims ${count} files but holds at most ${Math.floor((desc.length - 16) / 24)}`);
  const n = Number(count);
  const files: MappedFile[] = [];
  let names = 16 + n * 24;
  for (let i = 0; i < n; i++) {
    const at = 16 + i * 24;
    const end = desc.indexOf(0, names);
    if (end < 0) throw new CoreFormatError(offset, `NT_FILE path ${i} of ${n} is missing or not NUL-terminated`);
    files.push({
      start: desc.readBigUInt64LE(at),
      end: desc.readBigUInt64LE(at + 8),
      offset: desc.readBigUInt64LE(at + 16) * pageSize,
      path: desc.toString('utf8', names, end),
    });
    names = end + 1;
  }
  return files;
}

export function encodeFileNote(files: readonly MappedFile[], pageSize: number): Buffer {
  const paths = files.map((f) => Buffer.from(`${f.path}\0`, 'utf8'));
  const buf = Buffer.alloc(16 + files.length * 24 + paths.reduce((n, p) => n + p.length, 0));
  buf.writeBigUInt64LE(BigInt(files.length), 0);
  buf.writeBigUInt64LE(BigInt(pageSize), 8);
  files.forEach((f, i) => {
    buf.writeBigUInt64LE(f.start, 16 + i * 24);
    buf.writeBigUInt64LE(f.end, 24 + i * 24);
    buf.writeBigUInt64LE(f.offset / BigInt(pageSize), 32 + i * 24);
  });
  let at = 16 + files.length * 24;
  for (const p of paths) at += p.copy(buf, at);
  return buf;
}

export function decodeCoreSiginfo(desc: Buffer, offset: number): Siginfo {
  requireSize(desc, 128, offset, 'NT_SIGINFO');
  return decodeSiginfo(Buffer.from(desc.subarray(0, 128)));
}
