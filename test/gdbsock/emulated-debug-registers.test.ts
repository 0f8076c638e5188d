/**
 * gdb's hardware breakpoints and write watchpoints through gdbsock on every
 * host, including one whose debug registers are taken and never fire (a PVM
 * guest: DR0..DR7 go in through PTRACE_POKEUSER and no #DB ever comes). There
 * gdbsock keeps a hardware breakpoint as an int3 reported as `hwbreak`, and
 * watches a write watchpoint by stepping each thread it runs; gdbserver
 * accepts both and never stops, so it is no anchor. Oracles: the values the
 * program stores (stops.c), gdb's own software watchpoints over the same
 * session, and the probe (checked against a raw DR0 breakpoint in
 * test/ptrace/registers.test.ts) for what must be taken or refused. Where the
 * debug registers fire, the same tests check the hardware path.
 */
import t from 'tap';
import { probeDebugRegisters } from '../../lib/ptrace';
import { fixture, sourceLine, symbol } from '../helpers';
import { requireTool, rspClient, runGdb, startGdbsock } from './gdb';

requireTool('gdb');
const stops = fixture('stops');
const spinLine = fixture('spin-line');
const { fire } = probeDebugRegisters();
t.comment(`this host's debug registers ${fire ? 'fire' : 'do not fire: gdbsock emulates them'}`);

const WARNING = /gdbsock: warning:/g;
const hex = (n: bigint) => n.toString(16);
const lineOf = (marker: string) => sourceLine('stops.c', `stops: ${marker} */`);

async function withGdbsock<T>(argv: string[], use: (target: string) => Promise<T>): Promise<{ result: T; stderr: string }> {
  const s = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', ...argv]);
  try {
    const result = await use(s.target);
    return { result, stderr: s.stderr() };
  } finally {
    await s.stop();
  }
}

/** gdb's watchpoint reports, in order: "Old value = A\nNew value = B" as [A, B]. */
const changes = (out: string) => [...out.matchAll(/Old value = (\d+)\s+New value = (\d+)/g)].map((m) => [Number(m[1]), Number(m[2])]);

t.test('Z1, Z2 and Z4 are taken on every host; Z3 never (x86 has no read-only watchpoints); nothing to warn of', async (t) => {
  const { stderr } = await withGdbsock([stops, 'watch'], async (target) => {
    const c = await rspClient(target);
    try {
      await c.ask('QStartNoAckMode');
      await c.ask('?');
      const watched = hex(symbol(stops, 'watched_a'));
      t.equal(await c.ask(`Z1,${hex(symbol(stops, 'main'))},1`), 'OK', 'Z1');
      t.equal(await c.ask(`Z2,${watched},4`), 'OK', 'Z2');
      t.equal(await c.ask(`Z3,${watched},4`), '', 'Z3: x86 has no read-only watchpoints');
      t.equal(await c.ask(`Z4,${watched},4`), 'OK', 'Z4');
      t.equal(await c.ask(`Z4,${watched},4`), 'OK', 'Z4 again');
      t.equal(await c.ask(`z4,${watched},4`), 'OK', 'z4');
      // A debug register takes any address (gdb.base/hbreak-unmapped.exp): so does the emulation, placing it once mapped.
      t.equal(await c.ask('Z1,0,1'), 'OK', 'Z1 where nothing is mapped');
      t.equal(await c.ask('z1,0,1'), 'OK', 'and out again');
      t.equal(await c.ask('Z1,0,1'), 'OK', 'in again, left in while the program runs');
      t.equal(await c.ask(`z2,${watched},4`), 'OK');
      t.match(await c.ask('vCont;c'), /^T05.*hwbreak:/, 'the program runs on to main');
    } finally {
      c.close();
    }
  });
  t.equal((stderr.match(WARNING) ?? []).length, 0, 'no warning');
});

/**
 * gdb's `awatch` and `rwatch` (Z4: gdb filters reads itself). Oracle: the
 * program's loads and stores, in order (stops.c `watch`): each round stores
 * watched_a, then loads it to store watched_b; printf loads both. Where the
 * debug registers do not fire, each instruction's operands are decoded
 * before it is stepped (InstructionTable); a stop comes after the access,
 * as the CPU reports it.
 */
