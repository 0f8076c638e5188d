/**
 * The numbers of the kernel's FUSE protocol that this server speaks, from
 * include/uapi/linux/fuse.h (protocol 7.x; the kernel answers for its own
 * minor in INIT and we keep to the smaller of the two).
 */

/** The protocol version we implement: 7.31 has every struct size we write (fuse_init_out of 64 bytes since 7.23). */
export const FUSE_MAJOR = 7;
export const FUSE_MINOR = 31;

/** Request opcodes (enum fuse_opcode). */
export const Op = {
  LOOKUP: 1,
  FORGET: 2,
  GETATTR: 3,
  SETATTR: 4,
  READLINK: 5,
  SYMLINK: 6,
  MKNOD: 8,
  MKDIR: 9,
  UNLINK: 10,
  RMDIR: 11,
  RENAME: 12,
  LINK: 13,
  OPEN: 14,
  READ: 15,
  WRITE: 16,
  STATFS: 17,
  RELEASE: 18,
  FSYNC: 20,
  SETXATTR: 21,
  GETXATTR: 22,
  LISTXATTR: 23,
  REMOVEXATTR: 24,
  FLUSH: 25,
  INIT: 26,
  OPENDIR: 27,
  READDIR: 28,
  RELEASEDIR: 29,
  FSYNCDIR: 30,
  GETLK: 31,
  SETLK: 32,
  SETLKW: 33,
  ACCESS: 34,
  CREATE: 35,
  INTERRUPT: 36,
  BMAP: 37,
  DESTROY: 38,
  IOCTL: 39,
  POLL: 40,
  NOTIFY_REPLY: 41,
  BATCH_FORGET: 42,
  FALLOCATE: 43,
  READDIRPLUS: 44,
  RENAME2: 45,
  LSEEK: 46,
  COPY_FILE_RANGE: 47,
  SETUPMAPPING: 48,
  REMOVEMAPPING: 49,
  SYNCFS: 50,
  TMPFILE: 51,
  STATX: 52,
  COPY_FILE_RANGE_64: 53,
} as const;

/** Opcodes that would change the tree or a file: refused with EROFS (the VFS already refuses most on a read-only mount). */
export const WRITE_OPS: ReadonlySet<number> = new Set([
  Op.SETATTR,
  Op.SYMLINK,
  Op.MKNOD,
  Op.MKDIR,
  Op.UNLINK,
  Op.RMDIR,
  Op.RENAME,
  Op.LINK,
  Op.WRITE,
  Op.SETXATTR,
  Op.REMOVEXATTR,
  Op.CREATE,
  Op.FALLOCATE,
  Op.RENAME2,
  Op.COPY_FILE_RANGE,
  Op.TMPFILE,
  Op.COPY_FILE_RANGE_64,
]);

/** INIT flags (fuse_init_in.flags / fuse_init_out.flags). */
export const InitFlag = {
  ASYNC_READ: 1 << 0,
  PARALLEL_DIROPS: 1 << 18,
  MAX_PAGES: 1 << 22,
  CACHE_SYMLINKS: 1 << 23,
} as const;

/** fuse_open_out.open_flags: keep the page cache across opens, so verified pages stay verified until evicted. */
export const FOPEN_KEEP_CACHE = 1 << 1;
/** fuse_getattr_in.getattr_flags: `fh` is valid. */
export const FUSE_GETATTR_FH = 1 << 0;
/** enum fuse_notify_code. */
export const FUSE_NOTIFY_INVAL_INODE = 2;
/** The root's node id (FUSE_ROOT_ID). */
export const ROOT_ID = 1;

/** Struct sizes. */
export const Size = {
  IN_HEADER: 40,
  OUT_HEADER: 16,
  ATTR: 88,
  ENTRY_OUT: 128,
  ATTR_OUT: 104,
  INIT_OUT: 64,
  OPEN_OUT: 16,
  KSTATFS: 80,
  DIRENT: 24,
  NOTIFY_INVAL_INODE: 24,
} as const;

/** Errnos we answer with (asm-generic/errno-base.h, errno.h). */
export const E = {
  ENOENT: 2,
  EIO: 5,
  EBADF: 9,
  EACCES: 13,
  EEXIST: 17,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ERANGE: 34,
  ENOSYS: 38,
  EROFS: 30,
  ENAMETOOLONG: 36,
  ELOOP: 40,
  ENODATA: 61,
  EPROTO: 71,
} as const;
