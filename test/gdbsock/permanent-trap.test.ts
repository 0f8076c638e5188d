/**
 * A trap instruction of the program's own (gdb's "permanent breakpoint",
 * gdb.base/bp-permanent.exp). gdbserver reports any int3 trap as a software
 * breakpoint with the pc back on the instruction, and gdb does the rest: with
 * a breakpoint of its own there it judges the condition and steps past the
 * instruction itself; without one it shows a SIGTRAP and skips it on
 * `continue`. gdbsock must report it the same way: before, it reported a
 * plain SIGTRAP past the instruction, and a `next` over it stopped there.
 * The anchor is gdbserver, run with the same gdb commands in the same test.
 */
import t, { type Test } from 'tap';
import { fixture, symbol } from '../helpers';
import { requireTool, runGdb, startServer } from './gdb';

requireTool('gdb');
requireTool('gdbserver');
const program = fixture('permanent-trap');
const trapInsn = `0x${symbol(program, 'trap_insn').toString(16)}`;

async function session(kind: 'gdbserver' | 'gdbsock', commands: string[]): Promise<string> {
  const server = await startServer(kind, [program]);
  try {
    return await runGdb(`target remote ${server.target}`, commands, { file: program });
  } finally {
    server.stop();
  }
}

/** What gdb printed, without the lines that differ between servers for no fault of theirs. */
const transcript = (out: string) =>
  out
    .split('\n')
    .filter((l) => !/^(Reading |warning: |Remote debugging|Process |Listening)/.test(l) && !/remote target\.\.\.$/.test(l))
    .join('\n')
    .replace(/process \d+/g, 'process N');

async function both(t: Test, commands: string[]): Promise<string> {
  const anchor = transcript(await session('gdbserver', commands));
  const ours = transcript(await session('gdbsock', commands));
  t.equal(ours, anchor, 'gdb prints the same through gdbsock as through gdbserver');
  return ours;
}

t.test('next steps over a permanent breakpoint whose condition is false', async (t) => {
  const out = await both(t, ['break main', 'continue', `break *${trapInsn}`, 'condition 2 0', 'next', 'next', 'next', 'print counter', 'continue']);
  t.notMatch(out, /SIGTRAP/, "no stop at the program's int3");
  t.match(out, /\$1 = 2/, 'both calls ran past it');
  t.match(out, /exited normally/);
});

t.test('a permanent breakpoint with a true condition stops there, once per pass', async (t) => {
  const out = await both(t, [`break *${trapInsn}`, 'continue', 'print $pc', 'continue', 'print counter', 'continue']);
  t.equal((out.match(/Breakpoint 1, /g) ?? []).length, 2, 'a hit per call');
  t.match(out, new RegExp(`\\$1 = .*${trapInsn}`), 'the pc is on the instruction');
  t.match(out, /\$2 = 1/, 'the second hit comes after the first call finished');
  t.match(out, /exited normally/);
});

t.test('without a breakpoint the trap is a SIGTRAP, and continue goes past it', async (t) => {
  const out = await both(t, ['continue', 'print counter', 'continue', 'print counter', 'continue']);
  t.equal((out.match(/SIGTRAP/g) ?? []).length, 2, 'a SIGTRAP per call');
  t.match(out, /\$1 = 0[\s\S]*\$2 = 1/, 'each stop is at the int3, before the counter went up');
  t.match(out, /exited normally/);
});
