/**
 * The piece read ahead (read-ahead.ts) against targets that read at once,
 * into its own buffer (memoryInto, as a live process does) or by returning
 * a buffer (a core), and one that can only read asynchronously.
 */
import t from 'tap';
import { FramedReply, escapeBinary, frame } from '../../lib/gdbsock/packet';
import { ReadAhead } from '../../lib/gdbsock/read-ahead';
import * as reply from '../../lib/gdbsock/replies';
import type { Target } from '../../lib/gdbsock/target';

const PIECE = 0x10000;
const BASE = 0x10000n;
/** Every byte value, the four that need escaping included. */
const memory = Buffer.from(Array.from({ length: 4 * PIECE }, (_, i) => (i * 31) & 0xff));
const at = (addr: bigint, length: number) => memory.subarray(Number(addr - BASE), Number(addr - BASE) + length);

/** A target with only what read-ahead asks of it; no running process, so no mapping check. */
function target(kind: 'into' | 'sync' | 'async', reads: bigint[] = []): Target {
  const readMemory = (addr: bigint, length: number) => {
    reads.push(addr);
    return kind === 'async' ? Promise.resolve(Buffer.from(at(addr, length))) : Buffer.from(at(addr, length));
  };
  const readMemoryInto = (addr: bigint, buffer: Buffer) => {
    reads.push(addr);
    return at(addr, buffer.length).copy(buffer);
  };
  return { readMemory, capabilities: kind === 'into' ? { memoryInto: { readMemoryInto } } : {} } as unknown as Target;
}

const framedBody = (r: reply.Reply | undefined) => {
  if (!(r instanceof FramedReply)) throw new Error('not a framed reply');
  return r.frame;
};

t.test('the next piece comes framed, as an x reply of its bytes', async (t) => {
  for (const kind of ['into', 'sync'] as const) {
    const ahead = new ReadAhead();
    const reads: bigint[] = [];
    ahead.plan(BASE, PIECE, reply.binaryMemory);
    ahead.fill(target(kind, reads));
    t.same(reads, [BASE + BigInt(PIECE)], `${kind}: the piece after the one answered is read`);
    const ready = ahead.take(BASE + BigInt(PIECE), PIECE, reply.binaryMemory);
    const expected = frame(Buffer.concat([Buffer.from('b'), escapeBinary(at(BASE + BigInt(PIECE), PIECE))]), false);
    t.same(framedBody(ready), expected, `${kind}: the frame gdb would get from the read itself`);
    t.equal(ahead.take(BASE + BigInt(PIECE), PIECE, reply.binaryMemory), undefined, `${kind}: served once`);
  }
});

t.test('m and LLDB x are framed their own way', async (t) => {
  const ahead = new ReadAhead();
  ahead.plan(BASE, PIECE, reply.memory);
  ahead.fill(target('into'));
  const piece = at(BASE + BigInt(PIECE), PIECE);
  t.same(framedBody(ahead.take(BASE + BigInt(PIECE), PIECE, reply.memory)), frame(Buffer.from(piece.toString('hex')), false), 'm: hex');
  ahead.plan(BASE, PIECE, reply.lldbBinaryMemory);
  ahead.fill(target('into'));
  t.same(framedBody(ahead.take(BASE + BigInt(PIECE), PIECE, reply.lldbBinaryMemory)), frame(escapeBinary(piece), false), 'LLDB: no b');
});

t.test('a piece is served only to the read it was made for', async (t) => {
  const ahead = new ReadAhead();
  const next = BASE + BigInt(PIECE);
  ahead.plan(BASE, PIECE, reply.binaryMemory);
  ahead.fill(target('into'));
  t.equal(ahead.take(next, PIECE, reply.memory), undefined, 'an m read of the same range gets no x reply');
  ahead.plan(BASE, PIECE, reply.binaryMemory);
  ahead.fill(target('into'));
  t.equal(ahead.take(next, PIECE / 2, reply.binaryMemory), undefined, 'nor a shorter read');
  ahead.plan(BASE, PIECE, reply.binaryMemory);
  ahead.fill(target('into'));
  ahead.drop();
  t.equal(ahead.take(next, PIECE, reply.binaryMemory), undefined, 'nor any read after another packet');
});

t.test('nothing is read ahead past the memory, nor from a target that reads asynchronously', async (t) => {
  const ahead = new ReadAhead();
  const last = BASE + BigInt(3 * PIECE);
  ahead.plan(last, PIECE, reply.binaryMemory);
  ahead.fill(target('into'));
  t.equal(ahead.take(last + BigInt(PIECE), PIECE, reply.binaryMemory), undefined, 'a short read is not kept');
  ahead.plan(BASE, PIECE, reply.binaryMemory);
  ahead.fill(target('async'));
  t.equal(ahead.take(BASE + BigInt(PIECE), PIECE, reply.binaryMemory), undefined, 'asynchronous: not read ahead');
});
