/**
 * Serving as gdbserver does, checked against gdbserver 13.1 started with the
 * same command line: --multi serving a new gdb after a kill, R (restart)
 * with the program's arguments, SIGTERM killing a program gdbsock launched
 * (and letting go of one it attached to), and packets that need a process
 * when there is none, `monitor exit` answering nothing after its OK, and
 * gdb's P refused (gdb then writes registers with G).
 */
import fs from 'node:fs';
import t, { type Test } from 'tap';
import { eventually, fixture, startDetached } from '../helpers';
import { type Listening, requireTool, rspClient, runGdb, startGdbsock, startGdbsockAsGdbserver, startListening } from './gdb';

requireTool('gdb');
requireTool('gdbserver');
const program = fixture('gdbsock');
const showargs = fixture('showargs');
const SERVERS = ['gdbsock', 'gdbserver'] as const;
type ServerName = (typeof SERVERS)[number];

/** gdbsock or gdbserver with the same (gdbserver) command line; resolves at "Listening on port N". */
async function start(t: Test, server: ServerName, args: string[]): Promise<Listening> {
  const started = server === 'gdbsock' ? await startGdbsockAsGdbserver(args) : await startListening('gdbserver', 'gdbserver', args);
  const { proc } = started;
  t.teardown(() => void (proc.exitCode === null && proc.signalCode === null && proc.kill('SIGKILL')));
  return started;
}

/**
 * A client that speaks to `server` as gdb does (qRelocInsn+ is gdb's), with a
 * program launched stopped at its first instruction: its registers (`g`) then,
 * and `end` to kill it.
 */
async function stoppedAsGdb(t: Test, server: ServerName) {
  const s = await start(t, server, ['--once', '127.0.0.1:0', program, 'sleep']);
  const c = await rspClient(s.target);
  t.teardown(c.close);
  t.equal(await c.ask('QStartNoAckMode'), 'OK');
  await c.ask('qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+;vContSupported+');
  t.match(await c.ask('?'), /^T05/, 'stopped at its first instruction');
  const before = await c.ask('g');
  const end = async () => {
    const pid = /p([0-9a-f]+)\./.exec(await c.ask('qC'))![1];
    await c.ask(`vKill;${pid}`);
  };
  return { c, before, end };
}

/** A process's state letter, or undefined once it is gone. */
function stateOf(pid: number): string | undefined {
  try {
    return / \) ?([A-Za-z]) /.exec(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\)/, ' )'))?.[1];
  } catch {
    return undefined;
  }
}

for (const server of SERVERS) {
  t.test(`${server} --multi: after gdb kills the program, the next gdb runs it again`, async (t) => {
    const s = await start(t, server, ['--multi', '127.0.0.1:0']);
    const first = await runGdb(`target extended-remote ${s.target}`, [`set remote exec-file ${program}`, 'break main', 'run', 'kill'], { file: program });
    t.match(first, /Breakpoint 1, main/, 'the first gdb ran it to main');
    t.match(first, /\[Inferior 1 \(process \d+\) killed\]/, 'and killed it');
    // No exec-file this time: gdb sends vRun with an empty name, meaning the program run last.
    const second = await runGdb(`target extended-remote ${s.target}`, ['run', 'monitor exit'], { file: program });
    t.match(second, /\[Inferior 1 \(process \d+\) exited normally\]/, `the second gdb ran it: ${second}`);
    await s.exited;
  });

  t.test(`${server}: monitor exit's OK is the last answer: a packet gdb sends behind it gets none`, async (t) => {
    const s = await start(t, server, ['--once', '127.0.0.1:0', program, 'sleep']);
    const c = await rspClient(s.target);
    c.socket.on('error', () => {}); // the server may be gone (a reset) when the packet behind arrives
    t.teardown(c.close);
    t.equal(await c.ask('QStartNoAckMode'), 'OK');
    await c.ask('qSupported:multiprocess+');
    t.equal(await c.ask('qRcmd,65786974'), 'OK', 'monitor exit: OK');
    c.send('qC');
    await s.exited;
    await new Promise((resolve) => setTimeout(resolve, 50)); // anything still in flight arrives
    t.same(c.unread(), [], 'no answer to the packet sent after it');
  });

  t.test(`${server}: gdb's P gets the empty reply, so gdb writes registers with G, which holds`, async (t) => {
    const { c, before, end } = await stoppedAsGdb(t, server);
    t.equal(await c.ask('P1=efbeadde00000000'), '', 'P: not supported');
    t.equal(await c.ask('g'), before, 'and nothing was written');
    // rbx (register 1) is the second of the g block: bytes 8-15.
    const after = `${before.slice(0, 16)}efbeadde00000000${before.slice(32)}`;
    t.equal(await c.ask(`G${after}`), 'OK', 'G: OK');
    t.equal(await c.ask('g'), after, 'G wrote rbx and kept every other register');
    await end();
  });

  t.test(`${server}: G that changes a general and a vector register writes both; the same G again changes nothing`, async (t) => {
    const { c, before, end } = await stoppedAsGdb(t, server);
    // Bytes of the g block: rcx at 16, xmm0 at 276 (after 17 words, eflags, six selectors, st0-7, eight x87 words).
    const rcx = '0123456789abcdef';
    const xmm0 = '00112233445566778899aabbccddeeff';
    const after = `${before.slice(0, 32)}${rcx}${before.slice(48, 552)}${xmm0}${before.slice(584)}`;
    t.equal(await c.ask(`G${after}`), 'OK');
    t.equal(await c.ask('g'), after, 'g shows both, and every other register as it was');
    t.equal(await c.ask(`G${after}`), 'OK', 'the same G again: OK');
    t.equal(await c.ask('g'), after, 'and nothing moved');
    await end();
  });

  t.test(`${server}: R (restart) runs the program again with its command-line arguments`, async (t) => {
    const s = await start(t, server, ['--once', '127.0.0.1:0', showargs, 'one', 'two words']);
    const out = await runGdb(`target extended-remote ${s.target}`, ['set remote run-packet off', 'run'], { file: showargs });
    t.match(out, /exited normally/, out);
    await s.exited;
    t.match(s.output(), /argc=3\narg1=one\narg2=two words\n/, `the arguments it was started with: ${s.output()}`);
  });

  t.test(`${server} --multi: R after vRun runs the program with vRun's arguments`, async (t) => {
    const s = await start(t, server, ['--multi', '127.0.0.1:0']);
    const out = await runGdb(
      `target extended-remote ${s.target}`,
      [`set remote exec-file ${showargs}`, 'run alpha beta', 'set remote exec-file', 'set args', 'set remote run-packet off', 'run', 'monitor exit'],
      { file: showargs },
    );
    t.equal(out.match(/exited normally/g)?.length, 2, out);
    await s.exited;
    t.equal(s.output().match(/argc=3\narg1=alpha\narg2=beta\n/g)?.length, 2, `both runs had vRun's arguments: ${s.output()}`);
  });

  t.test(`${server}: SIGTERM kills a program it launched`, async (t) => {
    // `sleep`: it would run on for a minute if let go.
    const s = await start(t, server, ['127.0.0.1:0', program, 'sleep']);
    const pid = Number(/pid = (\d+)/.exec(s.output())?.[1]);
    t.ok(pid > 0, 'launched');
    t.teardown(() => killIfAlive(pid));
    s.proc.kill('SIGTERM');
    await s.exited;
    // The kill may land just after the server is gone (PTRACE_O_EXITKILL).
    await eventually(() => stateOf(pid) === undefined || stateOf(pid) === 'Z', `program ${pid} to die`, 10000);
    t.pass(`program ${pid} dead`);
  });

  if (server === 'gdbsock') {
    t.test("gdbsock's own form: SIGTERM kills a program it launched", async (t) => {
      const s = await startGdbsock(['--listen', '127.0.0.1:0', '--', program, 'sleep']);
      t.teardown(() => killIfAlive(s.pid));
      s.proc.kill('SIGTERM');
      await s.exited;
      await eventually(() => stateOf(s.pid) === undefined || stateOf(s.pid) === 'Z', `program ${s.pid} to die`, 10000);
      t.pass('dead');
    });
  }

  t.test(`${server}: SIGTERM lets a process it attached to go, running`, async (t) => {
    const target = await startDetached(program, ['sleep']);
    t.teardown(() => target.kill());
    const s = await start(t, server, ['--attach', '127.0.0.1:0', String(target.pid)]);
    s.proc.kill('SIGTERM');
    await s.exited;
    t.match(fs.readFileSync(`/proc/${target.pid}/status`, 'utf8'), /^TracerPid:\s+0$/m, 'untraced');
    t.match(stateOf(target.pid) ?? 'gone', /^[SR]$/, 'alive, not stopped');
  });
}

