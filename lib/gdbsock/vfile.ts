/**
 * Host I/O (GDB manual, "Host I/O Packets"): gdb opens and reads the target's
 * files (the executable, its libraries) through vFile packets. Flags, modes,
 * errno values and struct stat use the protocol's own encoding ("File-I/O
 * Remote Protocol Extension", "Protocol-specific Representation of Datatypes").
 */
import fs from 'node:fs';
import path from 'node:path';
import { escapeBinary, unescapeBinary } from './packet';
import { ProtocolError, hexToBuffer, parseHex, parseId } from './wire';

/** Linux errno -> File-I/O errno; anything else is EUNKNOWN (9999). */
const FILEIO_ERRNO: Record<string, number> = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EBADF: 9,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  ENAMETOOLONG: 91,
};

/**
 * The most a vFile:pread answers, whatever gdb asks (a shorter read is a
 * pread's right; gdb's BFD reader asks again for the rest). gdb asks for
 * PacketSize bytes at every miss of its one-block read-ahead cache, and while
 * loading a library its reads hop between the file's start and its end, so
 * with gdbsock's 1 MiB PacketSize it fetched libc's first MiB three times;
 * gdb takes about 25 ms to decode each. Measured on gdb 13.1 from `target
 * remote` to an inferior call in main: 340-380 ms a session with 1 MiB
 * answers, 250-280 with 8, 16 or 32 KiB (gdbserver, whose PacketSize caps
 * its answers near 18 KiB: 210-220).
 */
export const PREAD_LIMIT = 16 * 1024;

/**
 * A file this small is answered whole, from the offset to its end (up to
 * what gdb asks). gdb's first look at the program over vFile (its headers,
 * its build-id note, the section headers at the end of the file and their
 * names) hops between the file's start and end, and each hop past one
 * PREAD_LIMIT answer cost a round trip: four preads for a 17 KiB program,
 * where gdbserver's 18 KiB answers took one. The programs of gdb's testsuite
 * are 20-50 KiB, and gdb looks at the program in every session. /proc
 * files, which stat as empty, count as small.
 */
export const WHOLE_FILE_LIMIT = 64 * 1024;

/** File-I/O open flags. */
const O = { WRONLY: 1, RDWR: 2, APPEND: 8, CREAT: 0x200, TRUNC: 0x400, EXCL: 0x800 };

function openFlags(flags: number): number {
  let out = flags & O.RDWR ? fs.constants.O_RDWR : flags & O.WRONLY ? fs.constants.O_WRONLY : fs.constants.O_RDONLY;
  if (flags & O.APPEND) out |= fs.constants.O_APPEND;
  if (flags & O.CREAT) out |= fs.constants.O_CREAT;
  if (flags & O.TRUNC) out |= fs.constants.O_TRUNC;
  if (flags & O.EXCL) out |= fs.constants.O_EXCL;
  return out;
}

function errorReply(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  return `F-1,${(FILEIO_ERRNO[code] ?? 9999).toString(16)}`;
}

/** struct stat as the protocol wants it: 64 bytes, big-endian. */
function encodeStat(st: fs.Stats): Buffer {
  const b = Buffer.alloc(64);
  const u32 = (v: number) => Math.min(v, 0xffffffff) >>> 0;
  b.writeUInt32BE(u32(st.dev), 0);
  b.writeUInt32BE(u32(st.ino), 4);
  b.writeUInt32BE(u32(st.mode), 8);
  b.writeUInt32BE(u32(st.nlink), 12);
  b.writeUInt32BE(u32(st.uid), 16);
  b.writeUInt32BE(u32(st.gid), 20);
  b.writeUInt32BE(u32(st.rdev), 24);
  b.writeBigUInt64BE(BigInt(st.size), 28);
  b.writeBigUInt64BE(BigInt(st.blksize), 36);
  b.writeBigUInt64BE(BigInt(st.blocks), 44);
  b.writeUInt32BE(u32(Math.floor(st.atimeMs / 1000)), 52);
  b.writeUInt32BE(u32(Math.floor(st.mtimeMs / 1000)), 56);
  b.writeUInt32BE(u32(Math.floor(st.ctimeMs / 1000)), 60);
  return b;
}

/** vFile:fstat, stat and lstat: the size of the struct, then the struct itself, escaped. */
function statReply(st: fs.Stats): Buffer {
  return Buffer.concat([Buffer.from('F40;'), escapeBinary(encodeStat(st))]);
}

