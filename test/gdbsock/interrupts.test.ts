/**
 * Things that happen to a debugged process behind gdb's back: a Ctrl-C while
 * a step is stuck in a blocking system call, and a SIGKILL from outside while
 * gdbsock holds the process stopped or while it runs. Real gdb, real kernel.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import t, { type Test } from 'tap';
import { type Detached, eventually, fixture, procState, startDetached, symbol } from '../helpers';
import { cleanEnv, type Gdbsock, requireTool, startGdbserver, startGdbsock, startServer } from './gdb';

requireTool('gdb');
requireTool('gdbserver');
const blocker = fixture('blocker');
const threads = fixture('threads');
const loop = fixture('target');
const spinLine = fixture('spin-line');
/** Where a thread stopped inside blocking_read's read() is: just after the syscall instruction. */
const afterSyscall = `0x${(symbol(blocker, 'at_syscall') + 2n).toString(16)}`;
/** Failsafe only: every wait below is for an event, and ends long before this. */
const FAILSAFE_MS = 20000;

interface Gdb {
  output(): string;
  /** Resolves once gdb has printed `pattern` `times` times in all. */
  printed(pattern: RegExp, times?: number): Promise<void>;
  /** What a user's Ctrl-C does: SIGINT to gdb, which sends the 0x03 interrupt to the server. */
  interrupt(): void;
  exited: Promise<number | null>;
}

/**
 * gdb in batch mode, running `commands` after `connect`, whose output can be
 * waited for as it comes: only whole commands' output, since gdb flushes its
 * stdout (a pipe here) as each command ends. gdb reads the program and its
 * libraries from this machine (`set sysroot /`), not over vFile: that is not
 * what these tests are about, and it saves most of each session's time.
 */
