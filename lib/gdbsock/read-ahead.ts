/**
 * Bulk reads ahead of the client. gdb's `dump` and LLDB's `memory read`
 * fetch a large range as a row of `x` requests (`m` before gdb 16.2), each starting where the last
 * one ended and each as long as the packet allows; the client then spends
 * as long decoding the reply as the server spent making it. Reading the next
 * piece while the client decodes this one takes the server off the critical
 * path. The piece read ahead is served only to the very next packet, and only
 * if that packet asks for exactly it: any other packet (a write, a resume, a
 * breakpoint) throws it away, so it never shows memory older than the last
 * thing that could have changed it. Only private memory is read ahead: another
 * process may write a shared mapping (or its file) between two packets. All-stop
 * only: in non-stop mode threads run between packets.
 */
import { mappingAt } from '../procfs';

/** Reads shorter than this are not bulk: gdb reads a few bytes at a time for a backtrace, and those are not read ahead. */
export const READ_AHEAD_FROM = 64 * 1024;

export class ReadAhead {
  private piece: { addr: bigint; length: number; data: Buffer } | undefined;
  private planned: { addr: bigint; length: number } | undefined;

  /**
   * The bytes of [addr, addr + length) if they were read ahead, else undefined.
   * Called for each memory read; forgets the piece either way.
   */
  take(addr: bigint, length: number): Buffer | undefined {
    const piece = this.piece;
    this.piece = undefined;
    return piece && piece.addr === addr && piece.length === length ? piece.data : undefined;
  }

  /** A packet that is not a memory read came in: what was read ahead may be stale now. */
  drop(): void {
    this.piece = undefined;
    this.planned = undefined;
  }

  /** A read of a whole packet's worth at `addr` was answered: the next such read is likely to follow it. */
  plan(addr: bigint, length: number): void {
    this.planned = { addr: addr + BigInt(length), length };
  }

  /**
   * Reads the planned piece, if any (after the reply has gone out), from the
   * memory of process `pid` (undefined: a core or the kernel, which nobody
   * changes). A read that fails is simply not kept.
   */
  fill(read: (addr: bigint, length: number) => Buffer | Promise<Buffer>, pid: number | undefined): void {
    const planned = this.planned;
    this.planned = undefined;
    if (!planned || (pid !== undefined && !privateMemory(pid, planned.addr, planned.length))) return;
    try {
      const data = read(planned.addr, planned.length);
      if (data instanceof Promise) {
        data.catch(() => undefined); // a target that reads asynchronously is not read ahead
        return;
      }
      if (data.length === planned.length) this.piece = { ...planned, data };
    } catch {
      // Past the end of a mapping: the client will ask and get its error then.
    }
  }
}

/** Whether [addr, addr + length) lies in one private mapping of `pid`, which only the (stopped) process itself can change. */
function privateMemory(pid: number, addr: bigint, length: number): boolean {
  const m = mappingAt(pid, addr);
  return m !== undefined && !m.shared && addr + BigInt(length) <= m.end;
}
