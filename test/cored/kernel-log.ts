/**
 * The kernel's log from a point on, by /dev/kmsg sequence numbers: what the
 * kernel said about dumps during a storm (skipped, undeliverable), even
 * though a storm's own log lines may push older ones out of the ring.
 */
import fs from 'node:fs';

interface Record {
  seq: number;
  message: string;
}

/** Every record still in the ring, oldest first; `lost` when the ring overwrote some while we read. */
function readKmsg(): { records: Record[]; lost: boolean } {
  const fd = fs.openSync('/dev/kmsg', fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const records: Record[] = [];
  let lost = false;
  const buf = Buffer.alloc(8192);
  try {
    for (;;) {
      let n: number;
      try {
        n = fs.readSync(fd, buf, 0, buf.length, null);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') break;
        if (code === 'EPIPE') {
          lost = true; // overwritten before we read it: the next read goes on after the gap
          continue;
        }
        throw err;
      }
      const text = buf.toString('utf8', 0, n);
      const semi = text.indexOf(';');
      records.push({ seq: Number(text.split(',')[1]), message: text.slice(semi + 1).split('\n')[0]! });
    }
  } finally {
    fs.closeSync(fd);
  }
  return { records, lost };
}

/** Marks now; the returned function gives the messages logged since, or throws if the ring lost some of them. */
export function kernelLogFromNow(): () => string[] {
  const { records } = readKmsg();
  const after = records.length ? records[records.length - 1]!.seq : -1;
  return () => {
    const { records: now } = readKmsg();
    const first = now[0]?.seq ?? Infinity;
    if (first > after + 1)
      throw new Error(`the kernel log ring overwrote records ${after + 1}..${first - 1}: cannot tell what the kernel said (dmesg -s / log_buf_len)`);
    return now.filter((r) => r.seq > after).map((r) => r.message);
  };
}

/** The kernel's words for a core it did not deliver: over core_pipe_limit, a socket it could not reach. */
export const UNDELIVERED = /skipping core dump|over core_pipe_limit|coredump.*(failed|refused|unable)|Unable to (connect|dump)/i;
