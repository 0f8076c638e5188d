/**
 * The objects qXfer:OBJECT:read serves (GDB manual, "General Query Packets",
 * qXfer), read from a Target and sent in the chunks gdb asks for.
 */
import { type Reply, UNSUPPORTED, error, threadsXml, xferChunk } from './replies';
import { osdata } from './osdata';
import type { Request } from './requests';
import type { Target } from './target';
import { type LibraryListStart, parseLibraryListAnnex } from './targets/svr4';

export class XferObjects {
  private threadsDocument: string | undefined;
  private osdataDocument: string | undefined;

  /** `target` throws if there is none; `tid`: the thread siginfo is read from; `threadId`: a thread's id as gdb is to see it. */
  read(target: () => Target, r: Extract<Request, { kind: 'qXfer' }>, tid: () => number, threadId: (tid: number) => string): Reply | Promise<Reply> {
    const { offset, length } = r;
    const chunk = (data: Buffer | string | undefined) =>
      data === undefined ? error() : xferChunk(typeof data === 'string' ? Buffer.from(data) : data, offset, length);
    switch (r.object) {
      case 'features':
        return chunk(target().registers.xml.get(r.annex));
      case 'auxv':
        return chunk(target().auxv());
      case 'exec-file':
        // The annex names the process (gdb asks for each inferior's program).
        return chunk(target().execFile(r.pid));
      case 'siginfo':
        return chunk(target().siginfo(tid()));
      case 'threads':
        // Built at offset 0 and kept for the chunks after it (as gdbserver does): threads may come and go between them.
        if (offset === 0 || this.threadsDocument === undefined) {
          this.threadsDocument = threadsXml(
            target()
              .threads()
              .map((th) => ({ ...th, id: threadId(th.tid) })),
          );
        }
        return chunk(this.threadsDocument);
      case 'osdata':
        // The machine's, not the target's; built at offset 0 and kept for the chunks after it, as threads.
        if (offset === 0 || this.osdataDocument === undefined) this.osdataDocument = osdata(r.annex);
        return chunk(this.osdataDocument);
      case 'libraries-svr4': {
        let from: LibraryListStart;
        try {
          from = parseLibraryListAnnex(r.annex);
        } catch {
          return error();
        }
        return target().librariesSvr4(from).then(chunk);
      }
      default:
        return UNSUPPORTED;
    }
  }
}