function startGdb(connect: string, commands: string[]): Gdb {
  const args = ['-q', '-batch', '-nx', '-ex', 'set pagination off', '-ex', 'set confirm off', '-ex', 'set sysroot /', '-ex', connect];
  for (const c of commands) args.push('-ex', c);
  const gdb = spawn('gdb', args, { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv() });
  let out = '';
  let done = false;
  let wake: () => void = () => undefined;
  const more = (d: Buffer) => {
    out += d.toString();
    wake();
  };
  gdb.stdout.on('data', more);
  gdb.stderr.on('data', more);
  const failsafe = setTimeout(() => gdb.kill('SIGKILL'), FAILSAFE_MS);
  const exited = new Promise<number | null>((resolve) =>
    gdb.on('close', (code) => {
      clearTimeout(failsafe);
      done = true;
      wake();
      resolve(code);
    }),
  );
  const count = (pattern: RegExp) => (out.match(new RegExp(pattern.source, 'g')) ?? []).length;
  return {
    output: () => out,
    async printed(pattern, times = 1) {
      while (count(pattern) < times) {
        if (done) throw new Error(`gdb ended without printing ${pattern}; it said:\n${out}`);
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
    interrupt: () => gdb.kill('SIGINT'),
    exited,
  };
}

/** The thread of `pid` asleep in read(2) (state S, syscall 0), if any: a step into it has not completed. */
function readingThread(pid: number): number | undefined {
  for (const name of fs.readdirSync(`/proc/${pid}/task`)) {
    const tid = Number(name);
    try {
      // /proc/.../syscall shows the last syscall number of a stopped thread too: S tells the blocked one.
      if (procState(pid, tid) === 'S' && fs.readFileSync(`/proc/${pid}/task/${tid}/syscall`, 'utf8').startsWith('0 ')) return tid;
    } catch {
      // a thread that just ended
    }
  }
  return undefined;
}

/** A whole gdb session: everything it printed. */
async function runGdb(connect: string, commands: string[]): Promise<string> {
  const gdb = startGdb(connect, commands);
  await gdb.exited;
  return gdb.output();
}

const blockedInRead = (pid: number) => eventually(() => readingThread(pid) !== undefined, `process ${pid} blocked in read`, FAILSAFE_MS);
const countOf = (text: string, pattern: RegExp) => (text.match(new RegExp(pattern.source, 'g')) ?? []).length;

/** `program args`, started outside this process, and `gdbsock --once` attached to it; the test's teardown ends both. */
async function attachedTo(t: Test, program: string, args: string[]): Promise<{ target: Detached; server: Gdbsock }> {
  const target = await startDetached(program, args);
  t.teardown(() => target.kill());
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', String(target.pid)]);
  t.teardown(() => server.stop());
  return { target, server };
}

/**
 * gdb saw no stray SIGTRAP and detached, gdbsock exited cleanly, and the
 * blocker runs on: SIGUSR1 ends its read, and it says so.
 */
async function detachedAndRunning(t: Test, out: string, target: Detached, server: Gdbsock, why: string): Promise<void> {
  t.notMatch(out, /SIGTRAP/);
  t.match(out, /detached/);
  t.equal(await server.exited, 0);
  process.kill(target.pid, 'SIGUSR1');
  t.equal(await target.nextLine(), 'alive -4', why);
}

/**
 * gdb running `commands` (the first ones print `info inferiors`) and
 * interrupted, as by Ctrl-C, once `ready` resolves for the process it
 * debugs; all it printed.
 */
async function interruptedSession(connect: string, commands: string[], ready: (gdb: Gdb, pid: number) => Promise<unknown>): Promise<string> {
  const gdb = startGdb(connect, commands);
  await gdb.printed(/\* 1 +process \d+/);
  const pid = Number(/\* 1 +process (\d+)/.exec(gdb.output())![1]);
  await ready(gdb, pid);
  gdb.interrupt();
  await gdb.exited;
  return gdb.output();
}

t.test('Ctrl-C during a stepi into a blocking read: SIGINT there, continue works, detach leaves it running', async (t) => {
  const { target, server } = await attachedTo(t, blocker, []);
  const gdb = startGdb(`target extended-remote ${server.target}`, [
    'set var armed = 1',
    'break *before_syscall',
    'continue',
    'stepi', // to the syscall instruction (stepping off the breakpoint)
    'stepi', // into read(): never completes
    'bt',
    'info registers rip',
    'continue', // back into read()
    'bt 1',
    'detach',
  ]);
  await blockedInRead(target.pid);
  gdb.interrupt();
  await gdb.printed(/Program received signal SIGINT/);
  await blockedInRead(target.pid);
  gdb.interrupt();
  t.equal(await gdb.exited, 0);
  const out = gdb.output();
  t.equal(countOf(out, /Program received signal SIGINT, Interrupt\./), 2, 'each Ctrl-C stopped it with SIGINT');
  t.notMatch(out, /SIGTRAP/, "the step's trap, queued as read() returned, never reached gdb");
  t.match(out, /#0 +blocking_read \(fd=3[^\n]*\n#1 +0x[0-9a-f]+ in reader /, 'bt from inside the system call');
  t.match(out, new RegExp(`rip +${afterSyscall} `), 'stopped just after the syscall instruction');
  t.match(out, /\[Inferior 1 \(process \d+\) detached\]/);
  t.equal(await server.exited, 0);
  process.kill(target.pid, 'SIGUSR1');
  t.equal(await target.nextLine(), 'alive -4', 'the read was still there to be interrupted: the process ran on');
});

t.test('threads: Ctrl-C during a stepi off a breakpoint on the syscall; detach leaves it running', async (t) => {
  const { target, server } = await attachedTo(t, blocker, ['3']);
  const gdb = startGdb(`target extended-remote ${server.target}`, [
    'set var armed = 1',
    'break *at_syscall',
    'continue',
    'stepi', // steps off the breakpoint, alone, into read()
    'bt 1',
    'info threads',
    'detach',
  ]);
  await blockedInRead(target.pid);
  gdb.interrupt();
  t.equal(await gdb.exited, 0);
  const out = gdb.output();
  t.match(out, /hit Breakpoint 1, 0x[0-9a-f]+ in blocking_read/);
  t.match(out, /Thread 1 "blocker" received signal SIGINT, Interrupt\.\n[^\n]*blocking_read \(fd=3/, 'the stepping thread reports the SIGINT');
  t.equal(countOf(out, /Thread \d+\.\d+ "blocker"/), 4, 'all four threads listed');
  await detachedAndRunning(t, out, target, server, 'the process ran on');
});

t.test('threads: Ctrl-C while another thread range-steps (next) into a blocking read; detach leaves it running', async (t) => {
  const { target, server } = await attachedTo(t, blocker, ['2', 'thread']);
  const gdb = startGdb(`target extended-remote ${server.target}`, [
    'set var armed = 1',
    'break *before_syscall',
    'continue',
    'delete',
    'next', // range-steps the asm statement's line, syscall included
    'thread apply all bt 1',
    'detach',
  ]);
  await blockedInRead(target.pid);
  gdb.interrupt();
  t.equal(await gdb.exited, 0);
  const out = gdb.output();
  t.match(out, /Thread \d+ "reader" hit Breakpoint 1/);
  // Ctrl-C interrupts the main thread (in pause()); all-stop then stops the stepping reader inside read().
  t.match(out, /Thread 1 "blocker" received signal SIGINT, Interrupt\./);
  t.match(out, /Thread \d+ \(Thread \d+\.\d+ "reader"\):\n#0 +blocking_read \(fd=3/, 'the reader stopped inside read()');
  await detachedAndRunning(t, out, target, server, "the reader's read was still there to be interrupted");
});

t.test("after a Ctrl-C, gdb's `signal SIGUSR1` reaches the program (an interrupt stop cannot pass one on)", async (t) => {
  for (const how of ['continue', 'stepi into read'] as const) {
    const { target, server } = await attachedTo(t, blocker, []);
    const toRead = ['set var armed = 1', 'break *at_syscall', 'continue', 'delete', 'stepi'];
    const gdb = startGdb(`target extended-remote ${server.target}`, [...(how === 'continue' ? ['continue'] : toRead), 'signal SIGUSR1']);
    if (how === 'continue') await eventually(() => procState(target.pid) !== 't', 'the process running', FAILSAFE_MS);
    else await blockedInRead(target.pid);
    gdb.interrupt();
    t.equal(await gdb.exited, 0);
    const out = gdb.output();
    t.match(
      out,
      /Program received signal SIGINT, Interrupt\.[\s\S]*\n\[Inferior 1 \(process \d+\) exited normally\]/,
      `${how}: the handler ran and the program ended`,
    );
    t.equal(await target.nextLine(), how === 'continue' ? 'alive 0' : 'alive -4', `${how}: as SIGUSR1 makes it`);
    t.equal(await server.exited, 0);
  }
});

t.test('Ctrl-C while running: $_siginfo is a SIGINT sent by the server, as with gdbserver', async (t) => {
  // Run to reader() first: a Ctrl-C while gdb handles the dynamic loader's stops on the way is lost (in gdb, whatever the server).
  const commands = [
    'info inferiors',
    'break reader',
    'continue',
    'delete',
    'continue',
    'print $_siginfo.si_signo',
    'print $_siginfo.si_code',
    'print $_siginfo._sifields._kill.si_uid',
    'print $_siginfo._sifields._kill.si_pid',
    'kill',
  ];
  const session = (connect: string) =>
    interruptedSession(connect, commands, async (gdb, pid) => {
      await gdb.printed(/Breakpoint 1, reader/);
      await eventually(() => procState(pid) !== 't', 'the process running', FAILSAFE_MS);
    });
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', blocker]);
  t.teardown(() => server.stop());
  const ours = await session(`target extended-remote ${server.target}`);
  const anchor = await startGdbserver([blocker]);
  const theirs = await session(`target extended-remote ${anchor.target}`);
  t.match(ours, /Program received signal SIGINT, Interrupt\./);
  const values = (s: string) => s.split('\n').filter((l) => /^\$[1-3] = /.test(l));
  t.same(values(ours), ['$1 = 2', '$2 = 0', `$3 = ${process.getuid!()}`], 'SIGINT, SI_USER, our uid');
  t.same(values(ours), values(theirs), 'the same as with gdbserver');
  t.match(ours, new RegExp(`\\$4 = ${server.proc.pid}\\n`), 'sent by gdbsock');
});

t.test('SIGTERM to gdbsock while a stepi is stuck in a blocking read: detached, the process runs on', async (t) => {
  const { target, server } = await attachedTo(t, blocker, ['2']);
  const gdb = startGdb(`target extended-remote ${server.target}`, ['set var armed = 1', 'break *at_syscall', 'continue', 'stepi']);
  await blockedInRead(target.pid);
  server.proc.kill('SIGTERM');
  t.equal(await server.exited, 0, 'gdbsock exits cleanly');
  await gdb.exited;
  t.match(gdb.output(), /Remote connection closed|Remote communication error/, 'gdb saw the server go');
  for (const tid of fs.readdirSync(`/proc/${target.pid}/task`)) t.not(procState(target.pid, Number(tid)), 't', `thread ${tid} not left stopped`);
  process.kill(target.pid, 'SIGUSR1');
  t.equal(await target.nextLine(), 'alive -4', 'no step trap was left to kill it: the read was still there to be interrupted');
});

t.test('stepi into a blocking read and Ctrl-C: the same frame and registers as with gdbserver', async (t) => {
  const commands = [
    'set var armed = 1',
    'break *before_syscall',
    'continue',
    'info inferiors',
    'stepi',
    'stepi',
    'bt',
    'info registers rip rax orig_rax',
    'kill',
  ];
  const session = (connect: string) => interruptedSession(connect, commands, (_gdb, pid) => blockedInRead(pid));
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', blocker]);
  t.teardown(() => server.stop());
  const ours = await session(`target extended-remote ${server.target}`);
  const anchor = await startGdbserver([blocker]);
  const theirs = await session(`target extended-remote ${anchor.target}`);
  // gdbserver sends SIGINT to the process group: the step's own trap is taken first, so gdb sees the
  // stepi end there and the SIGINT only at the next resume. gdbsock reports the interrupt at once.
  t.match(ours, /Program received signal SIGINT, Interrupt\./);
  // Stack addresses differ with the environment each server gives the program.
  const pick = (s: string) =>
    s
      .split('\n')
      .filter((l) => /^(#\d|rip|rax|orig_rax) /.test(l))
      .map((l) => l.replace(/0x7fff[0-9a-f]+/g, '0x7fff_'));
  t.ok(pick(ours).length >= 5, 'gdb printed the frames and registers');
  t.same(pick(ours), pick(theirs), 'same frames and registers as with gdbserver');
  t.match(ours, /rax +0xfffffffffffffe00 +-512/, 'read() was interrupted for a restart (-ERESTARTSYS)');
  t.match(ours, /\[Inferior 1 \(process \d+\) killed\]/);
  t.equal(await server.exited, 0);
});

/** The lines of a session that say how the process ended and what gdb then knows of it. */
const endLines = (s: string) => s.split('\n').filter((l) => /^(rip |Program terminated|The program|No threads)/.test(l));

for (const kind of ['one thread', 'threads'] as const) {
  const program = kind === 'one thread' ? loop : threads;
  const args = kind === 'one thread' ? ['loop'] : ['3'];
  const stop = kind === 'one thread' ? 'break marker' : 'break usleep';

  t.test(`${kind}: SIGKILL from outside while stopped at a breakpoint, then stepi: terminated`, async (t) => {
    const commands = (pid: number) => [stop, 'continue', `shell kill -9 ${pid}`, 'info registers rip', 'stepi', 'info threads'];
    const { target, server } = await attachedTo(t, program, args);
    const ours = await runGdb(`target extended-remote ${server.target}`, commands(target.pid));
    t.match(ours, /Program terminated with signal SIGKILL, Killed\.\nThe program no longer exists\./);
    t.match(ours, /No threads\./);
    t.notMatch(ours, /E01|Could not|Remote failure/, 'no error replies');
    t.equal(await server.exited, 0, 'gdbsock --once exits cleanly after the session');
    t.notMatch(server.stderr(), /ESRCH/, 'no packet failed');
    // gdbserver 13.1 loses track of a multi-threaded process killed like this ("No unwaited-for
    // children left.", then gdb thinks the other threads live on): compared with one thread only.
    if (kind === 'threads') return;
    const other = await startDetached(program, args);
    t.teardown(() => other.kill());
    const anchor = await startGdbserver(['--attach', String(other.pid)]);
    const theirs = await runGdb(`target extended-remote ${anchor.target}`, commands(other.pid));
    t.same(endLines(ours).map(hexless), endLines(theirs).map(hexless), 'the same as with gdbserver');
  });

  t.test(`${kind}: SIGKILL from outside while stopped, then continue: terminated`, async (t) => {
    const { target, server } = await attachedTo(t, program, args);
    const out = await runGdb(`target extended-remote ${server.target}`, [stop, 'continue', `shell kill -9 ${target.pid}`, 'continue', 'info threads']);
    t.match(out, /hit Breakpoint 1|Breakpoint 1, /);
    t.match(out, /Program terminated with signal SIGKILL, Killed\.\nThe program no longer exists\./);
    t.match(out, /No threads\./);
    t.notMatch(out, /E01|Could not|Remote failure/);
    t.equal(await server.exited, 0);
  });

  t.test(`${kind}: SIGKILL from outside while stopped, then a fresh look (gdb.base/killed-outside.exp): where it stopped, as with gdbserver`, async (t) => {
    // `maint flush register-cache` makes gdb read the registers again: gdbsock has reaped the
    // threads by then, gdbserver (which reaps when gdb resumes) has not; both show the frame.
    const commands = (pid: number) => [
      stop,
      'continue',
      `shell kill -9 ${pid}; while grep -qs '^State:.*tracing' /proc/${pid}/status; do sleep 0.02; done`,
      'maint flush register-cache',
      'info threads',
      'info registers rip rsp',
      'bt 1',
    ];
    const { target, server } = await attachedTo(t, program, args);
    const ours = await runGdb(`target extended-remote ${server.target}`, commands(target.pid));
    t.match(ours, new RegExp(`\\* \\d+ +Thread ${target.pid}\\.\\d+ "[^"]+" .*(marker|usleep)`), 'the stopped thread with its name and frame');
    t.match(ours, /^rip +0x[0-9a-f]+ +0x[0-9a-f]+ <(marker|usleep)/m, 'its pc');
    t.match(ours, /^#0 +(marker|usleep) /m, 'its frame');
    t.equal(await server.exited, 0);
    // Threads: gdbserver reads every thread's registers as it stops them, gdbsock only those of
    // the threads gdb asked about (the others show as <unavailable>): compared with one thread.
    if (kind === 'threads') return;
    const other = await startDetached(program, args);
    t.teardown(() => other.kill());
    const anchor = await startGdbserver(['--attach', String(other.pid)]);
    const theirs = await runGdb(`target extended-remote ${anchor.target}`, commands(other.pid));
    const look = (s: string) =>
      s
        .split('\n')
        .filter((l) => /^(\*? +\d+ +Thread |rip |rsp |#0 )/.test(l))
        .map((l) =>
          hexless(l)
            .replace(/\d+\.\d+/, 'P.T')
            .replace(/ +/g, ' '),
        );
    t.same(look(ours), look(theirs), 'the same thread, frame and registers as gdbserver shows');
  });

  t.test(`${kind}: SIGKILL from outside while running under continue: gdb hears at once`, async (t) => {
    const { target, server } = await attachedTo(t, program, args);
    const gdb = startGdb(`target extended-remote ${server.target}`, ['continue', 'info threads']);
    // gdbsock attached (every thread in a tracing stop) before it listened; gdb's continue lets them go.
    // (gdb's own "Continuing." stays in its stdout buffer until the command ends.)
    const running = () => fs.readdirSync(`/proc/${target.pid}/task`).every((tid) => procState(target.pid, Number(tid)) !== 't');
    await eventually(running, 'the process running', FAILSAFE_MS);
    const killedAt = Date.now();
    process.kill(target.pid, 'SIGKILL');
    await gdb.printed(/Program terminated with signal SIGKILL, Killed\./);
    t.ok(Date.now() - killedAt < 5000, 'reported within seconds (failsafe bound; it takes milliseconds)');
    t.equal(await gdb.exited, 0);
    t.match(gdb.output(), /No threads\./);
    t.equal(await server.exited, 0);
  });
}

t.test('without --once: gdbsock keeps serving after the process it attached to was killed', async (t) => {
  const target = await startDetached(loop, ['loop']);
  t.teardown(() => target.kill());
  const server = await startGdbsock(['--listen', '127.0.0.1:0', String(target.pid)]);
  t.teardown(() => server.stop());
  const first = await runGdb(`target extended-remote ${server.target}`, ['break marker', 'continue', `shell kill -9 ${target.pid}`, 'continue']);
  t.match(first, /Program terminated with signal SIGKILL/);
  const second = await runGdb(`target extended-remote ${server.target}`, ['info threads', 'print 6*7']);
  t.match(second, /No threads\./, 'nothing to debug any more');
  t.match(second, /\$1 = 42/, 'but still serving');
  t.match(server.stderr(), new RegExp(`process ${target.pid} has ended`), 'and says why, without attaching to whatever has that pid now');
  t.equal(server.proc.exitCode, null, 'still running');
  server.proc.kill('SIGTERM');
  t.equal(await server.exited, 0, 'exits cleanly on SIGTERM');
});

/** A line with addresses blanked (two processes' stacks differ). */
function hexless(line: string): string {
  return line.replace(/0x[0-9a-f]+/g, '0x_');
}

/**
 * Ctrl-C while gdb steps: a `next` over a long one-line loop (one range step,
 * vCont;r) and a software watchpoint (gdb single-steps every instruction).
 * A step's trap cancels a pending PTRACE_INTERRUPT, so the interrupt must not
 * rest on it; gdb must stop with SIGINT at once, as with gdbserver (whose
 * SIGINT stays queued). Before, the range step ran to its end (minutes) and
 * the watchpoint's steps went on for ever.
 */
for (const kind of ['gdbserver', 'gdbsock'] as const)
  for (const [what, commands] of [
    ['a range step (next over a long line)', ['break 8', 'continue', 'next']],
    ['software watchpoint steps', ['break main', 'continue', 'set can-use-hw-watchpoints 0', 'watch never_written', 'continue']],
  ] as const)
    t.test(`${kind}: Ctrl-C during ${what} stops the program with SIGINT`, async (t) => {
      const server = await startServer(kind, [spinLine]);
      t.teardown(() => server.stop());
      const gdb = startGdb(`target remote ${server.target}`, [...commands, 'print a', 'kill']);
      await gdb.printed(/Breakpoint 1, main/);
      await new Promise((resolve) => setTimeout(resolve, 1000)); // well into the stepping
      gdb.interrupt();
      await gdb.printed(/SIGINT/);
      t.pass('gdb reported SIGINT');
      await gdb.exited;
      t.notMatch(gdb.output(), /exited|SIGTRAP/, 'and nothing else');
    });
