/**
 * Reading the kernel's pipe fast. The kernel writes the core page by page
 * into a 64 KiB pipe; read through a stream, each 64 KiB costs a wakeup and
 * Node's per-chunk machinery (about 4x slower than `cat` on a 1 GiB core).
 * So: grow the pipe (F_SETPIPE_SZ; root may exceed fs.pipe-max-size), make
 * it non-blocking, and drain it with large synchronous reads; when it is
 * empty, yield to the event loop for a millisecond (the kernel refills
 * megabytes meanwhile). Nothing ever blocks, so the time budget can always
 * abandon the pipe and the process can exit.
 */
import fs from 'node:fs';
import net from 'node:net';
import { libc } from '../../native';

const F_GETFL = 3;
const F_SETFL = 4;
/** include/uapi/linux/fcntl.h: F_LINUX_SPECIFIC_BASE + 7. */
const F_SETPIPE_SZ = 1031;
const PIPE_SIZE = 16 << 20;
const CHUNK = 1 << 20;

/** Grows a pipe to 16 MiB so a writer and its reader run ahead of each other; best effort. */
export function growPipe(fd: number | undefined): void {
  if (fd === undefined || fd < 0) return;
  try {
    libc().fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE);
  } catch {
    /* a smaller pipe still works, only slower */
  }
}

/** The fd under a child process's stdin pipe (libuv's handle), if there is one. */
export function pipeFd(stream: unknown): number | undefined {
  const fd = (stream as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' ? fd : undefined;
}

/** Grows the pipe and makes it non-blocking; false if fcntl is not reachable (no koffi). */
function prepare(fd: number): boolean {
  try {
    const c = libc();
    try {
      c.fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE);
    } catch {
      /* a smaller pipe still works, only slower */
    }
    c.fcntl(fd, F_SETFL, c.fcntl(fd, F_GETFL) | fs.constants.O_NONBLOCK);
    return true;
  } catch {
    return false;
  }
}

const pause = () => new Promise((resolve) => setTimeout(resolve, 1));

/**
 * Chunks of the core from `fd` (a pipe, a socket or a regular file) until
 * end of file. A chunk's memory is reused two chunks later: copy what you keep.
 */
export async function* readInput(fd: number): AsyncGenerator<Buffer> {
  const st = fs.fstatSync(fd);
  if (!st.isFIFO() && !st.isSocket()) {
    yield* fs.createReadStream('', { fd, highWaterMark: CHUNK, autoClose: false });
    return;
  }
  if (!prepare(fd)) {
    yield* new net.Socket({ fd, readable: true, writable: false });
    return;
  }
  // Two buffers, reused: fresh 1 MiB buffers cost more in page faults and GC than the reads
  // themselves. Consumers must be done with a chunk when they ask for the next but one.
  const buffers = [Buffer.allocUnsafeSlow(CHUNK), Buffer.allocUnsafeSlow(CHUNK)];
  for (let turn = 0; ; turn ^= 1) {
    const buf = buffers[turn]!;
    let n: number;
    try {
      n = fs.readSync(fd, buf, 0, CHUNK, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      await pause();
      continue;
    }
    if (n === 0) return;
    yield buf.subarray(0, n);
  }
}
