/**
 * The fanotify side of veriexec's enforcement (linux/fanotify.h,
 * fs/notify/fanotify/fanotify_user.c): a permission group, its marks, the
 * events it reads turned into AccessEvents, and the responses written back.
 * Reading happens on a native thread (native/veriexec_fanotify.c) which
 * answers this process's own events itself: see FanotifyReader.
 */
import fs from 'node:fs';
import os from 'node:os';
import { errnoCode, hasCode, SystemError } from '../errors';
import { addon, type FanotifyReaderHandle, type FanotifyReaderState, libc } from '../native';

export const FAN_CLOEXEC = 0x1;
export const FAN_NONBLOCK = 0x2;
export const FAN_CLASS_CONTENT = 0x4;
/** Needed for FAN_DENY_ERRNO (6.14+: process_access_response refuses an errno from other classes). */
export const FAN_CLASS_PRE_CONTENT = 0x8;
export const FAN_MARK_ADD = 0x1;
export const FAN_MARK_MOUNT = 0x10;
export const FAN_MARK_FILESYSTEM = 0x100;
export const FAN_OPEN_PERM = 0x10000;
export const FAN_OPEN_EXEC_PERM = 0x40000;
export const FAN_Q_OVERFLOW = 0x4000;
export const FAN_ALLOW = 0x1;
export const FAN_DENY = 0x2;
const FAN_ERRNO_SHIFT = 24;
const O_RDONLY_LARGEFILE_CLOEXEC = 0o100000 | 0o2000000;
/** FS_IOC_GETVERSION, _IOR('v', 1, long): the inode's generation, where the filesystem reports it (ext4; not tmpfs). */
const FS_IOC_GETVERSION = 0x80087601;

/**
 * The errnos a FAN_DENY_ERRNO response may carry (process_access_response,
 * 6.14+): what open(2) and read(2) of a regular file may fail with. EACCES is
 * not among them; a plain FAN_DENY is EPERM.
 */
export const DENY_ERRNOS = ['EPERM', 'EIO', 'EBUSY', 'ETXTBSY', 'EAGAIN', 'ENOSPC', 'EDQUOT'] as const;
export type DenyErrno = (typeof DENY_ERRNOS)[number];

export type EventKind = 'exec' | 'open';

export interface AccessEvent {
  /** FAN_OPEN_EXEC_PERM (an execve's open of the program or script) vs FAN_OPEN_PERM (any other open, ld.so's of a library among them). */
  kind: EventKind;
  /** Who (the thread group). */
  pid: number;
  /** /proc/PID/exe of who, read at the event: at an exec, still the program that calls execve. */
  exe: string | null;
  /** readlink of the event fd. */
  path: string;
  /**
   * The event's fd, opened by the kernel with FMODE_NONOTIFY: read the file
   * through it, never by path (an open by path under a mark waits for a
   * decision too). Valid until the decision is made; the guard closes it.
   */
  fd: number;
  stat: { dev: bigint; ino: bigint; size: bigint; mtimeNs: bigint; ctimeNs: bigint; mode: number };
}

/**
 * A decision. `cache: false` keeps it from being remembered (a file on
 * untrusted storage is checked at every open); `warning` on an allow is
 * logged each time it is given (what a learning mode would have denied).
 */
export type Verdict = { allow: true; warning?: string; cache?: boolean } | { allow: false; reason: string; errno?: DenyErrno; cache?: boolean };

/** A permission group: its fd and whether deny errnos work on it. */
export interface Group {
  fd: number;
  preContent: boolean;
}

/**
 * fanotify_init for permission events: FAN_CLASS_PRE_CONTENT where the kernel
 * has it (so a denial can carry an errno), else FAN_CLASS_CONTENT. Event fds
 * are read-only and close-on-exec.
 */
export function openGroup(): Group {
  const flags = FAN_CLOEXEC | FAN_NONBLOCK;
  try {
    return { fd: libc().fanotifyInit(flags | FAN_CLASS_PRE_CONTENT, O_RDONLY_LARGEFILE_CLOEXEC), preContent: true };
  } catch (err) {
    if (!hasCode(err, 'EINVAL')) throw err;
  }
  return { fd: libc().fanotifyInit(flags | FAN_CLASS_CONTENT, O_RDONLY_LARGEFILE_CLOEXEC), preContent: false };
}

export function eventMask(events: readonly EventKind[]): bigint {
  let mask = 0n;
  if (events.includes('exec')) mask |= BigInt(FAN_OPEN_EXEC_PERM);
  if (events.includes('open')) mask |= BigInt(FAN_OPEN_PERM);
  if (mask === 0n) throw new RangeError("events must name 'exec', 'open' or both");
  return mask;
}

export interface Mark {
  path: string;
  /** FAN_MARK_FILESYSTEM (the whole filesystem the path lives on) or FAN_MARK_MOUNT (only that mount of it). */
  scope: 'filesystem' | 'mount';
}

/**
 * Marks the filesystem each path lives on; where a filesystem cannot have a
 * superblock mark (EXDEV: a bind mount's subtree; EOPNOTSUPP), the mount.
 */
