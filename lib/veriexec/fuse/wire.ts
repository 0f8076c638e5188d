/**
 * The FUSE wire format (include/uapi/linux/fuse.h): bytes from /dev/fuse into
 * typed requests, typed replies into bytes. No meaning here; the operations
 * (operations.ts) decide what a request does. A request that does not parse
 * throws WireError, and the session answers it EIO when it knows its id.
 */
import { Op, Size } from './protocol';

export class WireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WireError';
  }
}

/** struct fuse_in_header. */
export interface RequestHeader {
  len: number;
  opcode: number;
  unique: bigint;
  nodeid: number;
  uid: number;
  gid: number;
  pid: number;
}

export type RequestBody =
  | { op: 'init'; major: number; minor: number; maxReadahead: number; flags: number }
  | { op: 'lookup'; name: Buffer }
  | { op: 'forget'; nlookup: number }
  | { op: 'batchForget'; items: { nodeid: number; nlookup: number }[] }
  | { op: 'getattr'; fh: number | null }
  | { op: 'readlink' }
  | { op: 'open'; flags: number }
  | { op: 'read'; fh: number; offset: number; size: number }
  | { op: 'release'; fh: number }
  | { op: 'opendir'; flags: number }
  | { op: 'readdir'; fh: number; offset: number; size: number }
  | { op: 'releasedir'; fh: number }
  | { op: 'statfs' }
  | { op: 'access'; mask: number }
  | { op: 'interrupt'; unique: bigint }
  | { op: 'destroy' }
  | { op: 'flush' }
  /** Any other opcode: the session answers it from its tables (EROFS, ENOSYS). */
  | { op: 'other' };

export interface Request {
  header: RequestHeader;
  body: RequestBody;
}

/** A u64 we hand out ourselves (node ids, file handles, offsets within a file): beyond 2^53 it is no id of ours. */
function u64(buf: Buffer, at: number): number {
  const v = buf.readBigUInt64LE(at);
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
}

/** The header, or WireError. Only `unique` matters for answering a request whose body is bad. */
export function parseHeader(buf: Buffer): RequestHeader {
  if (buf.length < Size.IN_HEADER) throw new WireError(`request of ${buf.length} bytes is shorter than fuse_in_header`);
  const header = {
    len: buf.readUInt32LE(0),
    opcode: buf.readUInt32LE(4),
    unique: buf.readBigUInt64LE(8),
    nodeid: u64(buf, 16),
    uid: buf.readUInt32LE(24),
    gid: buf.readUInt32LE(28),
    pid: buf.readUInt32LE(32),
  };
  if (header.len !== buf.length) throw new WireError(`fuse_in_header.len ${header.len} is not the ${buf.length} bytes read`);
  return header;
}

function need(body: Buffer, bytes: number, what: string): void {
  if (body.length < bytes) throw new WireError(`${what} needs ${bytes} bytes, got ${body.length}`);
}

/** A NUL-terminated name at the start of `body`: its bytes. */
function name(body: Buffer, what: string): Buffer {
  const end = body.indexOf(0);
  if (end < 0) throw new WireError(`${what}: name without its NUL`);
  return body.subarray(0, end);
}