t.test("gdb's `awatch` and `rwatch` stop at each load and store of their variable, and at nothing else", async (t) => {
  const { result: out } = await withGdbsock([stops, 'watch'], (target) =>
    runGdb(
      `target extended-remote ${target}`,
      ['set sysroot /', 'break main', 'continue', 'awatch watched_a', 'rwatch watched_b', ...Array(10).fill('continue')],
      { file: stops },
    ),
  );
  const reports = [...out.matchAll(/(?:Old value = (\d+)\s+New value = (\d+)|Value = (\d+))[\s\S]*?\n(\d+)\t/g)].map((m) =>
    m[3] === undefined ? `write ${m[1]}->${m[2]} line ${m[4]}` : `read ${m[3]} line ${m[4]}`,
  );
  const writeB = String(lineOf('write b'));
  const print = String(lineOf('print'));
  t.same(
    reports,
    [
      `write 0->1 line ${writeB}`,
      `read 1 line ${writeB}`,
      `write 1->2 line ${writeB}`,
      `read 2 line ${writeB}`,
      `write 2->3 line ${writeB}`,
      `read 3 line ${writeB}`,
      `read 3 line ${print}`,
      `read 3 line ${print}`,
    ],
    out,
  );
  t.match(out, /Hardware access \(read\/write\) watchpoint 2: watched_a/);
  t.match(out, /Hardware read watchpoint 3: watched_b\s+Value = 3/, 'watched_b: only its load in printf (gdb drops its stores)');
  t.match(out, /exited normally/);
});

t.test("gdb's `watch` and `hbreak` stop at each store and at the function, as the program stores 1, 2, 3", async (t) => {
  const { result: out } = await withGdbsock([stops, 'watch'], (target) =>
    runGdb(
      `target extended-remote ${target}`,
      ['set sysroot /', 'break main', 'continue', 'watch watched_a', 'hbreak after_watch', 'continue', 'continue', 'continue', 'continue', 'continue'],
      { file: stops },
    ),
  );
  t.match(out, /^Hardware watchpoint 2: watched_a$/m, out);
  t.same(changes(out), [
    [0, 1],
    [1, 2],
    [2, 3],
  ]);
  t.match(out, /Breakpoint 3, after_watch \(\)/, 'the hardware breakpoint');
  t.match(out, /exited normally/);
});

/**
 * Writes only (every host takes them): a continue, range steps over stores,
 * stepi, and gdb's step over a breakpoint whose instruction is the store
 * (touch_both's first: watched_pair[0] = 1).
 */
const WRITES = [
  'set sysroot /',
  'break main',
  'continue',
  'watch watched_a',
  'watch watched_pair[0]',
  'break *touch_both',
  'continue',
  'next',
  'next',
  'next',
  'stepi',
  'stepi',
  'continue', // to the breakpoint
  'continue', // gdb steps over it, and that step is the store
  'continue',
];

/** gdb's output with what differs between a hardware and a software watchpoint's session taken out. */
const comparable = (out: string) =>
  out
    .split('\n')
    .filter((l) => !/^Reading |process \d+|^warning: |^Software watchpoints|^Continuing\.$/.test(l))
    .join('\n')
    .replace(/Hardware watchpoint/g, 'Watchpoint')
    .replace(/0x0*[0-9a-f]{6,}/g, 'ADDR');

t.test("write watchpoints hit by continues, range steps, steps and steps over a breakpoint: as gdb's software watchpoints see them", async (t) => {
  t.setTimeout(120000);
  const session = (software: boolean) =>
    withGdbsock([stops, 'watch'], (target) =>
      runGdb(`target extended-remote ${target}`, software ? ['set can-use-hw-watchpoints 0', ...WRITES] : WRITES, { file: stops, timeout: 60000 }),
    );
  const ours = (await session(false)).result;
  const softwares = (await session(true)).result;
  t.match(ours, /Hardware watchpoint 2: watched_a\s+Old value = 0\s+New value = 1/, 'the first store');
  t.match(ours, /Breakpoint 4, touch_both \(\)[\s\S]*Hardware watchpoint 3: watched_pair\[0\]\s+Old value = 0\s+New value = 1/, 'the step over the breakpoint');
  t.equal(comparable(ours), comparable(softwares), "the same session as with gdb's software watchpoints");
});

t.test('a watched store after a blocking system call (usleep) still stops the program', async (t) => {
  const { result: out } = await withGdbsock([stops, 'nap'], (target) =>
    runGdb(`target extended-remote ${target}`, ['set sysroot /', 'break main', 'continue', 'watch watched_a', 'continue', 'continue'], {
      file: stops,
    }),
  );
  t.same(changes(out), [[0, 7]], out);
  t.match(out, /exited normally/);
});

