/**
 * One connection's protocol state: INIT's negotiation, then every request
 * turned into exactly the replies the protocol wants (none for FORGET,
 * BATCH_FORGET and INTERRUPT). handle() never throws: a request that does not
 * parse, or an operation that fails unexpectedly, is answered EIO.
 */
import type { VerifyingFs } from './operations';
import { E, FUSE_MAJOR, FUSE_MINOR, InitFlag, Op, WRITE_OPS } from './protocol';
import { initOut, parseRequest, type Request, reply, WireError } from './wire';

export interface SessionOptions {
  /** Bytes of readahead the kernel may do (at most what it offers); default: what it offers. */
  maxReadahead?: number;
  /** Pages in one READ (FUSE_MAX_PAGES); default 32 (128 KiB). */
  maxPages?: number;
}

/** What INIT settled. */
export interface Negotiated {
  minor: number;
  maxReadahead: number;
  flags: number;
  maxPages: number;
}

/** fs/fuse/dev.c refuses a read buffer smaller than this plus max_write; we take no writes, so a small max_write will do. */
export const MAX_WRITE = 4096;

export class FuseSession {
  negotiated: Negotiated | null = null;
  destroyed = false;
  onInit: (() => void) | null = null;

  constructor(
    readonly fs: VerifyingFs,
    private readonly options: SessionOptions = {},
  ) {}

  handle(buf: Buffer): Buffer | null {
    this.fs.stats.requests++;
    let req: Request;
    try {
      req = parseRequest(buf);
    } catch (err) {
      this.fs.stats.malformed++;
      if (!(err instanceof WireError)) this.fs.stats.errors++;
      // Its id is enough to answer it, unless it is one of those the kernel expects no answer to.
      if (buf.length < 16 || NO_REPLY.has(buf.readUInt32LE(4))) return null;
      return reply(buf.readBigUInt64LE(8), -E.EIO);
    }
    try {
      return this.dispatch(req);
    } catch {
      this.fs.stats.errors++;
      return replyIfDue(req, -E.EIO);
    }
  }

  private dispatch(req: Request): Buffer | null {
    const { header, body } = req;
    if (body.op === 'init') return this.init(req);
    // Before INIT nothing else may come (fs/fuse/inode.c sends INIT first); the kernel never waits on it.
    if (!this.negotiated) return replyIfDue(req, -E.EIO);
    switch (body.op) {
      case 'interrupt':
        // Each request is answered before the next is read, so the one interrupted is answered already or next in line.
        return null;
      case 'destroy':
        this.destroyed = true;
        return reply(header.unique, 0);
      case 'other':
        return reply(header.unique, WRITE_OPS.has(header.opcode) ? -E.EROFS : -E.ENOSYS);
      default:
        return this.fs.handle(req);
    }
  }

  private init(req: Request): Buffer {
    const body = req.body as Extract<Request['body'], { op: 'init' }>;
    if (this.negotiated) return reply(req.header.unique, -E.EPROTO);
    // A kernel with a newer major version waits for our major and asks again (fuse.h's INIT rules); an older one is too old.
    if (body.major > FUSE_MAJOR)
      return reply(
        req.header.unique,
        0,
        initOut({ minor: FUSE_MINOR, maxReadahead: 0, flags: 0, maxBackground: 0, congestionThreshold: 0, maxWrite: 0, maxPages: 0 }).subarray(0, 8),
      );
    if (body.major < FUSE_MAJOR || body.minor < 23) return reply(req.header.unique, -E.EPROTO);
    const wanted = InitFlag.ASYNC_READ | InitFlag.PARALLEL_DIROPS | InitFlag.MAX_PAGES | InitFlag.CACHE_SYMLINKS;
    const negotiated: Negotiated = {
      minor: Math.min(body.minor, FUSE_MINOR),
      maxReadahead: Math.min(this.options.maxReadahead ?? body.maxReadahead, body.maxReadahead),
      flags: body.flags & wanted,
      maxPages: Math.max(1, Math.min(this.options.maxPages ?? 32, 256)),
    };
    this.negotiated = negotiated;
    this.onInit?.();
    return reply(req.header.unique, 0, initOut({ ...negotiated, maxBackground: 16, congestionThreshold: 12, maxWrite: MAX_WRITE }));
  }
}

/** The requests the protocol answers; FORGET, BATCH_FORGET and INTERRUPT get none. */
const NO_REPLY: ReadonlySet<number> = new Set([Op.FORGET, Op.BATCH_FORGET, Op.INTERRUPT]);

function replyIfDue(req: Request, error: number): Buffer | null {
  return NO_REPLY.has(req.header.opcode) ? null : reply(req.header.unique, error);
}
