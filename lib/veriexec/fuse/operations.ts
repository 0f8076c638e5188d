/**
 * The filesystem's meaning: a read-only passthrough of the source tree whose
 * file pages reach the kernel only once the verifier has checked them. Each
 * operation takes a parsed request and returns the reply's bytes; the session
 * (session.ts) handles the connection (INIT, DESTROY, INTERRUPT, opcodes we do
 * not serve) and the loop (loop.ts) moves the bytes.
 */
import fs from 'node:fs';
import { E, FOPEN_KEEP_CACHE, ROOT_ID } from './protocol';
import type { SourceTree } from './source';
import type { FilePages, PageVerifier, VerifyLog } from './verify';
import { type Attr, attrOut, type DirEntry, dirents, entryOut, openOut, type Request, reply, statfsOut } from './wire';

/** Counters a caller reads through VerifiedMount.stats(). */
export interface ServerStats {
  /** Requests read from the kernel. */
  requests: number;
  /** READ requests answered, with data or refused. */
  reads: number;
  /** Pages handed to FilePages.check. */
  pagesChecked: number;
  /** Pages that failed it (each refused its whole READ with EIO). */
  pagesRefused: number;
  /** File bytes the kernel got. */
  bytesServed: number;
  opens: number;
  /** Opens the verifier refused (EACCES). */
  opensRefused: number;
  /** Requests that did not parse (answered EIO when their id could be read). */
  malformed: number;
  /** Exceptions inside an operation (answered EIO). */
  errors: number;
}

interface Node {
  rel: string;
  nlookup: number;
}

interface OpenFile {
  fd: number;
  rel: string;
  pages: FilePages;
}

/** How long the kernel may keep entries and attributes without asking again. */
const VALID_SECONDS = 1;
const NAME_MAX = 255;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A name from the wire or a directory as text; null when it is not UTF-8 (such names are neither listed nor found). */
function decodeName(name: Buffer): string | null {
  try {
    return utf8.decode(name);
  } catch {
    return null;
  }
}

