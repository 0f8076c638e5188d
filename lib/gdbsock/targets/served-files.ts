/**
 * Host I/O for targets whose process is gone (a core, the kernel): gdb reads
 * the executable, its libraries and their debug files through vFile
 * (GDB manual, "Host I/O Packets"). Paths are gdbsock's own (vFile:setfs
 * names a process that no longer exists), only the files the target names
 * may be opened, read-only, and a few files are made up from the target's
 * data (a core's /proc/PID/maps, which gdb reads to find the vDSO).
 */
import fs from 'node:fs';
import { escapeBinary } from '../packet';
import { ProtocolError, hexToBuffer, parseHex } from '../wire';

/** File-I/O errno values ("Protocol-specific Representation of Datatypes", errno values). */
const ENOENT = 2;
const EBADF = 9;
const EACCES = 13;
const EINVAL = 22;
/** File-I/O open flags: O_WRONLY 1, O_RDWR 2, O_CREAT 0x200, O_TRUNC 0x400. */
const WRITE_FLAGS = 0x603;
/** Above any real descriptor, so made-up files and real ones never share a number. */
const FIRST_MADE_UP_FD = 0x40000000;
/** gdb's own default debug-file-directory: separate debug info of the libraries. */
const DEBUG_DIRECTORY = '/usr/lib/debug/';

const fail = (errno: number) => `F-1,${errno.toString(16)}`;

export class ServedFiles {
  private readonly allowed = new Set<string>();
  private readonly madeUp = new Map<number, Buffer>();
  private nextFd = FIRST_MADE_UP_FD;

  /**
   * `files`: the paths gdb may open (compared after resolving symlinks, as
   * the link map and NT_FILE may name one file two ways); `generate`: the
   * contents of a made-up file by path, or undefined.
   */
  constructor(
    files: Iterable<string>,
    private readonly generate: (path: string) => Buffer | undefined = () => undefined,
  ) {
    for (const file of files) {
      const real = realPath(file);
      if (real) this.allowed.add(real);
    }
  }

  private allows(path: string): boolean {
    const real = realPath(path);
    return real !== undefined && (this.allowed.has(real) || real.startsWith(DEBUG_DIRECTORY));
  }

  /** The reply, or undefined to let the server's Host I/O do it (an allowed file, or one of its descriptors). */
  handle(packet: Buffer): Buffer | string | undefined {
    const text = packet.toString('latin1');
    const colon = text.indexOf(':');
    const op = text.slice(0, colon);
    const args = text.slice(colon + 1);
    try {
      switch (op) {
        case 'setfs':
          return 'F0'; // our own files: keep the server's Host I/O in gdbsock's namespace
        case 'open':
          return this.open(args);
        case 'readlink':
          return this.allows(pathArg(args)) ? undefined : fail(EACCES);
        case 'unlink':
          return fail(EACCES);
        case 'pread':
          return this.pread(args);
        case 'fstat':
          return this.fstat(args);
        case 'close': {
          const fd = parseHex(args, 'fd');
          if (!this.madeUp.has(fd)) return undefined;
          this.madeUp.delete(fd);
          return 'F0';
        }
        default:
          return undefined;
      }
    } catch (err) {
      if (err instanceof ProtocolError) return fail(EINVAL);
      throw err;
    }
  }

  private open(args: string): string | undefined {
    const [file, flags] = args.split(',');
    const path = pathArg(file ?? '');
    if (parseHex(flags ?? '', 'flags') & WRITE_FLAGS) return fail(EACCES);
    const contents = this.generate(path);
    if (contents) {
      const fd = this.nextFd++;
      this.madeUp.set(fd, contents);
      return `F${fd.toString(16)}`;
    }
    if (!fs.existsSync(path)) return fail(ENOENT);
    return this.allows(path) ? undefined : fail(EACCES);
  }

  private pread(args: string): Buffer | string | undefined {
    const [fdText, countText, offsetText] = args.split(',');
    const contents = this.madeUp.get(parseHex(fdText ?? '', 'fd'));
    if (!contents) return undefined;
    const offset = parseHex(offsetText ?? '', 'offset');
    const piece = contents.subarray(Math.min(offset, contents.length), Math.min(offset + parseHex(countText ?? '', 'count'), contents.length));
    return Buffer.concat([Buffer.from(`F${piece.length.toString(16)};`), escapeBinary(piece)]);
  }

  /** A made-up file's struct stat: a read-only regular file of its size (64 bytes, big-endian). */
  private fstat(args: string): Buffer | string | undefined {
    const fd = parseHex(args, 'fd');
    if (fd < FIRST_MADE_UP_FD) return undefined;
    const contents = this.madeUp.get(fd);
    if (!contents) return fail(EBADF);
    const st = Buffer.alloc(64);
    st.writeUInt32BE(0o100444, 8); // st_mode
    st.writeUInt32BE(1, 12); // st_nlink
    st.writeBigUInt64BE(BigInt(contents.length), 28); // st_size
    st.writeBigUInt64BE(4096n, 36); // st_blksize
    return Buffer.concat([Buffer.from('F40;'), escapeBinary(st)]);
  }
}

function pathArg(hex: string): string {
  const name = hexToBuffer(hex).toString();
  if (name.includes('\0')) throw new ProtocolError('NUL in path');
  return name;
}

function realPath(path: string): string | undefined {
  try {
    return fs.realpathSync(path);
  } catch {
    return undefined;
  }
}
