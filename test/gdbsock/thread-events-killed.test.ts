/**
 * A process killed from outside (SIGKILL) while gdb holds it stopped, with
 * QThreadEvents:1 (gdb 16 sends it): the packets gdb then sends, over raw RSP,
 * so that no gdb version is needed to see it. The process's end must be what
 * gdb hears (X09), not a `w` for the thread it steps (gdb 16 then resumed the
 * others and stopped at "Could not read registers"), and packets naming its
 * threads before the end is reported must not fail. Compared with gdbserver.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import t, { type Test } from 'tap';
import { eventually, fixture, procState, startDetached, symbol } from '../helpers';
import { requireTool, rspClient, runGdb, startGdbserver, startGdbsock } from './gdb';

requireTool('gdb');
requireTool('gdbserver');
const threads = fixture('threads');
const loop = fixture('target');
/** Failsafe only: every wait below is for an event, and ends long before this. */
const FAILSAFE_MS = 20000;
const FEATURES = 'qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+;fork-events+;vfork-events+;exec-events+;vContSupported+;QThreadEvents+;no-resumed+';

/** The run-time address of a libc function in process `pid` (libc is position-independent). */
function libcSymbol(pid: number, name: string): bigint {
  const line = fs
    .readFileSync(`/proc/${pid}/maps`, 'utf8')
    .split('\n')
    .find((l) => /\/libc\.so\.6$/.test(l) && / 0+ /.test(l));
  if (!line) throw new Error(`no libc mapping in process ${pid}`);
  const file = line.slice(line.indexOf('/'));
  const out = execFileSync('nm', ['-D', '--defined-only', file], { encoding: 'utf8' });
  const m = new RegExp(`^([0-9a-f]+) [A-Za-z] ${name}(@@\\S+)?$`, 'm').exec(out);
  if (!m) throw new Error(`no ${name} in ${file}`);
  return BigInt(`0x${line.split('-')[0]}`) + BigInt(`0x${m[1]}`);
}

type ServerKind = 'gdbsock' | 'gdbserver';

/** A packet and what the server answered. */
type Exchange = [packet: string, reply: string];

/**
 * A server debugging `program args`, QThreadEvents:1 negotiated: attached to it, started
 * outside this process (it prints "ready PID"), or with `launch`, started by the server.
 */
async function connect(t: Test, kind: ServerKind, program: string, args: string[], launch = false) {
  let pid = 0;
  let serverArgs: string[];
  if (launch) serverArgs = kind === 'gdbsock' ? ['--', program, ...args] : [program, ...args];
  else {
    const target = await startDetached(program, args);
    t.teardown(() => target.kill());
    pid = target.pid;
    serverArgs = kind === 'gdbsock' ? [String(pid)] : ['--attach', String(pid)];
  }
  const server = kind === 'gdbsock' ? await startGdbsock(['--once', '--listen', '127.0.0.1:0', ...serverArgs]) : await startGdbserver(serverArgs);
  t.teardown(() => server.stop());
  const rsp = await rspClient(server.target);
  t.teardown(rsp.close);
  const log: Exchange[] = [];
  const ask = async (packet: string) => {
    const reply = await rsp.ask(packet, FAILSAFE_MS);
    log.push([packet, reply]);
    return reply;
  };
  await ask('QStartNoAckMode');
  await ask(FEATURES);
  await ask('QThreadEvents:1');
  const first = await ask('?');
  if (launch) {
    pid = parseInt(/thread:p([0-9a-f]+)\./.exec(first)?.[1] ?? '0', 16);
    const launched = pid;
    t.teardown(() => {
      try {
        process.kill(launched, 'SIGKILL');
      } catch {
        // gone
      }
    });
  }
  return { pid, ask, log };
}

/**
 * SIGKILL from outside, and with `settled`, waits until the kernel is done with it: every
 * thread a zombie (gdbserver reaps at its next wait only). For gdbsock it waits until
 * gdbsock has reaped them all (it reaps as they die): the other threads are gone from
 * /proc, and the leader, a zombie, is no longer traced (reaped by its tracer, it goes to its
 * parent: kernel/exit.c, wait_task_zombie). gdbsock's answers then come from what it keeps
 * of a process it knows is dead.
 */
