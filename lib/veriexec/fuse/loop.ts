/**
 * The request loop: a C thread (native/fuse.c) polls /dev/fuse and reads each
 * request; it reaches this thread through a thread-safe function, in the
 * kernel's order, and is answered here synchronously, before the next, with
 * one write(2). The verifying work (pread of the source, the page checks) is
 * on this thread too: one request at a time, so replies never race and no
 * request outlives its answer. A blocked libuv pool thread was the other way
 * (fs.read on the fd); a thread of our own leaves libuv's four to Node and
 * stops on an eventfd instead of waiting for the kernel.
 */
import { addon, type FuseReaderHandle } from '../../native';
import type { FuseSession } from './session';
import { MAX_WRITE } from './session';

/** Room for the largest request we accept: header, write header and max_write (fs/fuse/dev.c), with room to spare for names. */
const READ_BUFFER = 64 * 1024 + MAX_WRITE;
const ENOENT = 2;

export class RequestLoop {
  /** Replies the kernel refused for another reason than a withdrawn request. */
  writeErrors = 0;
  private handle: FuseReaderHandle | null;
  private readonly ended: Promise<number>;

  constructor(
    private readonly fd: number,
    session: FuseSession,
  ) {
    let end!: (err: number) => void;
    this.ended = new Promise((resolve) => (end = resolve));
    this.handle = addon.fuseReaderStart(fd, READ_BUFFER, (request, err) => {
      if (request === null) {
        if (this.handle) addon.fuseReaderFree(this.handle);
        this.handle = null;
        end(err);
        return;
      }
      const answer = session.handle(request);
      if (answer === null) return;
      const rc = addon.fuseWrite(this.fd, answer);
      // -ENOENT: the request was interrupted and withdrawn meanwhile (fs/fuse/dev.c), nothing to do.
      if (rc < 0 && rc !== -ENOENT) this.writeErrors++;
    });
  }

  /** Whether a live loop keeps Node's event loop alive (it does unless told). */
  ref(keepAlive: boolean): void {
    if (this.handle) addon.fuseReaderRef(this.handle, keepAlive);
  }

  /** Resolves with 0 once stopped, or -errno when the connection ended first (-ENODEV: unmounted, or aborted). */
  done(): Promise<number> {
    return this.ended;
  }

  async stop(): Promise<number> {
    if (this.handle) addon.fuseReaderStop(this.handle);
    return this.ended;
  }
}
