/**
 * Bulk reads ahead of the client. gdb's `dump` and LLDB's `memory read`
 * fetch a large range as a row of `x` requests (`m` before gdb 16.2), each starting where the last
 * one ended and each as long as the packet allows; the client then spends
 * as long decoding the reply as the server spent making it. Reading and
 * framing the next piece while the client decodes this one takes the server
 * off the critical path: when the request comes, its reply is ready to write.
 * The piece read ahead is served only to the very next packet, and only
 * if that packet asks for exactly it: any other packet (a write, a resume, a
 * breakpoint) throws it away, so it never shows memory older than the last
 * thing that could have changed it. Only private memory is read ahead: another
 * process may write a shared mapping (or its file) between two packets. All-stop
 * only: in non-stop mode threads run between packets.
 */
import { mappingAt } from '../procfs';
import { FramedReply, RawReply, frameRaw, rawFrameSpace } from './packet';
import type { Reply } from './replies';
import type { Target } from './target';

/** Reads shorter than this are not bulk: gdb reads a few bytes at a time for a backtrace, and those are not read ahead. */
export const READ_AHEAD_FROM = 64 * 1024;

/**
 * How a read's bytes become its reply (replies.memory for `m`, binaryMemory
 * for gdb's `x`, lldbBinaryMemory for LLDB's): the piece read ahead is spelled
 * the way the read before it was, and served only to a read spelled the same.
 */
export type Spell = (data: Buffer, length: number) => Reply;

interface Planned {
  addr: bigint;
  length: number;
  spell: Spell;
}

export class ReadAhead {
  private piece: (Planned & { reply: Reply }) | undefined;
  private planned: Planned | undefined;
  /**
   * The piece's bytes and its frame, each in one buffer kept from piece to
   * piece: a fresh 512 KiB buffer per piece costs page faults and, piling up
   * outside V8's heap, full garbage collections.
   */
  private data = Buffer.alloc(0);
  private frame = Buffer.alloc(0);

  /**
   * The reply to a read of [addr, addr + length) spelled by `spell`, if that
   * piece was read ahead, else undefined. Called for each memory read;
   * forgets the piece either way. The reply may lie in a buffer fill() uses
   * again: send it before the next fill().
   */
  take(addr: bigint, length: number, spell: Spell): Reply | undefined {
    const piece = this.piece;
    this.piece = undefined;
    return piece && piece.addr === addr && piece.length === length && piece.spell === spell ? piece.reply : undefined;
  }

  /** A packet that is not a memory read came in: what was read ahead may be stale now. */
  drop(): void {
    this.piece = undefined;
    this.planned = undefined;
  }

  /** A read of a whole packet's worth at `addr` was answered: the next such read is likely to follow it. */
  plan(addr: bigint, length: number, spell: Spell): void {
    this.planned = { addr: addr + BigInt(length), length, spell };
  }

  /**
   * Reads and frames the planned piece, if any, from `target` (after the
   * reply has gone out). Private memory only, where the target is a running
   * process (a core or the kernel nobody changes). A read that fails or comes
   * up short is simply not kept: the client will ask and get its answer then.
   */
  fill(target: Target): void {
    const planned = this.planned;
    this.planned = undefined;
    if (!planned) return;
    const pid = target.capabilities.runningProcess?.pid;
    if (pid !== undefined && !privateMemory(pid, planned.addr, planned.length)) return;
    try {
      const data = this.read(target, planned.addr, planned.length);
      if (data?.length === planned.length) this.piece = { ...planned, reply: this.framed(planned.spell(data, planned.length)) };
    } catch {
      // Past the end of a mapping.
    }
  }

  /**
   * On the JS thread: one piece (512 KiB at most) takes a few hundred
   * microseconds, while gdb takes milliseconds to decode the reply before it.
   * A target that can only read it asynchronously is not read ahead.
   */
  private read(target: Target, addr: bigint, length: number): Buffer | undefined {
    const into = target.capabilities.memoryInto;
    if (into) {
      if (this.data.length < length) this.data = Buffer.allocUnsafe(length);
      return this.data.subarray(0, into.readMemoryInto(addr, this.data.subarray(0, length)));
    }
    const data = target.readMemory(addr, length);
    if (!(data instanceof Promise)) return data;
    data.catch(() => undefined);
    return undefined;
  }

  private framed(reply: Reply): Reply {
    if (!(reply instanceof RawReply)) return reply;
    const space = rawFrameSpace(reply);
    if (this.frame.length < space) this.frame = Buffer.allocUnsafe(space);
    return new FramedReply(this.frame.subarray(0, frameRaw(reply, this.frame)));
  }
}

/** Whether [addr, addr + length) lies in one private mapping of `pid`, which only the (stopped) process itself can change. */
function privateMemory(pid: number, addr: bigint, length: number): boolean {
  const m = mappingAt(pid, addr);
  return m !== undefined && !m.shared && addr + BigInt(length) <= m.end;
}