t.test("gdbsock: after G, g answers the general registers as the kernel took them (eflags' bit 1 always reads 1)", async (t) => {
  const { c, before, end } = await stoppedAsGdb(t, 'gdbsock');
  // eflags: bytes 136-139 of the g block, little-endian. Oracle: the architecture (bit 1 is reserved as 1).
  t.equal(await c.ask(`G${before.slice(0, 272)}00000000${before.slice(280)}`), 'OK');
  const eflags = Buffer.from((await c.ask('g')).slice(272, 280), 'hex').readUInt32LE(0);
  t.equal(eflags & 2, 2, `eflags 0x${eflags.toString(16)}: bit 1 set`);
  t.equal((await c.ask('g')).slice(280), before.slice(280), 'the registers after it as they were');
  await end();
});

t.test('no process (--multi): qXfer:threads:read is an empty thread list, as from gdbserver, and the session goes on', async (t) => {
  const answers: Record<string, string[]> = {};
  // qfThreadInfo and qAttached differ (gdbserver: E01; gdbsock: an empty list, not attached): gdb takes either.
  const packets = ['qXfer:threads:read::0,fff', 'qC', '?', 'qXfer:auxv:read::0,fff', 'qXfer:exec-file:read::0,fff'];
  for (const server of SERVERS) {
    const s = await start(t, server, ['--once', '--multi', '127.0.0.1:0']);
    const c = await rspClient(s.target);
    try {
      await c.ask('QStartNoAckMode');
      await c.ask('qSupported:multiprocess+;swbreak+;hwbreak+');
      await c.ask('!');
      answers[server] = [];
      for (const p of packets) answers[server]!.push(`${p} -> ${threadRows(await c.ask(p))}`);
      answers[server]!.push(`vRun -> ${(await c.ask(`vRun;${Buffer.from(program).toString('hex')}`)).slice(0, 3)}`);
      answers[server]!.push(`threads after vRun -> ${(await c.ask('qXfer:threads:read::0,fff')).match(/<thread /g)?.length}`);
    } finally {
      c.close();
      s.proc.kill('SIGTERM');
      await s.exited;
    }
  }
  t.match(answers.gdbsock![0], /-> l<threads><\/threads>$/, 'an empty list, complete at once');
  t.same(answers.gdbsock, answers.gdbserver, JSON.stringify(answers, null, 1));
});

/** A qXfer:threads reply as its threads: no XML declaration, no line breaks. */
function threadRows(reply: string): string {
  return reply.replace(/<\?xml[^>]*\?>/, '').replace(/\n/g, '');
}

/** Cleanup after a failed check: the program this test launched, if it is still there. */
function killIfAlive(pid: number): void {
  if (stateOf(pid) === undefined) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {}
}
