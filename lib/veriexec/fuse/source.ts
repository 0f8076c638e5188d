/**
 * The source tree, reached only beneath a directory fd held from the start
 * (openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, native/fuse.c): a
 * symbolic link or a ".." in the source never takes the server outside it,
 * even when a directory is swapped for a link after the kernel looked it up.
 * Paths are relative, '/'-separated, '' for the root.
 */
import { addon } from '../../native';
import fs from 'node:fs';

const O_RDONLY = 0;
const O_NOFOLLOW = 0o400000;
const O_DIRECTORY = 0o200000;
const O_PATH = 0o10000000;
/** A FIFO swapped in for a file must not hang the server in open(2). */
const O_NONBLOCK = 0o4000;

export interface SourceEntry {
  name: Buffer;
  stat: fs.BigIntStats;
}

export class SourceTree {
  readonly rootFd: number;

  constructor(readonly dir: string) {
    this.rootFd = fs.openSync(dir, fs.constants.O_RDONLY | O_DIRECTORY);
  }

  /** lstat of `rel` (a link is not followed), or -errno. */
  stat(rel: string): fs.BigIntStats | number {
    const fd = addon.fuseOpenBeneath(this.rootFd, rel, O_PATH | O_NOFOLLOW);
    if (fd < 0) return fd;
    try {
      return fs.fstatSync(fd, { bigint: true });
    } finally {
      fs.closeSync(fd);
    }
  }

  /** A read-only fd on the regular file or directory `rel`, or -errno (-ELOOP for a link). */
  open(rel: string, directory = false): number {
    return addon.fuseOpenBeneath(this.rootFd, rel, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | (directory ? O_DIRECTORY : 0));
  }

  readlink(rel: string): Buffer | number {
    return addon.fuseReadlinkBeneath(this.rootFd, rel);
  }

  /** The entries of the directory `rel` as they are now, with their lstat; -errno if it cannot be opened. */
  list(rel: string): SourceEntry[] | number {
    const fd = this.open(rel, true);
    if (fd < 0) return fd;
    try {
      // /proc/self/fd/N is the directory we opened, whatever its path has become since.
      const here = `/proc/self/fd/${fd}/`;
      const entries: SourceEntry[] = [];
      for (const name of fs.readdirSync(here, { encoding: 'buffer' })) {
        try {
          entries.push({ name, stat: fs.lstatSync(Buffer.concat([Buffer.from(here), name]), { bigint: true }) });
        } catch {
          // gone between readdir and lstat: not listed
        }
      }
      return entries;
    } finally {
      fs.closeSync(fd);
    }
  }

  statfs(): fs.StatsFs {
    return fs.statfsSync(`/proc/self/fd/${this.rootFd}`);
  }

  close(): void {
    fs.closeSync(this.rootFd);
  }
}
