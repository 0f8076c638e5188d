import t from 'tap';
import { AgentError, evaluate } from '../../lib/gdbsock/agent';
import { formatAgentPrintf } from '../../lib/gdbsock/agent-printf';

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

t.test('printf (dprintf-style agent): pops function, channel, then the arguments, first on top', async (t) => {
  const printed: [string, bigint[]][] = [];
  const withPrintf = { ...ctx, printf: (format: string, args: bigint[]) => void printed.push([format, args]) };
  const format = Buffer.from('x=%d y=%d\\n\0', 'latin1');
  // const8 2 (y); const8 1 (x); const8 0 (channel); const8 0 (function); printf 2 "..."; end
  const code = Buffer.concat([Buffer.from([0x22, 2, 0x22, 1, 0x22, 0, 0x22, 0, 0x34, 2, 0, format.length]), format, Buffer.from([0x27])]);
  evaluate(code, withPrintf);
  t.same(printed, [['x=%d y=%d\\n', [1n, 2n]]], 'the format without its NUL, escapes as written, arguments in order');
  t.throws(() => evaluate(code, ctx), /printf where nothing prints/, 'not in a condition');
  t.throws(() => evaluate(Buffer.from([0x22, 0, 0x22, 0, 0x34, 3, 0, 1, 0, 0x27]), withPrintf), /stack underflow/, 'more arguments than the stack holds');
  t.throws(() => evaluate(Buffer.from([0x22, 0, 0x22, 0, 0x34, 0, 0x10, 0]), withPrintf), /format past the end/);
});

t.test('formatAgentPrintf: C conversions on 64-bit values, strings read from the program', async (t) => {
  const memory = new Map<bigint, string>([[0x1000n, 'hello\0junk']]);
  const read = (address: bigint, max: number) => Buffer.from((memory.get(address) ?? '').slice(0, max), 'latin1');
  const f = (format: string, ...args: bigint[]) => formatAgentPrintf(format, args, read);
  t.equal(f('%d|%u|%x', -1n, -1n, -1n), '-1|4294967295|ffffffff', 'int conversions take the low 32 bits');
  t.equal(f('%ld|%lu|%lx|%llX', -1n, -1n, 255n, 255n), '-1|18446744073709551615|ff|FF');
  t.equal(f('%5d|%-5d|%05d|%+d|% d|%.3d', 42n, 42n, -42n, 7n, 7n, 5n), '   42|42   |-0042|+7| 7|005');
  t.equal(f('%#x|%#o|%o|%#X', 255n, 8n, 8n, 255n), '0xff|010|10|0XFF');
  t.equal(f('%s|%.3s|%8s|%-7s|', 0x1000n, 0x1000n, 0x1000n, 0x1000n), 'hello|hel|   hello|hello  |');
  t.equal(f('%s %p %p', 0n, 0n, 0x7fffn), '(null) (nil) 0x7fff');
  t.equal(f('%c%c 100%%\\t\\"q\\"\\n', 0x61n, 0x162n), 'ab 100%\t"q"\n', "a char is its low byte; escapes are C's");
  t.throws(() => f('%d %d', 1n), AgentError, 'more conversions than arguments');
  t.throws(() => f('\\q'), /unknown escape/);
  t.throws(() => f('%k', 1n), /bad conversion/);
});

t.test('the trace bytecodes collect through the context, and are no-ops where nothing collects', async (t) => {
  const collected: [bigint, number, boolean][] = [];
  const values = new Map<number, bigint>([[1, 5n]]);
  const recorded: number[] = [];
  const tracing = {
    ...ctx,
    collect: (address: bigint, size: number, untilNul: boolean) => void collected.push([address, size, untilNul]),
    variables: {
      get: (n: number) => values.get(n) ?? 0n,
      set: (n: number, v: bigint) => void values.set(n, v),
      collect: (n: number) => void recorded.push(n),
    },
  };
  const trace = (...bytes: number[]) => evaluate(Buffer.from(bytes), tracing);
  // const16 0x1000; const8 8; trace; const8 0; end
  t.equal(trace(0x23, 0x10, 0x00, 0x22, 8, 0x0c, 0x22, 0, 0x27), 0n, 'trace pops address and size');
  // const16 0x2000; trace_quick 4; end: the address stays
  t.equal(trace(0x23, 0x20, 0x00, 0x0d, 4, 0x27), 0x2000n, 'trace_quick leaves the address');
  // const16 0x3000; trace16 0x0100; end
  t.equal(trace(0x23, 0x30, 0x00, 0x30, 0x01, 0x00, 0x27), 0x3000n, 'trace16 leaves the address');
  // const16 0x4000; const8 32; tracenz; const8 1; end
  t.equal(trace(0x23, 0x40, 0x00, 0x22, 32, 0x2f, 0x22, 1, 0x27), 1n);
  t.same(collected, [
    [0x1000n, 8, false],
    [0x2000n, 4, false],
    [0x3000n, 0x100, false],
    [0x4000n, 32, true],
  ]);
  // getv 1; const8 1; add; setv 1; tracev 1; end: $v = $v + 1, recorded
  t.equal(trace(0x2c, 0, 1, 0x22, 1, 0x02, 0x2d, 0, 1, 0x2e, 0, 1, 0x27), 6n, 'setv leaves the value');
  t.equal(values.get(1), 6n, 'and set the variable');
  t.same(recorded, [1], 'tracev recorded it');
  t.equal(run(0x23, 0x10, 0x00, 0x0d, 4, 0x27), 0x1000n, 'in a condition trace_quick only keeps the address');
  t.throws(() => run(0x2c, 0, 1, 0x27), /trace state variables outside a tracepoint/);
  t.throws(() => trace(0x0d, 4, 0x27), /stack underflow/, 'trace_quick on an empty stack');
});