function toAttr(s: fs.BigIntStats): Attr {
  return {
    ino: s.ino,
    size: s.size,
    blocks: s.blocks,
    atimeNs: s.atimeNs,
    mtimeNs: s.mtimeNs,
    ctimeNs: s.ctimeNs,
    mode: Number(s.mode),
    nlink: Number(s.nlink),
    uid: Number(s.uid),
    gid: Number(s.gid),
    rdev: Number(s.rdev),
    blksize: Number(s.blksize),
  };
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;

export class VerifyingFs {
  readonly stats: ServerStats = { requests: 0, reads: 0, pagesChecked: 0, pagesRefused: 0, bytesServed: 0, opens: 0, opensRefused: 0, malformed: 0, errors: 0 };
  private readonly nodes = new Map<number, Node>([[ROOT_ID, { rel: '', nlookup: 1 }]]);
  private readonly byPath = new Map<string, number>([['', ROOT_ID]]);
  private nextNode = ROOT_ID + 1;
  private readonly files = new Map<number, OpenFile>();
  private readonly dirs = new Map<number, DirEntry[]>();
  private nextFh = 1;

  constructor(
    readonly source: SourceTree,
    private readonly verifier: PageVerifier,
    private readonly log: VerifyLog | undefined,
  ) {}

  /** The node id the kernel knows `rel` by, if it looked it up and has not forgotten it. */
  nodeOf(rel: string): number | undefined {
    return this.byPath.get(rel);
  }

  /** The reply to a file-system request (the session has dealt with the rest). */
  handle(req: Request): Buffer | null {
    const { header, body } = req;
    const node = this.nodes.get(header.nodeid);
    const fail = (errno: number) => reply(header.unique, -errno);
    switch (body.op) {
      case 'forget':
        this.forget(header.nodeid, body.nlookup);
        return null;
      case 'batchForget':
        for (const item of body.items) this.forget(item.nodeid, item.nlookup);
        return null;
      case 'read':
        return this.read(req, body.fh, body.offset, body.size);
      case 'release': {
        const f = this.files.get(body.fh);
        if (f) {
          this.files.delete(body.fh);
          fs.closeSync(f.fd);
        }
        return reply(header.unique, 0);
      }
      case 'readdir': {
        const entries = this.dirs.get(body.fh);
        if (!entries) return fail(E.EBADF);
        return reply(header.unique, 0, dirents(entries, body.offset, body.size));
      }
      case 'releasedir':
        this.dirs.delete(body.fh);
        return reply(header.unique, 0);
      case 'flush':
        // Nothing is ever written here: ENOSYS makes the kernel stop sending FLUSH (fc->no_flush), one round trip less per close().
        return fail(E.ENOSYS);
      default:
        break;
    }
    if (!node) return fail(E.ENOENT); // a node id we never gave, or one the kernel forgot
    switch (body.op) {
      case 'lookup':
        return this.lookup(req, node.rel, body.name);
      case 'getattr': {
        const open = body.fh !== null ? this.files.get(body.fh) : undefined;
        const s = open ? fs.fstatSync(open.fd, { bigint: true }) : this.source.stat(node.rel);
        return typeof s === 'number' ? fail(-s) : reply(header.unique, 0, attrOut(toAttr(s), VALID_SECONDS));
      }
      case 'readlink': {
        const target = this.source.readlink(node.rel);
        return typeof target === 'number' ? fail(-target) : reply(header.unique, 0, target);
      }
      case 'open':
        return this.open(req, node.rel, body.flags);
      case 'opendir':
        return this.opendir(req, node.rel);
      case 'statfs': {
        const s = this.source.statfs();
        return reply(
          header.unique,
          0,
          statfsOut({
            blocks: BigInt(s.blocks),
            bfree: BigInt(s.bfree),
            bavail: BigInt(s.bavail),
            files: BigInt(s.files),
            ffree: BigInt(s.ffree),
            bsize: s.bsize,
            namelen: NAME_MAX,
          }),
        );
      }
      case 'access': {
        const s = this.source.stat(node.rel);
        if (typeof s === 'number') return fail(-s);
        if (body.mask & 2) return fail(E.EROFS); // W_OK
        // X_OK for a file needs an execute bit even for root (as the kernel's generic_permission says).
        if (body.mask & 1 && (Number(s.mode) & S_IFMT) === S_IFREG && !(Number(s.mode) & 0o111)) return fail(E.EACCES);
        return reply(header.unique, 0);
      }
      default:
        return fail(E.ENOSYS);
    }
  }

  private forget(nodeid: number, nlookup: number): void {
    const node = this.nodes.get(nodeid);
    if (!node || nodeid === ROOT_ID) return;
    node.nlookup -= nlookup;
    if (node.nlookup <= 0) {
      this.nodes.delete(nodeid);
      if (this.byPath.get(node.rel) === nodeid) this.byPath.delete(node.rel);
    }
  }

  /**
   * A name in a directory. The kernel resolves "." and ".." itself and never
   * sends them; were it to, they stay inside: ".." of the root is the root.
   */
  private lookup(req: Request, parent: string, raw: Buffer): Buffer {
    const fail = (errno: number) => reply(req.header.unique, -errno);
    if (raw.length > NAME_MAX) return fail(E.ENAMETOOLONG);
    const name = decodeName(raw);
    if (name === null || name === '' || name.includes('/')) return fail(E.ENOENT);
    let rel: string;
    if (name === '.') rel = parent;
    else if (name === '..') rel = parent.includes('/') ? parent.slice(0, parent.lastIndexOf('/')) : '';
    else rel = parent === '' ? name : `${parent}/${name}`;
    const s = this.source.stat(rel);
    if (typeof s === 'number') return fail(-s);
    let id = this.byPath.get(rel);
    if (id === undefined) {
      id = this.nextNode++;
      this.byPath.set(rel, id);
      this.nodes.set(id, { rel, nlookup: 0 });
    }
    this.nodes.get(id)!.nlookup++;
    return reply(req.header.unique, 0, entryOut(id, toAttr(s), VALID_SECONDS));
  }

  private open(req: Request, rel: string, flags: number): Buffer {
    const fail = (errno: number) => reply(req.header.unique, -errno);
    const O_ACCMODE = 3;
    const O_TRUNC = 0o1000;
    if (flags & O_ACCMODE || flags & O_TRUNC) return fail(E.EROFS);
    this.stats.opens++;
    const fd = this.source.open(rel);
    if (fd < 0) return fail(-fd);
    let verdict: FilePages | string;
    try {
      const stat = fs.fstatSync(fd);
      verdict = stat.isFile() ? this.verifier.file(rel, stat) : 'not a regular file';
    } catch (err) {
      verdict = `verifier failed: ${(err as Error).message}`;
    }
    if (typeof verdict === 'string') {
      fs.closeSync(fd);
      this.stats.opensRefused++;
      this.denied({ path: rel, reason: verdict, pid: req.header.pid });
      return fail(E.EACCES);
    }
    const fh = this.nextFh++;
    this.files.set(fh, { fd, rel, pages: verdict });
    return reply(req.header.unique, 0, openOut(fh, FOPEN_KEEP_CACHE));
  }

  /**
   * The page-aligned range around [offset, offset + size) from the source,
   * every page checked before any byte goes back. One page that fails refuses
   * the whole request with EIO: the kernel then fails read() with EIO and a
   * page fault with SIGBUS, and retries the pages the fault or read needed
   * one at a time (filemap_fault, filemap_read), so good pages next to a bad
   * one still load. So a process whose readahead only came near the bad page
   * is logged too (the test sees it), though it never gets that page and runs
   * on. Past the end of the file the data is short, as read(2)'s.
   */
  private read(req: Request, fh: number, offset: number, size: number): Buffer {
    this.stats.reads++;
    const f = this.files.get(fh);
    if (!f) return reply(req.header.unique, -E.EBADF);
    const ps = f.pages.pageSize;
    const first = Math.floor(offset / ps);
    const end = Math.ceil((offset + size) / ps);
    const buf = Buffer.allocUnsafe((end - first) * ps);
    let got = 0;
    // A file that shrinks under us gives a short page here, which fails its check; one that grows gives pages the table lacks.
    while (got < buf.length) {
      const n = fs.readSync(f.fd, buf, got, buf.length - got, first * ps + got);
      if (n === 0) break;
      got += n;
    }
    for (let at = 0; at < got; at += ps) {
      const index = first + at / ps;
      this.stats.pagesChecked++;
      let ok: boolean;
      try {
        ok = f.pages.check(index, buf.subarray(at, Math.min(at + ps, got)));
      } catch {
        ok = false;
      }
      if (!ok) {
        this.stats.pagesRefused++;
        this.denied({ path: f.rel, page: index, reason: 'page does not match its fingerprint', pid: req.header.pid });
        return reply(req.header.unique, -E.EIO);
      }
    }
    const from = Math.min(offset - first * ps, got);
    const to = Math.min(from + size, got);
    this.stats.bytesServed += to - from;
    return reply(req.header.unique, 0, buf.subarray(from, to));
  }

  private opendir(req: Request, rel: string): Buffer {
    const listed = this.source.list(rel);
    if (typeof listed === 'number') return reply(req.header.unique, -listed);
    const here = this.source.stat(rel);
    const up = this.source.stat(rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '');
    const dirType = S_IFDIR >> 12;
    const entries: DirEntry[] = [
      { name: Buffer.from('.'), ino: typeof here === 'number' ? 0n : here.ino, type: dirType },
      { name: Buffer.from('..'), ino: typeof up === 'number' ? 0n : up.ino, type: dirType },
    ];
    for (const e of listed) {
      if (decodeName(e.name) === null) continue;
      entries.push({ name: e.name, ino: e.stat.ino, type: (Number(e.stat.mode) & S_IFMT) >> 12 });
    }
    const fh = this.nextFh++;
    this.dirs.set(fh, entries);
    return reply(req.header.unique, 0, openOut(fh, 0));
  }

  private denied(record: { path: string; page?: number; reason: string; pid?: number }): void {
    try {
      this.log?.denied(record);
    } catch {
      // a failing log must not take the server down
    }
  }

  /** Closes every fd the kernel left open (at unmount). */
  closeAll(): void {
    for (const f of this.files.values()) fs.closeSync(f.fd);
    this.files.clear();
    this.dirs.clear();
  }
}
