/**
 * The one mapping of a process that holds an address: a PROCMAP_QUERY ioctl on
 * /proc/PID/maps (Linux 6.11, include/uapi/linux/fs.h) where the kernel has
 * it, the maps text parsed where it does not.
 */
import fs from 'node:fs';
import { hasCode } from '../errors';
import { addon } from '../native';
import { maps } from './maps';

/** struct procmap_query: 104 bytes; _IOWR('f', 17, it). */
export const PROCMAP_QUERY_SIZE = 104;
export const PROCMAP_QUERY = (3 << 30) | (PROCMAP_QUERY_SIZE << 16) | (0x66 << 8) | 17;
/** PROCMAP_QUERY_COVERING_OR_NEXT_VMA: the first mapping at or after the address. */
export const PROCMAP_QUERY_COVERING_OR_NEXT = 0x10;
/** vma_flags bits. */
const VMA = { READABLE: 1, WRITABLE: 2, EXECUTABLE: 4, SHARED: 8 };

export interface MappingSpan {
  start: bigint;
  end: bigint;
  readable: boolean;
  writable: boolean;
  executable: boolean;
  /** MAP_SHARED: other processes (or the file) may change it. */
  shared: boolean;
}

/** false once the kernel has said it has no PROCMAP_QUERY (before 6.11): the text is read from then on. */
let ioctlWorks = true;

/** The mapping of `pid` holding `address`; undefined if none does or the process is gone. */
export function mappingAt(pid: number, address: bigint): MappingSpan | undefined {
  if (ioctlWorks) {
    const answer = query(pid, address);
    if (answer !== 'unsupported') return answer;
    ioctlWorks = false;
  }
  try {
    const m = maps(pid).find((m) => m.start <= address && address < m.end);
    return m && { start: m.start, end: m.end, readable: m.readable, writable: m.writable, executable: m.executable, shared: m.shared };
  } catch {
    return undefined;
  }
}

function query(pid: number, address: bigint): MappingSpan | undefined | 'unsupported' {
  let fd: number;
  try {
    fd = fs.openSync(`/proc/${pid}/maps`, 'r');
  } catch {
    return undefined;
  }
  try {
    const q = Buffer.alloc(PROCMAP_QUERY_SIZE);
    q.writeBigUInt64LE(BigInt(PROCMAP_QUERY_SIZE), 0);
    q.writeBigUInt64LE(0n, 8); // flags: the covering mapping only
    q.writeBigUInt64LE(address, 16);
    addon.ioctlBuffer(fd, PROCMAP_QUERY, q, 'PROCMAP_QUERY');
    const flags = Number(q.readBigUInt64LE(40));
    return {
      start: q.readBigUInt64LE(24),
      end: q.readBigUInt64LE(32),
      readable: (flags & VMA.READABLE) !== 0,
      writable: (flags & VMA.WRITABLE) !== 0,
      executable: (flags & VMA.EXECUTABLE) !== 0,
      shared: (flags & VMA.SHARED) !== 0,
    };
  } catch (err) {
    // ENOENT: no mapping there; ESRCH: the process is gone.
    return hasCode(err, 'ENOTTY', 'EINVAL') ? 'unsupported' : undefined;
  } finally {
    fs.closeSync(fd);
  }
}