t.test('a store in a signal handler gdb passes silently stops the program there', async (t) => {
  // The step that delivers the signal stops at the handler's first instruction (si_code SIGTRAP): a step like any.
  const { result: out } = await withGdbsock([stops, 'handler'], (target) =>
    runGdb(
      `target extended-remote ${target}`,
      ['set sysroot /', 'handle SIGUSR1 nostop noprint pass', 'break main', 'continue', 'watch watched_b', 'continue', 'continue'],
      { file: stops },
    ),
  );
  t.same(changes(out), [[0, 5]], out);
  t.match(out, /on_usr1 \(sig=/, 'in the handler');
  t.notMatch(out, /SIGTRAP/, 'no trap gdb never asked for');
  t.match(out, /exited normally/);
});

t.test("gdb's Ctrl-C stops a program run for a watchpoint nothing writes (RSP)", async (t) => {
  await withGdbsock([spinLine], async (target) => {
    const c = await rspClient(target);
    try {
      await c.ask('QStartNoAckMode');
      // qC: QCpPID.TID with multiprocess, else QCTID (the leader's tid is the pid).
      const pid = /^QC(?:p([0-9a-f]+)\.|)([0-9a-f]+)/
        .exec(await c.ask('qC'))!
        .slice(1)
        .find(Boolean)!;
      await c.ask('?');
      t.equal(await c.ask(`Z2,${hex(symbol(spinLine, 'never_written'))},8`), 'OK');
      c.send('vCont;c');
      await new Promise((r) => setTimeout(r, 300));
      t.same(c.unread(), [], 'it runs: nothing written, no stop');
      c.interrupt();
      t.match(await c.next(10000, 'the stop for the Ctrl-C'), /^T02/, 'SIGINT, as for any Ctrl-C');
      t.equal(await c.ask(`vKill;${pid}`), 'OK');
    } finally {
      c.close();
    }
  });
});

t.test('a hardware breakpoint is reported as one (hwbreak), and out again the program runs to its end (RSP)', async (t) => {
  await withGdbsock([stops, 'watch'], async (target) => {
    const c = await rspClient(target);
    try {
      await c.ask('QStartNoAckMode');
      await c.ask('qSupported:multiprocess+;swbreak+;hwbreak+');
      await c.ask('?');
      const at = hex(symbol(stops, 'after_watch'));
      const original = await c.ask(`m${at},1`);
      t.equal(await c.ask(`Z1,${at},1`), 'OK');
      const stop = await c.ask('vCont;c');
      t.match(stop, /^T05.*hwbreak:;/, stop);
      const pc = Buffer.from(await c.ask('p10'), 'hex').readBigUInt64LE();
      t.equal(hex(pc), at, 'the pc is the breakpoint');
      t.equal(await c.ask(`m${at},1`), original, "memory shows the program's byte, not an int3");
      t.equal(await c.ask(`z1,${at},1`), 'OK');
      t.match(await c.ask('vCont;c'), /^W00/, 'runs to its end');
    } finally {
      c.close();
    }
  });
});

t.test("gdb's software watchpoints (can-use-hw-watchpoints 0) see each store, on any host", async (t) => {
  const { result: out, stderr } = await withGdbsock([stops, 'watch'], (target) =>
    runGdb(
      `target extended-remote ${target}`,
      ['set sysroot /', 'set can-use-hw-watchpoints 0', 'break main', 'continue', 'watch watched_a', 'continue', 'continue', 'continue'],
      { file: stops },
    ),
  );
  t.match(out, /^Watchpoint 2: watched_a$/m, 'a software watchpoint');
  t.same(changes(out), [
    [0, 1],
    [1, 2],
    [2, 3],
  ]);
  t.equal((stderr.match(WARNING) ?? []).length, 0, 'and nothing to warn of');
});

/**
 * Operands an instruction names only implicitly or in vector form. Oracle:
 * the program (stops.c `copy`) stores copy_src[40] once, then reads it
 * with libc's memcpy (vector loads: AVX2 or AVX-512 by
 * CPU) and once with a `rep movsq` of its own: each `rep` iteration is a
 * step of its own, so the stop comes in the iteration that read it, with
 * the pc still on the instruction where it is emulated.
 */
t.test('`awatch` sees a libc vector load and one iteration of a rep movsq', async (t) => {
  const { result: out } = await withGdbsock([stops, 'copy'], (target) =>
    runGdb(`target extended-remote ${target}`, ['set sysroot /', 'break main', 'continue', 'awatch copy_src[40]', ...Array(6).fill('continue')], {
      file: stops,
    }),
  );
  const reports = [...out.matchAll(/(?:Old value = (\d+)\s+New value = (\d+)|Value = (\d+))\n(.*)/g)].map((m) => ({
    value: m[3] ?? `${m[1]}->${m[2]}`,
    frame: m[4]!,
  }));
  t.equal(reports[0]?.value, '0->40', 'the store');
  // memcpy's vector loads may overlap (its head and tail): a load or two, each an access.
  const inMemcpy = reports.slice(1, -1);
  t.ok(inMemcpy.length >= 1 && inMemcpy.length <= 2, `one or two loads in libc's memcpy: ${out}`);
  for (const r of inMemcpy) {
    t.match(r.frame, /^(0x[0-9a-f]+ in )?__mem(cpy|move)_\w+ \(/, "a load in libc's memcpy");
    t.equal(r.value, '40');
  }
  // A debug register may report a fast string operation's access a few iterations late, even after its last (Intel SDM vol. 3, 18.3.1.2).
  const rep = lineOf('rep movsq');
  const repLines = fire ? `(${rep}|${rep + 1})` : `${rep}`;
  t.match(reports.at(-1)?.frame ?? '', new RegExp(`stops\\.c:${repLines}$`), 'the rep movsq, last');
  t.equal(reports.at(-1)?.value, '40');
  t.match(out, /exited normally/);
});