export function markPaths(group: number, paths: readonly string[], mask: bigint): Mark[] {
  return paths.map((path) => {
    try {
      libc().fanotifyMark(group, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, mask, path);
      return { path, scope: 'filesystem' as const };
    } catch (err) {
      if (!hasCode(err, 'EXDEV', 'EOPNOTSUPP', 'EINVAL')) throw err;
    }
    libc().fanotifyMark(group, FAN_MARK_ADD | FAN_MARK_MOUNT, mask, path);
    return { path, scope: 'mount' as const };
  });
}

/** The response word for a verdict: FAN_ALLOW, FAN_DENY, or FAN_DENY_ERRNO(err) where the group allows it. */
export function responseOf(verdict: Verdict, preContent: boolean): number {
  if (verdict.allow) return FAN_ALLOW;
  if (!verdict.errno || verdict.errno === 'EPERM' || !preContent) return FAN_DENY;
  const errno = os.constants.errno[verdict.errno];
  if (!DENY_ERRNOS.includes(verdict.errno)) throw new RangeError(`a denial's errno must be one of ${DENY_ERRNOS.join(', ')}, got ${verdict.errno}`);
  return (FAN_DENY | (errno << FAN_ERRNO_SHIFT)) >>> 0;
}

/** What the guard reads besides the AccessEvent: the inode generation, where the filesystem gives it. */
export interface EventDetail {
  event: AccessEvent;
  generation: number | null;
}

const noGeneration = new Set<bigint>();

/** An event from the reader, described: path, exe, stat (all through /proc and the event fd; nothing opened by path). */
export function describeEvent(mask: number, fd: number, pid: number): EventDetail {
  const kind: EventKind = mask & FAN_OPEN_EXEC_PERM ? 'exec' : 'open';
  const path = fs.readlinkSync(`/proc/self/fd/${fd}`);
  let exe: string | null = null;
  try {
    exe = fs.readlinkSync(`/proc/${pid}/exe`);
  } catch {
    // gone, or a kernel thread
  }
  const st = fs.fstatSync(fd, { bigint: true });
  const stat = { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, mode: Number(st.mode) };
  return { event: { kind, pid, exe, path, fd, stat }, generation: generationOf(fd, st.dev) };
}

function generationOf(fd: number, dev: bigint): number | null {
  if (noGeneration.has(dev)) return null;
  const out = Buffer.alloc(8);
  try {
    addon.ioctlBuffer(fd, FS_IOC_GETVERSION, out, 'FS_IOC_GETVERSION');
    return out.readUInt32LE(0);
  } catch {
    noGeneration.add(dev); // ENOTTY: this filesystem has none to give
    return null;
  }
}

/** One event as the reader thread hands it over. */
export interface RawEvent {
  mask: number;
  fd: number;
  pid: number;
}

/**
 * The native reader of a group (native/veriexec_fanotify.c). Events of
 * `ownPids` (this process, a supervisor) are allowed on its thread, never
 * queued for JavaScript: the daemon must not wait on itself, and a
 * synchronous open on the main thread would. With a supervisor channel each
 * event's fd number is written there before it is decided.
 */
export class FanotifyReader {
  private readonly handle: FanotifyReaderHandle;
  private stopped = false;

  constructor(
    readonly group: Group,
    channel: number,
    ownPids: number[],
    onEvents: (events: RawEvent[]) => void,
    /** How many allowed file states the reader thread remembers and answers itself (0: none). */
    cacheSlots = 0,
  ) {
    this.handle = addon.fanotifyReaderStart(
      group.fd,
      channel,
      ownPids,
      (batch) => {
        const events: RawEvent[] = [];
        for (let i = 0; i < batch.length; i += 4) events.push({ mask: batch[i]! >>> 0, fd: batch[i + 1]!, pid: batch[i + 2]! });
        onEvents(events);
      },
      cacheSlots,
    );
  }

  /**
   * Answers an event and closes its fd: false if the kernel no longer had it
   * pending (ENOENT). `remember` (with an allow): the reader thread answers
   * the same file state, opened the same way by the same path, itself from now
   * on (native/veriexec_fanotify.c: stat and path, no hop to this thread).
   */
  respond(fd: number, response: number, remember?: EventKind): boolean {
    const mask = remember === undefined ? 0 : eventMask([remember]);
    const rc = addon.fanotifyRespond(this.handle, fd, response, Number(mask));
    if (rc === 0) return true;
    if (errnoCode(rc) === 'ENOENT') return false;
    throw new SystemError(rc, 'write(fanotify response)', { fd });
  }

  /** Forgets what respond() was told to remember. */
  forget(): void {
    addon.fanotifyReaderForget(this.handle);
  }

  state(): FanotifyReaderState {
    return addon.fanotifyReaderState(this.handle);
  }

  /** Ends the thread; with `bye`, first tells the supervisor the decider leaves on purpose. */
  stop(bye: boolean): FanotifyReaderState {
    if (bye && !this.stopped) addon.fanotifyChannelBye(this.handle);
    this.stopped = true;
    return addon.fanotifyReaderStop(this.handle);
  }
}
