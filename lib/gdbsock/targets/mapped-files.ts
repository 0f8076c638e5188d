/**
 * Memory a core left out but a mapped file still holds. The kernel skips the
 * unchanged pages of file mappings (coredump_filter bit 2 and 3 clear by
 * default: fs/coredump.c, vma_dump_size), so a core's text is mostly not in
 * it; gdb reads those bytes from the files NT_FILE names (corelow.c,
 * core_target::xfer_partial, "file backed mappings"). So does this, when the
 * file exists here.
 */
import fs from 'node:fs';
import type { MappedFile } from '../../coredump';
import { findRange } from '../../coredump/ranges';

export class MappedFiles {
  /** Sorted by start address. */
  private readonly mappings: MappedFile[];
  /** Open descriptors by path; undefined when the file cannot be opened. */
  private readonly fds = new Map<string, number | undefined>();

  constructor(files: readonly MappedFile[]) {
    // A path with " (deleted)" names a file that is gone: its bytes are not ours to guess.
    this.mappings = files.filter((f) => !f.path.endsWith(' (deleted)')).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  }

  /** The mapping holding `address`, if any. */
  private at(address: bigint): MappedFile | undefined {
    return findRange(
      this.mappings,
      address,
      (m) => m.start,
      (m) => m.end,
    );
  }

  /** Up to `length` bytes at `address`, as far as one mapping and its file go (maybe none). */
  read(address: bigint, length: number): Buffer {
    const m = this.at(address);
    if (!m) return EMPTY;
    const fd = this.open(m.path);
    if (fd === undefined) return EMPTY;
    const n = Math.min(length, Number(m.end - address));
    const out = Buffer.allocUnsafe(n);
    let done = 0;
    try {
      while (done < n) {
        const got = fs.readSync(fd, out, done, n - done, Number(m.offset + (address - m.start)) + done);
        if (got === 0) break; // a mapping may run past the file's end (SIGBUS there): nothing to show
        done += got;
      }
    } catch {
      // unreadable now (a device, a file cut short under us): what was read stands
    }
    return out.subarray(0, done);
  }

  private open(path: string): number | undefined {
    if (this.fds.has(path)) return this.fds.get(path);
    let fd: number | undefined;
    try {
      fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      if (!fs.fstatSync(fd).isFile()) {
        fs.closeSync(fd);
        fd = undefined;
      }
    } catch {
      fd = undefined;
    }
    this.fds.set(path, fd);
    return fd;
  }

  close(): void {
    for (const fd of this.fds.values()) if (fd !== undefined) fs.closeSync(fd);
    this.fds.clear();
  }
}

const EMPTY = Buffer.alloc(0);