/** Whether process `pid` sees the mounts we see (a gone process: it does not). */
function sharesMountNamespace(pid: number): boolean {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/mnt`) === fs.readlinkSync('/proc/self/ns/mnt');
  } catch {
    return false;
  }
}

/**
 * The files gdb has open on one connection. Paths are resolved as gdbserver
 * resolves them: as given (a relative one from our working directory) while
 * the process named by vFile:setfs shares our mount namespace (or none is
 * named, 0); under that process's root when its namespace is another.
 */
export class HostIo {
  /** Each file open, and the most a pread of it answers (its size at the open says: see WHOLE_FILE_LIMIT). */
  private readonly fds = new Map<number, number>();
  private fsPid = 0;
  /**
   * gdb 16 reads vFile:stat as gdbserver 16 answers it, without following a
   * last symlink: it asks whether a build-id link exists, dangling or not,
   * before trying the next of .debug, .1.debug, ... (gdb.server/build-id-seqno.exp).
   * gdb 17 added vFile:lstat for that and means stat(2) by vFile:stat (GDB
   * manual, "Host I/O Packets"): a client that has sent vFile:lstat gets that.
   */
  private clientHasLstat = false;

  /** Handles the text after "vFile:"; returns the reply body (binary where the protocol says so). */
  handle(packet: Buffer): Buffer | string {
    const colon = packet.indexOf(0x3a);
    if (colon < 0) return '';
    const op = packet.subarray(0, colon).toString('latin1');
    const args = packet.subarray(colon + 1);
    try {
      switch (op) {
        case 'setfs':
          this.fsPid = parseId(args.toString('latin1'));
          return 'F0';
        case 'open':
          return this.open(args.toString('latin1'));
        case 'close':
          return this.close(args.toString('latin1'));
        case 'pread':
          return this.pread(args.toString('latin1'));
        case 'pwrite':
          return this.pwrite(args);
        case 'fstat':
          return statReply(fs.fstatSync(this.fd(args.toString('latin1'))));
        // gdb 16 and 17: a file by name, without opening it; lstat does not follow a last symlink.
        case 'stat': {
          const name = this.resolve(args.toString('latin1'));
          return statReply(this.clientHasLstat ? fs.statSync(name) : fs.lstatSync(name));
        }
        case 'lstat':
          this.clientHasLstat = true;
          return statReply(fs.lstatSync(this.resolve(args.toString('latin1'))));
        case 'unlink':
          fs.unlinkSync(this.resolve(args.toString('latin1')));
          return 'F0';
        case 'readlink':
          return this.readlink(args.toString('latin1'));
        default:
          return '';
      }
    } catch (err) {
      if (err instanceof ProtocolError) return 'F-1,16'; // EINVAL
      return errorReply(err);
    }
  }

  /** Closes every file gdb left open. */
  closeAll(): void {
    for (const fd of this.fds.keys()) fs.closeSync(fd);
    this.fds.clear();
  }

  private resolve(hexPath: string): string {
    const name = hexToBuffer(hexPath).toString();
    if (name.includes('\0')) throw new ProtocolError('NUL in path');
    if (!this.fsPid || sharesMountNamespace(this.fsPid)) return name;
    return path.join(`/proc/${this.fsPid}/root`, name);
  }

  private open(args: string): string {
    const [file, flags, mode] = args.split(',');
    const fd = fs.openSync(this.resolve(file ?? ''), openFlags(parseHex(flags ?? '', 'flags')), parseHex(mode ?? '0', 'mode') & 0o7777);
    this.fds.set(fd, fs.fstatSync(fd).size <= WHOLE_FILE_LIMIT ? WHOLE_FILE_LIMIT : PREAD_LIMIT);
    return `F${fd.toString(16)}`;
  }

  private fd(text: string): number {
    const fd = parseHex(text, 'fd');
    if (!this.fds.has(fd)) throw Object.assign(new Error('not ours'), { code: 'EBADF' });
    return fd;
  }

  private close(args: string): string {
    const fd = this.fd(args);
    this.fds.delete(fd);
    fs.closeSync(fd);
    return 'F0';
  }

  private pread(args: string): Buffer {
    const [fdText, countText, offsetText] = args.split(',');
    const fd = this.fd(fdText ?? '');
    const count = Math.min(parseHex(countText ?? '', 'count'), this.fds.get(fd)!);
    const buffer = Buffer.allocUnsafe(count);
    const n = fs.readSync(fd, buffer, 0, count, parseHex(offsetText ?? '', 'offset'));
    return Buffer.concat([Buffer.from(`F${n.toString(16)};`), escapeBinary(buffer.subarray(0, n))]);
  }

  private pwrite(args: Buffer): string {
    const first = args.indexOf(0x2c);
    const second = args.indexOf(0x2c, first + 1);
    if (first < 0 || second < 0) throw new ProtocolError('pwrite needs fd,offset,data');
    const fd = this.fd(args.subarray(0, first).toString('latin1'));
    const offset = parseHex(args.subarray(first + 1, second).toString('latin1'), 'offset');
    const data = unescapeBinary(args.subarray(second + 1));
    return `F${fs.writeSync(fd, data, 0, data.length, offset).toString(16)}`;
  }

  private readlink(args: string): Buffer {
    const target = Buffer.from(fs.readlinkSync(this.resolve(args)));
    return Buffer.concat([Buffer.from(`F${target.length.toString(16)};`), escapeBinary(target)]);
  }
}
