/**
 * gdbsock on a host whose debug registers are taken and never fire (a PVM
 * guest: DR0..DR7 go in through PTRACE_POKEUSER and no #DB ever comes). There
 * gdbserver accepts every hardware breakpoint and watchpoint and none ever
 * stops the program: it is not the anchor here. Oracles: the probe's answer
 * (itself checked against a raw DR0 breakpoint in test/ptrace/registers.test.ts)
 * for what must be taken or refused, and the values the program stores
 * (stops.c, `watch`: watched_a = 1, 2, 3) for what a watchpoint must report.
 * Where the debug registers fire, the same packets must be taken; the hardware
 * path itself is the other watchpoint tests'.
 */
import t from 'tap';
import { probeDebugRegisters } from '../../lib/ptrace';
import { fixture, symbol } from '../helpers';
import { requireTool, rspClient, runGdb, startGdbsock } from './gdb';

requireTool('gdb');
const stops = fixture('stops');
const { fire } = probeDebugRegisters();
t.comment(`this host's debug registers ${fire ? 'fire' : 'do not fire'}`);

const WARNING = /gdbsock: warning: this host's debug registers do not fire .*'set can-use-hw-watchpoints 0'/g;

t.test('Z1, Z2 and Z4 are taken where the debug registers fire and refused (empty) where they do not; Z3 never; one warning', async (t) => {
  const s = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', stops, 'watch']);
  const c = await rspClient(s.target);
  try {
    await c.ask('QStartNoAckMode');
    await c.ask('?');
    const watched = symbol(stops, 'watched_a').toString(16);
    const main = symbol(stops, 'main').toString(16);
    const taken = fire ? 'OK' : '';
    t.equal(await c.ask(`Z1,${main},1`), taken, 'Z1');
    t.equal(await c.ask(`Z2,${watched},4`), taken, 'Z2');
    t.equal(await c.ask(`Z3,${watched},4`), '', 'Z3: x86 has no read-only watchpoints');
    t.equal(await c.ask(`Z4,${watched},4`), taken, 'Z4');
  } finally {
    c.close();
    await s.stop();
  }
  t.equal((s.stderr().match(WARNING) ?? []).length, fire ? 0 : 1, 'a warning where they do not fire, once');
});

/** gdb's watchpoint reports, in order: "Old value = A\nNew value = B" as [A, B]. */
const changes = (out: string) => [...out.matchAll(/Old value = (\d+)\s+New value = (\d+)/g)].map((m) => [Number(m[1]), Number(m[2])]);

t.test('where they do not fire, gdb is told it could not insert a hardware watchpoint instead of never hearing of a hit', async (t) => {
  if (fire) return void t.comment('they fire here: the hardware watchpoints are the other tests');
  const s = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', stops, 'watch']);
  try {
    const out = await runGdb(
      `target extended-remote ${s.target}`,
      ['set sysroot /', 'break main', 'continue', 'watch watched_a', 'continue', 'print watched_a'],
      {
        file: stops,
      },
    );
    t.match(out, /Could not insert hardware watchpoint 2/, out);
    t.match(out, /\$1 = 0/, 'and the program did not run on');
  } finally {
    await s.stop();
  }
});

t.test("gdb's software watchpoints (can-use-hw-watchpoints 0) see each store, on any host", async (t) => {
  const s = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', stops, 'watch']);
  try {
    const out = await runGdb(
      `target extended-remote ${s.target}`,
      ['set sysroot /', 'set can-use-hw-watchpoints 0', 'break main', 'continue', 'watch watched_a', 'continue', 'continue', 'continue'],
      { file: stops },
    );
    t.match(out, /^Watchpoint 2: watched_a$/m, 'a software watchpoint');
    t.same(changes(out), [
      [0, 1],
      [1, 2],
      [2, 3],
    ]);
    t.equal((s.stderr().match(WARNING) ?? []).length, 0, 'and nothing to warn of');
  } finally {
    await s.stop();
  }
});