async function killFromOutside(kind: ServerKind, pid: number, settled: boolean): Promise<void> {
  process.kill(pid, 'SIGKILL');
  if (!settled) return;
  const done = () => {
    try {
      const tasks = fs.readdirSync(`/proc/${pid}/task`);
      if (!tasks.every((tid) => procState(pid, Number(tid)) === 'Z')) return false;
      return kind === 'gdbserver' || (tasks.length === 1 && /^TracerPid:\s+0$/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8')));
    } catch {
      return true; // gone: reaped by its parent too
    }
  };
  await eventually(done, `process ${pid} dead`, FAILSAFE_MS);
}

const isError = (reply: string) => /^E[0-9a-f]{2}$/i.test(reply) || reply.startsWith('E.');
/** The stop reply's kind and number: `X09;process:P` and `X9;process:P` are the same end. */
const stopOf = (reply: string) => {
  const m = /^([TSWXw])([0-9a-f]+)/i.exec(reply);
  return m ? `${m[1]}${parseInt(m[2]!, 16)}` : reply;
};

/**
 * gdb's packets after the kill: optionally a look at the threads first (gdb refreshing its
 * thread list, `info registers`), then a step of the thread at the breakpoint, and for each
 * `w` what gdb 16 does next (insert its breakpoint, pick another thread, read its
 * registers, continue), until the process's end.
 */
async function afterKill(s: Awaited<ReturnType<typeof connect>>, stepped: string, breakpoint: string, look: boolean): Promise<string> {
  const leader = `p${s.pid.toString(16)}.${s.pid.toString(16)}`;
  if (look) {
    await s.ask('qfThreadInfo');
    await s.ask(`Hg${stepped}`);
    await s.ask('g');
  }
  let reply = await s.ask(`vCont;s:${stepped}`);
  for (let i = 0; i < 10 && reply.startsWith('w'); i++) {
    await s.ask(breakpoint);
    await s.ask(`Hg${leader}`);
    await s.ask('g');
    reply = await s.ask('vCont;c');
  }
  return reply;
}

interface Fixture {
  name: string;
  program: string;
  args: string[];
  /** Where to break, once the process runs. */
  address(pid: number): bigint;
}

const FIXTURES: Fixture[] = [
  { name: 'one thread', program: loop, args: ['loop'], address: () => symbol(loop, 'marker') },
  // The spinners sleep in usleep; main waits in sigsuspend(), so a spinner hits it.
  { name: 'threads', program: threads, args: ['3'], address: (pid) => libcSymbol(pid, 'usleep') },
];

/** One session against `kind`: breakpoint hit, SIGKILL, then afterKill. */
async function killedAtBreakpoint(t: Test, kind: ServerKind, f: Fixture, settled: boolean) {
  const s = await connect(t, kind, f.program, f.args);
  const address = f.address(s.pid).toString(16);
  await s.ask(`Z0,${address},1`);
  const hit = await s.ask('vCont;c');
  const stepped = /thread:(p[0-9a-f]+\.[0-9a-f]+);/.exec(hit)?.[1];
  if (!stepped) throw new Error(`no breakpoint stop: ${hit}`);
  await s.ask(`z0,${address},1`); // gdb lifts its breakpoints at every stop
  const afterHit = s.log.length;
  await killFromOutside(kind, s.pid, settled);
  const end = await afterKill(s, stepped, `Z0,${address},1`, settled);
  return { pid: s.pid, hit, end, after: s.log.slice(afterHit) };
}

for (const f of FIXTURES) {
  for (const settled of [false, true]) {
    const when = settled ? 'after its death, looked at first' : 'at once';
    t.test(`${f.name}: SIGKILL at a breakpoint, stepped ${when}: the process's end, as with gdbserver`, async (t) => {
      const ours = await killedAtBreakpoint(t, 'gdbsock', f, settled);
      t.match(ours.hit, /^T05swbreak:;/);
      const transcript = ours.after.map(([p, r]) => `${p} -> ${r.slice(0, 40)}`).join('\n');
      t.equal(ours.after.find(([p]) => p.startsWith('vCont'))![1], `X09;process:${ours.pid.toString(16)}`, `the step's reply is the end:\n${transcript}`);
      t.same(
        ours.after.filter(([, r]) => r.startsWith('w')),
        [],
        'no thread exit stands in for it',
      );
      t.same(
        ours.after.filter(([, r]) => isError(r)),
        [],
        'nothing answered with an error',
      );
      if (settled) {
        const threadsListed = ours.after.find(([p]) => p === 'qfThreadInfo')![1];
        t.match(threadsListed, new RegExp(`^m.*p${ours.pid.toString(16)}\\.`), 'its threads are still listed until gdb hears of the end');
        // The general registers of the stop the SIGKILL ended (gdb shows its frame), the rest unavailable.
        const g = ours.after.find(([p]) => p === 'g')![1];
        t.match(g, /^([0-9a-f]{2})+(xx)+/, 'their registers as at the stop, or unavailable: not an error');
        t.notMatch(g, /^(00)+x/, 'the general ones are there');
      }
      const theirs = await killedAtBreakpoint(t, 'gdbserver', f, settled);
      t.equal(stopOf(ours.end), stopOf(theirs.end), `gdbserver reports the same end (${theirs.end})`);
      t.comment(`gdbserver: ${theirs.after.map(([p, r]) => `${p} -> ${r.slice(0, 24)}`).join('; ')}`);
      // gdbserver answers g for a dead thread from what it has cached (or xx); Hg as we do.
      if (settled) t.equal(ours.after.find(([p]) => p.startsWith('Hg'))![1], theirs.after.find(([p]) => p.startsWith('Hg'))![1], 'Hg as gdbserver');
    });
  }
}

/**
 * gdbserver 13.1 dies of a SIGSEGV at the vCont;c after a `create` stop over raw RSP, so this
 * one is checked against what gdbserver 16.3 answered to the same packets (measured on Debian
 * 13): Z0 E01, qfThreadInfo the leader, T and Hg OK, g all xx, then X9. gdbsock answers Z0 with
 * OK instead: an error there makes gdb stop short of the resume that reports the end
 * ("Cannot insert breakpoint") when the breakpoint is not in a shared library.
 */
t.test('churning threads: a w reported, then SIGKILL: packets naming its threads are answered, then X09', async (t) => {
  const s = await connect(t, 'gdbsock', threads, ['churn', '1000'], true);
  let reply = '';
  for (let i = 0; i < 20 && !reply.startsWith('w'); i++) reply = await s.ask('vCont;c');
  t.match(reply, /^w00;p[0-9a-f]+\.[0-9a-f]+$/, 'a thread exit reported while the process lives');
  const afterW = s.log.length;
  await killFromOutside('gdbsock', s.pid, true);
  const leader = `p${s.pid.toString(16)}.${s.pid.toString(16)}`;
  const answers = {
    Z0: await s.ask(`Z0,${symbol(threads, 'short_lived').toString(16)},1`),
    qfThreadInfo: await s.ask('qfThreadInfo'),
    T: await s.ask(`T${leader}`),
    Hg: await s.ask(`Hg${leader}`),
    g: await s.ask('g'),
    end: await s.ask('vCont;c'),
  };
  const transcript = s.log
    .slice(afterW)
    .map(([p, r]) => `${p} -> ${r.slice(0, 40)}`)
    .join('\n');
  t.same(
    s.log.slice(afterW).filter(([, r]) => isError(r)),
    [],
    `nothing answered with an error:\n${transcript}`,
  );
  t.match(answers.qfThreadInfo, new RegExp(`^m(.*,)?${leader}(,|$)`), 'the leader is still listed');
  t.equal(answers.T, 'OK', 'and alive for T');
  t.equal(answers.Hg, 'OK');
  t.match(answers.g, /^(xx)+$/, 'its registers unavailable');
  t.equal(answers.end, `X09;process:${s.pid.toString(16)}`, 'then the end: killed');
});

/**
 * The same under real gdb, whichever is installed. gdb 16 asks for thread events (QThreadEvents:1)
 * and stepped or continued the killed process into "Could not read registers; remote failure reply
 * '01'", never printing its end; gdb 13 does not ask for them here. No `set sysroot /`: gdb takes
 * the program and its libraries from gdbsock (vFile), so the test needs no file of this machine.
 */
for (const then of ['stepi', 'continue']) {
  t.test(`threads under gdb: SIGKILL at a breakpoint, then ${then}: terminated`, async (t) => {
    const target = await startDetached(threads, ['3']);
    t.teardown(() => target.kill());
    const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', String(target.pid)]);
    t.teardown(() => server.stop());
    const out = await runGdb(`target extended-remote ${server.target}`, ['break usleep', 'continue', `shell kill -9 ${target.pid}`, then, 'info threads'], {
      timeout: 60000,
    });
    t.match(out, /hit Breakpoint 1, .*usleep/);
    t.match(out, /Program terminated with signal SIGKILL, Killed\.\nThe program no longer exists\./);
    t.match(out, /No threads\./);
    t.notMatch(out, /Could not|E01|Remote failure|internal-error/, 'no error replies');
    t.equal(await server.exited, 0);
  });
}
