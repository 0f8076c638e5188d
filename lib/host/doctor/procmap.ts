/**
 * PROCMAP_QUERY (Linux 6.11): one ioctl on /proc/PID/maps finds the mapping
 * holding an address, with its file's build-id, instead of parsing the text.
 */
import fs from 'node:fs';
import { errnoCode } from '../../errors';
import { addon } from '../../native';
import { PROCMAP_QUERY, PROCMAP_QUERY_COVERING_OR_NEXT as COVERING_OR_NEXT, PROCMAP_QUERY_SIZE as QUERY_SIZE } from '../../procfs/mapping-query';
import type { Finding } from './finding';

export function probeProcmapQuery(): Finding {
  const fd = fs.openSync('/proc/self/maps', 'r');
  let found: { start: bigint; end: bigint } | undefined;
  let error = '';
  try {
    const q = Buffer.alloc(QUERY_SIZE);
    q.writeBigUInt64LE(BigInt(QUERY_SIZE), 0);
    q.writeBigUInt64LE(BigInt(COVERING_OR_NEXT), 8);
    q.writeBigUInt64LE(0n, 16); // the lowest mapping
    addon.ioctlBuffer(fd, PROCMAP_QUERY, q, 'PROCMAP_QUERY');
    found = { start: q.readBigUInt64LE(24), end: q.readBigUInt64LE(32) };
  } catch (err) {
    error = errnoCode((err as NodeJS.ErrnoException).errno ?? 0);
  } finally {
    fs.closeSync(fd);
  }
  return {
    facility: 'PROCMAP_QUERY',
    state: found ? 'ok' : 'missing',
    detail: found
      ? `answered for this process (first mapping 0x${found.start.toString(16)}-0x${found.end.toString(16)})`
      : `ioctl on /proc/self/maps: ${error} (before Linux 6.11)`,
    neededBy: "gdbsock's read-ahead (is the next piece in a private mapping?); the maps text is parsed without it",
    fix: found ? undefined : 'nothing to do: the text is parsed instead',
    facts: { works: Boolean(found), error: error || null },
  };
}