/** The request in `buf`, which must be exactly one request as read from /dev/fuse. */
export function parseRequest(buf: Buffer): Request {
  const header = parseHeader(buf);
  const b = buf.subarray(Size.IN_HEADER);
  switch (header.opcode) {
    case Op.INIT:
      // fuse_init_in: major, minor, max_readahead, flags (and, from 7.36, flags2 and unused words we ignore).
      need(b, 8, 'INIT');
      return {
        header,
        body: {
          op: 'init',
          major: b.readUInt32LE(0),
          minor: b.readUInt32LE(4),
          maxReadahead: b.length >= 12 ? b.readUInt32LE(8) : 0,
          flags: b.length >= 16 ? b.readUInt32LE(12) : 0,
        },
      };
    case Op.LOOKUP:
      return { header, body: { op: 'lookup', name: name(b, 'LOOKUP') } };
    case Op.FORGET:
      need(b, 8, 'FORGET');
      return { header, body: { op: 'forget', nlookup: u64(b, 0) } };
    case Op.BATCH_FORGET: {
      // fuse_batch_forget_in {count, dummy}, then count fuse_forget_one {nodeid, nlookup}.
      need(b, 8, 'BATCH_FORGET');
      const count = b.readUInt32LE(0);
      need(b, 8 + count * 16, 'BATCH_FORGET');
      const items = [];
      for (let i = 0; i < count; i++) items.push({ nodeid: u64(b, 8 + i * 16), nlookup: u64(b, 16 + i * 16) });
      return { header, body: { op: 'batchForget', items } };
    }
    case Op.GETATTR: {
      // fuse_getattr_in {getattr_flags, dummy, fh}; FUSE_GETATTR_FH says whether fh is set.
      if (b.length < 16) return { header, body: { op: 'getattr', fh: null } };
      return { header, body: { op: 'getattr', fh: b.readUInt32LE(0) & 1 ? u64(b, 8) : null } };
    }
    case Op.READLINK:
      return { header, body: { op: 'readlink' } };
    case Op.OPEN:
      need(b, 4, 'OPEN');
      return { header, body: { op: 'open', flags: b.readUInt32LE(0) } };
    case Op.OPENDIR:
      need(b, 4, 'OPENDIR');
      return { header, body: { op: 'opendir', flags: b.readUInt32LE(0) } };
    case Op.READ:
    case Op.READDIR:
      // fuse_read_in {fh, offset, size, read_flags, lock_owner, flags, padding}.
      need(b, 24, header.opcode === Op.READ ? 'READ' : 'READDIR');
      return { header, body: { op: header.opcode === Op.READ ? 'read' : 'readdir', fh: u64(b, 0), offset: u64(b, 8), size: b.readUInt32LE(16) } };
    case Op.RELEASE:
    case Op.RELEASEDIR:
      // fuse_release_in {fh, flags, release_flags, lock_owner}.
      need(b, 8, 'RELEASE');
      return { header, body: { op: header.opcode === Op.RELEASE ? 'release' : 'releasedir', fh: u64(b, 0) } };
    case Op.STATFS:
      return { header, body: { op: 'statfs' } };
    case Op.ACCESS:
      need(b, 4, 'ACCESS');
      return { header, body: { op: 'access', mask: b.readUInt32LE(0) } };
    case Op.INTERRUPT:
      need(b, 8, 'INTERRUPT');
      return { header, body: { op: 'interrupt', unique: b.readBigUInt64LE(0) } };
    case Op.DESTROY:
      return { header, body: { op: 'destroy' } };
    case Op.FLUSH:
      return { header, body: { op: 'flush' } };
    default:
      return { header, body: { op: 'other' } };
  }
}

/** struct fuse_out_header and a body: `error` is 0 or a negative errno (then no body). */
export function reply(unique: bigint, error: number, body?: Buffer): Buffer {
  const len = Size.OUT_HEADER + (body?.length ?? 0);
  const out = Buffer.allocUnsafe(len);
  out.writeUInt32LE(len, 0);
  out.writeInt32LE(error, 4);
  out.writeBigUInt64LE(unique, 8);
  body?.copy(out, Size.OUT_HEADER);
  return out;
}

/** What fuse_attr holds, from a stat of the source (bigint, for whole nanoseconds). */
export interface Attr {
  ino: bigint;
  size: bigint;
  blocks: bigint;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  blksize: number;
}

const NS = 1_000_000_000n;

/** struct fuse_attr at `at`. */
function writeAttr(out: Buffer, at: number, a: Attr): void {
  out.writeBigUInt64LE(a.ino, at);
  out.writeBigUInt64LE(a.size, at + 8);
  out.writeBigUInt64LE(a.blocks, at + 16);
  out.writeBigUInt64LE(a.atimeNs / NS, at + 24);
  out.writeBigUInt64LE(a.mtimeNs / NS, at + 32);
  out.writeBigUInt64LE(a.ctimeNs / NS, at + 40);
  out.writeUInt32LE(Number(a.atimeNs % NS), at + 48);
  out.writeUInt32LE(Number(a.mtimeNs % NS), at + 52);
  out.writeUInt32LE(Number(a.ctimeNs % NS), at + 56);
  out.writeUInt32LE(a.mode, at + 60);
  out.writeUInt32LE(a.nlink, at + 64);
  out.writeUInt32LE(a.uid, at + 68);
  out.writeUInt32LE(a.gid, at + 72);
  out.writeUInt32LE(a.rdev >>> 0, at + 76);
  out.writeUInt32LE(a.blksize, at + 80);
  out.writeUInt32LE(0, at + 84); // flags
}

