/**
 * mountVerified(): the source tree served at the mount point over the kernel's
 * FUSE protocol, each file page checked as the kernel loads it.
 *
 * What unmounting leaves: unmount() detaches the mount (umount2 MNT_DETACH),
 * stops the reader and closes /dev/fuse; a program still running from it then
 * gets ENOTCONN from its files and SIGBUS from a page fault. If the serving
 * process dies instead, the kernel aborts the connection but the mount stays:
 * every access to the mount point fails with ENOTCONN ("Transport endpoint
 * is not connected") until someone calls detachMount() (or umount -l) on it.
 * A process that exits normally detaches its mounts on the way out.
 *
 * The server answers on this process's JS thread, so this process must not
 * wait synchronously on its own mount: no fs.*Sync call on it, no
 * child_process (sync or not) that executes a program stored on it, because
 * libuv's spawn waits for the child's execve, and that execve waits for our
 * answer to its OPEN. Start such programs through a shell (`sh -c 'exec
 * "$0"' FILE`), or serve from a process of its own.
 *
 * Caches: pages the kernel holds stay trusted until evicted (FOPEN_KEEP_CACHE).
 * evict() drops them all, mapped ones included; posix_fadvise(DONTNEED) and
 * `echo 1 > /proc/sys/vm/drop_caches` drop those no process maps (the test
 * and the bench use them), and by the kernel's rules leave mapped pages alone.
 */
import { addon } from '../../native';
import fs from 'node:fs';
import path from 'node:path';
import { SystemError } from '../../errors';
import { RequestLoop } from './loop';
import { type ServerStats, VerifyingFs } from './operations';
import { FUSE_NOTIFY_INVAL_INODE } from './protocol';
import { FuseSession, type Negotiated } from './session';
import { SourceTree } from './source';
import type { PageVerifier, VerifyLog } from './verify';
import { notifyInvalInode } from './wire';

const MS_RDONLY = 1;
const MS_NOSUID = 2;
const MS_NODEV = 4;
const MNT_DETACH = 2;
const EINVAL = 22;
const ENOENT = 2;

/** The type /proc/mounts shows (fuse.SUBTYPE). */
export const FSTYPE = 'fuse.hostkit-veriexec';

export interface MountOptions {
  /** The directory served. */
  source: string;
  /** An existing directory to mount on. */
  mountpoint: string;
  verifier: PageVerifier;
  log?: VerifyLog;
  /** Readahead in bytes, at most what the kernel offers (0: the kernel asks for the pages a fault or read needs, one by one). */
  maxReadahead?: number;
  /** Pages in one READ request, 1 to 256 (default 32). */
  maxPages?: number;
}

export interface VerifiedMountStats extends ServerStats {
  /** Replies the kernel refused (other than for withdrawn requests). */
  writeErrors: number;
}

export interface VerifiedMount {
  readonly mountpoint: string;
  readonly source: string;
  /** What INIT settled with the kernel. */
  readonly negotiated: Negotiated;
  /** Detaches the mount and stops serving; idempotent. */
  unmount(): Promise<void>;
  stats(): VerifiedMountStats;
  /**
   * Drops the kernel's cached pages of a file (FUSE_NOTIFY_INVAL_INODE), mapped
   * ones included: the next access reads and checks them again. False when
   * the kernel holds no inode for it (nothing cached).
   */
  evict(relPath: string): Promise<boolean>;
  /** Whether a live mount keeps Node's event loop alive (default true). */
  ref(keepAlive: boolean): void;
}

/** Mounts of this process still attached: detached at exit, so a normal exit leaves none behind. */
const live = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const mountpoint of live) addon.fuseUnmount(mountpoint, MNT_DETACH);
  });
}

/**
 * Detaches whatever is mounted at `mountpoint` (umount2 MNT_DETACH): for the
 * ENOTCONN mount a dead server leaves. False when nothing was mounted there.
 */
export function detachMount(mountpoint: string): boolean {
  const rc = addon.fuseUnmount(path.resolve(mountpoint), MNT_DETACH);
  if (rc === -EINVAL || rc === -ENOENT) return false;
  if (rc < 0) throw new SystemError(rc, 'umount2', { path: mountpoint });
  return true;
}

export async function mountVerified(options: MountOptions): Promise<VerifiedMount> {
  const mountpoint = path.resolve(options.mountpoint);
  const source = path.resolve(options.source);
  const tree = new SourceTree(source);
  let fd: number;
  try {
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    fd = addon.fuseMount(mountpoint, 'hostkit-veriexec', FSTYPE, MS_RDONLY | MS_NOSUID | MS_NODEV, `rootmode=40000,user_id=${uid},group_id=${gid},allow_other`);
  } catch (err) {
    tree.close();
    throw err;
  }
  installExitHook();
  live.add(mountpoint);
  const ops = new VerifyingFs(tree, options.verifier, options.log);
  const session = new FuseSession(ops, { maxReadahead: options.maxReadahead, maxPages: options.maxPages });
  const initialized = new Promise<void>((resolve) => (session.onInit = resolve));
  const loop = new RequestLoop(fd, session);
  let closing: Promise<void> | null = null;

  const unmount = (): Promise<void> => {
    closing ??= (async () => {
      const rc = addon.fuseUnmount(mountpoint, MNT_DETACH);
      live.delete(mountpoint);
      await loop.stop();
      ops.closeAll();
      tree.close();
      fs.closeSync(fd);
      if (rc < 0 && rc !== -EINVAL && rc !== -ENOENT) throw new SystemError(rc, 'umount2', { path: mountpoint });
    })();
    return closing;
  };

  // The connection can end before INIT (the mount was undone at once): do not wait forever.
  const ended = loop.done().then((err) => {
    throw new SystemError(err || -5, 'read(/dev/fuse)', { path: mountpoint });
  });
  try {
    await Promise.race([initialized, ended]);
  } catch (err) {
    await unmount();
    throw err;
  }
  ended.catch(() => {}); // later ends are unmount()'s business

  return {
    mountpoint,
    source,
    negotiated: session.negotiated!,
    unmount,
    stats: () => ({ ...ops.stats, writeErrors: loop.writeErrors }),
    ref: (keepAlive) => loop.ref(keepAlive),
    evict(relPath: string): Promise<boolean> {
      const nodeid = ops.nodeOf(relPath);
      if (nodeid === undefined || closing) return Promise.resolve(false);
      // Written on libuv's pool: the kernel may wait on a page lock that only our answer to a READ releases.
      return new Promise((resolve, reject) => {
        addon.fuseWriteAsync(fd, notifyInvalInode(nodeid, 0, 0, FUSE_NOTIFY_INVAL_INODE), (rc) => {
          if (rc === -ENOENT) resolve(false);
          else if (rc < 0) reject(new SystemError(rc, 'write(FUSE_NOTIFY_INVAL_INODE)', { path: relPath }));
          else resolve(true);
        });
      });
    },
  };
}
