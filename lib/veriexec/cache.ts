/**
 * Verdicts remembered per file state. The key is what fstat says of the inode
 * (dev, ino, size, mtime, ctime), its generation where the filesystem reports
 * one (FS_IOC_GETVERSION: ext4, not tmpfs), the event kind and the path:
 * - a write in place changes mtime and ctime (multigrain timestamps, 6.13+,
 *   make the ctime of a file we have just stat'ed change at the next write);
 * - a file renamed over the old one is another inode;
 * - a hard link bumps the inode's ctime, and its path differs anyway, and a
 *   decider keyed on paths (veriexec's table is) must see the new one.
 * The kernel's change cookie (i_version, statx STATX_CHANGE_COOKIE) would be
 * the exact key, but statx masks it out for user space: not used.
 */
import type { AccessEvent, Verdict } from './fanotify';

export function cacheKey(event: AccessEvent, generation: number | null): string {
  const s = event.stat;
  return `${event.kind}:${s.dev}:${s.ino}:${generation ?? '-'}:${s.size}:${s.mtimeNs}:${s.ctimeNs}:${s.mode}:${event.path}`;
}

/** A least-recently-used map of verdicts, at most `capacity` of them. */
export class VerdictCache {
  private readonly entries = new Map<string, Verdict>();

  constructor(readonly capacity: number) {}

  get(key: string): Verdict | undefined {
    const v = this.entries.get(key);
    if (v !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, v);
    }
    return v;
  }

  set(key: string, verdict: Verdict): void {
    if (this.capacity <= 0) return;
    this.entries.delete(key);
    this.entries.set(key, verdict);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
  }
}