/** Validity of an entry or attribute in the kernel's cache, in whole seconds. */
export function entryOut(nodeid: number, attr: Attr, validSeconds: number): Buffer {
  const out = Buffer.alloc(Size.ENTRY_OUT);
  out.writeBigUInt64LE(BigInt(nodeid), 0);
  out.writeBigUInt64LE(0n, 8); // generation: node ids are never reused within a mount
  out.writeBigUInt64LE(BigInt(validSeconds), 16); // entry_valid
  out.writeBigUInt64LE(BigInt(validSeconds), 24); // attr_valid
  writeAttr(out, 40, attr);
  return out;
}

export function attrOut(attr: Attr, validSeconds: number): Buffer {
  const out = Buffer.alloc(Size.ATTR_OUT);
  out.writeBigUInt64LE(BigInt(validSeconds), 0);
  writeAttr(out, 16, attr);
  return out;
}

export interface InitOut {
  minor: number;
  maxReadahead: number;
  flags: number;
  maxBackground: number;
  congestionThreshold: number;
  maxWrite: number;
  maxPages: number;
}

export function initOut(o: InitOut): Buffer {
  const out = Buffer.alloc(Size.INIT_OUT);
  out.writeUInt32LE(7, 0);
  out.writeUInt32LE(o.minor, 4);
  out.writeUInt32LE(o.maxReadahead, 8);
  out.writeUInt32LE(o.flags >>> 0, 12);
  out.writeUInt16LE(o.maxBackground, 16);
  out.writeUInt16LE(o.congestionThreshold, 18);
  out.writeUInt32LE(o.maxWrite, 20);
  out.writeUInt32LE(1, 24); // time_gran: nanoseconds
  out.writeUInt16LE(o.maxPages, 28);
  return out;
}

export function openOut(fh: number, openFlags: number): Buffer {
  const out = Buffer.alloc(Size.OPEN_OUT);
  out.writeBigUInt64LE(BigInt(fh), 0);
  out.writeUInt32LE(openFlags, 8);
  return out;
}

export interface StatfsOut {
  blocks: bigint;
  bfree: bigint;
  bavail: bigint;
  files: bigint;
  ffree: bigint;
  bsize: number;
  namelen: number;
}

export function statfsOut(s: StatfsOut): Buffer {
  const out = Buffer.alloc(Size.KSTATFS);
  out.writeBigUInt64LE(s.blocks, 0);
  out.writeBigUInt64LE(s.bfree, 8);
  out.writeBigUInt64LE(s.bavail, 16);
  out.writeBigUInt64LE(s.files, 24);
  out.writeBigUInt64LE(s.ffree, 32);
  out.writeUInt32LE(s.bsize, 40);
  out.writeUInt32LE(s.namelen, 44);
  out.writeUInt32LE(s.bsize, 48); // frsize
  return out;
}

export interface DirEntry {
  name: Buffer;
  ino: bigint;
  /** The S_IFMT bits of the mode, shifted down as d_type is (DT_DIR 4, DT_REG 8, DT_LNK 10 ...). */
  type: number;
}

/**
 * struct fuse_dirent records for entries[from...], each followed by its name
 * padded to 8 bytes, as many as fit in `size`; each record's `off` is the
 * index of the entry after it, which the kernel hands back as the next offset.
 */
export function dirents(entries: readonly DirEntry[], from: number, size: number): Buffer {
  const parts: Buffer[] = [];
  let used = 0;
  for (let i = from; i < entries.length; i++) {
    const e = entries[i]!;
    const len = (Size.DIRENT + e.name.length + 7) & ~7;
    if (used + len > size) break;
    const rec = Buffer.alloc(len);
    rec.writeBigUInt64LE(e.ino, 0);
    rec.writeBigUInt64LE(BigInt(i + 1), 8);
    rec.writeUInt32LE(e.name.length, 16);
    rec.writeUInt32LE(e.type, 20);
    e.name.copy(rec, Size.DIRENT);
    parts.push(rec);
    used += len;
  }
  return Buffer.concat(parts, used);
}

/** A FUSE_NOTIFY_INVAL_INODE message: drop the kernel's cached pages of `nodeid` in [offset, offset + length) (length 0: to the end). */
export function notifyInvalInode(nodeid: number, offset: number, length: number, code: number): Buffer {
  const body = Buffer.alloc(Size.NOTIFY_INVAL_INODE);
  body.writeBigUInt64LE(BigInt(nodeid), 0);
  body.writeBigInt64LE(BigInt(offset), 8);
  body.writeBigInt64LE(BigInt(length), 16);
  // Notifications are replies with unique 0 and the notify code in the error field.
  return reply(0n, code, body);
}
