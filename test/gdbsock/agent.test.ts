import t from 'tap';
import { AgentError, evaluate } from '../../lib/gdbsock/agent';

const ctx = {
  register: (n: number) => BigInt(n * 10),
  memory: (address: bigint, size: number) => {
    if (address !== 0x1000n) throw new RangeError('unreadable');
    return size === 8 ? 0x1122334455667788n : 0x88n;
  },
};
const run = (...bytes: number[]) => evaluate(Buffer.from(bytes), ctx);

t.test('what gdb compiles for `if i == 100000`, and arithmetic', async (t) => {
  // reg 5; ext 64; const32 100000; equal; end
  t.equal(run(0x26, 0x00, 0x05, 0x16, 0x40, 0x24, 0x00, 0x01, 0x86, 0xa0, 0x13, 0x27), 0n, 'rdi (50) is not 100000');
  t.equal(run(0x26, 0x00, 0x05, 0x22, 50, 0x13, 0x27), 1n, 'register 5 is 50');
  t.equal(run(0x22, 7, 0x22, 3, 0x03, 0x27), 4n, 'sub');
  t.equal(run(0x22, 3, 0x22, 7, 0x14, 0x27), 1n, 'less_signed');
  t.equal(run(0x22, 0xff, 0x16, 8, 0x27), BigInt.asUintN(64, -1n), 'ext 8 sign-extends');
  t.equal(run(0x25, 0, 0, 0, 0, 0, 0, 0x10, 0x00, 0x1a, 0x27), 0x1122334455667788n, 'ref64 reads memory');
  t.equal(run(0x22, 0, 0x20, 0x00, 0x07, 0x22, 1, 0x27, 0x22, 2, 0x27), 1n, 'if_goto not taken falls through');
});

t.test('hostile bytecode: an error, never a hang or a crash', async (t) => {
  t.throws(() => run(0x21, 0x00, 0x00), AgentError, 'goto self: too many steps');
  t.throws(() => run(0x02, 0x27), /stack underflow/);
  t.throws(() => run(0x22), /operand past the end/);
  t.throws(() => run(0xff), /unsupported bytecode 0xff/);
  t.throws(() => run(0x22, 1, 0x22, 0, 0x05, 0x27), /division by zero/);
  t.throws(() => run(0x22, 1), /ran off the end/);
  t.throws(() => run(0x22, 5, 0x17, 0x27), /unreadable/, 'unreadable memory surfaces (the target then lets gdb decide)');
});
