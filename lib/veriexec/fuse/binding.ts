/**
 * The FUSE server's part of the addon (native/fuse_binding.cc, native/fuse.c),
 * typed. It is reached through lib/native.ts's `addon`, the only door to
 * native code; these functions are typed here because only this folder uses them.
 * Values a caller expects are numbers (-errno); a failed mount throws SystemError.
 */
import { addon } from '../../native';

export type ReaderHandle = { readonly __fuseReader: unique symbol };

export interface FuseBinding {
  /** Opens /dev/fuse and mounts it: the fd. Throws SystemError naming open(/dev/fuse) or mount. */
  fuseMount(mountpoint: string, source: string, fstype: string, flags: number, options: string): number;
  /** umount2(2): 0 or -errno (-EINVAL: not a mount point, -ENOENT: no such path). */
  fuseUnmount(mountpoint: string, flags: number): number;
  /** openat2 beneath dirfd, no symbolic links, no "..": fd or -errno (-ELOOP: a link on the way, -EXDEV: outside). */
  fuseOpenBeneath(dirfd: number, path: string, flags: number): number;
  /** A link's target (found as fuseOpenBeneath finds it) or -errno. */
  fuseReadlinkBeneath(dirfd: number, path: string): Buffer | number;
  /** One write(2) of a reply: bytes or -errno (-ENOENT: the kernel no longer waits for it). */
  fuseWrite(fd: number, buffer: Buffer): number;
  /** The same on libuv's pool, for notifications. */
  fuseWriteAsync(fd: number, buffer: Buffer, callback: (result: number) => void): void;
  /** A thread reading requests: onRequest(request, 0) for each, then onRequest(null, 0 | -errno) once at its end. */
  fuseReaderStart(fd: number, bufferSize: number, onRequest: (request: Buffer | null, err: number) => void): ReaderHandle;
  fuseReaderStop(handle: ReaderHandle): void;
  fuseReaderRef(handle: ReaderHandle, keepAlive: boolean): void;
  /** After the end only: joins the thread. */
  fuseReaderFree(handle: ReaderHandle): void;
}

/** Read at each call, as lib/native.ts asks: its `addon` is replaced by the binding on first use. */
export function fuse(): FuseBinding {
  return addon as unknown as FuseBinding;
}
