/**
 * fork-events and vfork-events: gdb sees forks as stops (catch fork, catch
 * vfork), follows the parent or the child, or keeps both (detach-on-fork off),
 * and the output matches the same session against gdbserver.
 */
import fs from 'node:fs';
import t from 'tap';
import { fixture, procState, startDetached } from '../helpers';
import { requireTool, runGdb, startGdbserver, startGdbsock } from './gdb';

requireTool('gdb');
requireTool('gdbserver');
const forkexec = fixture('forkexec');

/** gdb's output without what differs run to run or server to server (pids, ports, file transfer notes). */
function normalise(out: string): string[] {
  const pids = new Map<string, string>();
  const pid = (p: string) => {
    if (!pids.has(p)) pids.set(p, `PID${pids.size + 1}`);
    return pids.get(p)!;
  };
  return out
    .split('\n')
    .filter((l) => l && !/^(Reading |warning: |Remote debugging|Use the "interrupt"|and then try again|Process .* created)/.test(l))
    .filter((l) => !/^0x[0-9a-f]+ in _start \(\)/.test(l))
    .map((l) =>
      l
        .replace(/127\.0\.0\.1:\d+/g, 'HOST:PORT')
        .replace(/(process |Thread |pid=|pid@entry=|\[process )(\d+)/g, (_m, a: string, p: string) => a + pid(p))
        .replace(/Thread (PID\d+)\.\d+/g, 'Thread $1.TID')
        // gdb pads table columns (info inferiors) to the widest pid: a pid with one digit more is not news.
        .replace(/ {2,}/g, '  ')
        .replace(/ +$/, ''),
    );
}

async function both(args: string[], commands: string[]): Promise<{ ours: string; theirs: string }> {
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', ...args]);
  try {
    const ours = await runGdb(`target extended-remote ${server.target}`, commands, { file: args[0]! });
    const anchor = await startGdbserver(args);
    const theirs = await runGdb(`target extended-remote ${anchor.target}`, commands, { file: args[0]! });
    return { ours, theirs };
  } finally {
    await server.stop();
  }
}

/**
 * The function gdb names at a fork or vfork catchpoint. It depends on glibc and
 * on whether libc's debug symbols are installed (glibc 2.36: arch_fork,
 * __libc_vfork, clone3; 2.41 without libc6-dbg: _Fork, vfork, no clone3
 * alias), so tests compare it with gdbserver's session on the same machine.
 */
function catchFrame(out: string): string | undefined {
  return /Catchpoint 1 \(v?forked process \d+\), (?:0x[0-9a-f]+ in )?(\S+) \(/.exec(out)?.[1];
}

t.test('catch fork, default follow-fork-mode parent: the child runs on, the parent stops later', async (t) => {
  const commands = ['catch fork', 'break in_child', 'break after_fork', 'continue', 'info inferiors', 'continue', 'print code', 'continue'];
  const { ours: out, theirs } = await both([forkexec, 'fork'], commands);
  t.match(out, /Catchpoint 1 \(forked process \d+\), /, 'the fork is a stop (T05fork:)');
  t.ok(catchFrame(out), 'gdb names the function it stopped in');
  t.equal(catchFrame(out), catchFrame(theirs), 'in the same function as under gdbserver');
  t.match(out, /\[Detaching after fork from child process \d+\]/, 'gdb let the child go (D;PID)');
  t.notMatch(out, /in_child \(n=/, 'the child never stopped at our breakpoint');
  t.match(out, /Breakpoint 3, after_fork \(code=code@entry=3\)/, 'the child exited normally with 3: no stray int3 in its copy');
  t.match(out, /\[Inferior 1 \(process \d+\) exited normally\]/);
});

t.test('set follow-fork-mode child: the parent is detached, a breakpoint in the child hits', async (t) => {
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', forkexec, 'fork']);
  t.teardown(() => server.stop());
  const out = await runGdb(
    `target extended-remote ${server.target}`,
    ['set follow-fork-mode child', 'break in_child', 'continue', 'print n', 'info inferiors', 'continue'],
    { file: forkexec },
  );
  t.match(out, /\[Detaching after fork from parent process \d+\]/);
  t.match(out, /\[Inferior 1 \(process \d+\) detached\]/);
  t.match(out, /Thread 2\.1 "forkexec" hit Breakpoint 1, in_child \(n=n@entry=1\)/);
  t.match(out, /\$1 = 1/);
  t.match(out, /\* 2 +process \d+ /, 'the child is inferior 2, current');
  t.match(out, /\[Inferior 2 \(process \d+\) exited with code 03\]/);
});

t.test('set detach-on-fork off: both processes stay, each runs when gdb says; same as gdbserver', async (t) => {
  const commands = [
    'set detach-on-fork off',
    'break in_parent',
    'break in_child',
    'continue',
    'info inferiors',
    'inferior 2',
    'continue',
    'continue',
    'inferior 1',
    'continue',
    'info inferiors',
  ];
  const { ours, theirs } = await both([forkexec, 'fork'], commands);
  t.match(ours, /\[New inferior 2 \(process \d+\)\]/);
  t.match(ours, /\* 1 +process \d+ .*\n +2 +process \d+ /, 'info inferiors lists both processes');
  t.match(ours, /Thread 2\.1 "forkexec" hit Breakpoint 2\.2, in_child \(n=n@entry=1\)/, 'the kept child stops at its breakpoint');
  t.match(ours, /\[Inferior 2 \(process \d+\) exited with code 03\]/, 'W03;process:CHILD');
  t.match(ours, /\[Inferior 1 \(process \d+\) exited normally\]/, 'then the parent, resumed alone');
  t.ok(normalise(ours).length > 5, 'enough output to compare');
  t.same(normalise(ours), normalise(theirs), 'gdb printed the same as with gdbserver');
});

t.test('catch vfork: vfork and vforkdone stops; the parent stops after the child exited', async (t) => {
  const commands = ['catch vfork', 'break in_child', 'break after_fork', 'continue', 'continue', 'print code', 'continue'];
  const { ours, theirs } = await both([forkexec, 'vfork'], commands);
  t.match(ours, /Catchpoint 1 \(vforked process \d+\), /);
  t.ok(catchFrame(ours), 'gdb names the function it stopped in');
  t.equal(catchFrame(ours), catchFrame(theirs), 'in the same function as under gdbserver (vfork)');
  t.match(ours, /\[Detaching after vfork from child process \d+\]/);
  t.match(ours, /Breakpoint 3, after_fork \(code=code@entry=3\)/, 'the vfork child ran free through in_child and exited 3');
  t.match(ours, /\[Inferior 1 \(process \d+\) exited normally\]/);
  t.ok(normalise(ours).length > 5, 'enough output to compare');
  t.same(normalise(ours), normalise(theirs), 'gdb printed the same as with gdbserver');
});

t.test('catch exec in a followed child that execs', async (t) => {
  const exitcode = fixture('exitcode');
  const commands = ['set follow-fork-mode child', 'catch exec', 'continue', 'info inferiors', 'continue'];
  const { ours, theirs } = await both([forkexec, 'exec', exitcode, '4'], commands);
  t.match(ours, /process \d+ is executing new program: .*exitcode/);
  t.match(ours, /hit Catchpoint 1 \(exec'd .*exitcode\)/);
  t.match(ours, /\* 2 +process \d+ .*exitcode/);
  t.match(ours, /\[Inferior 2 \(process \d+\) exited with code 04\]/);
  t.ok(normalise(ours).length > 5, 'enough output to compare');
  t.same(normalise(ours), normalise(theirs), 'gdb printed the same as with gdbserver');
});

t.test('posix_spawn (clone3 with CLONE_VFORK): a vfork stop, the parent waits for vforkdone; same as gdbserver', async (t) => {
  const commands = ['catch vfork', 'break after_fork', 'continue', 'continue', 'print code', 'continue'];
  const { ours, theirs } = await both([forkexec, 'spawn', fixture('exitcode'), '6'], commands);
  t.match(ours, /Catchpoint 1 \(vforked process \d+\), /);
  t.ok(catchFrame(ours), 'gdb names the function it stopped in');
  t.equal(catchFrame(ours), catchFrame(theirs), 'in the same function as under gdbserver (clone3)');
  t.match(ours, /Breakpoint 2, after_fork \(code=code@entry=6\)/);
  t.match(ours, /\[Inferior 1 \(process \d+\) exited with code 06\]/);
  t.ok(normalise(ours).length > 5, 'enough output to compare');
  t.same(normalise(ours), normalise(theirs), 'gdb printed the same as with gdbserver');
});

t.test('follow-fork-mode child through posix_spawn: the vfork parent is detached after the child execs', async (t) => {
  const commands = ['set follow-fork-mode child', 'catch exec', 'continue', 'continue'];
  const { ours, theirs } = await both([forkexec, 'spawn', fixture('exitcode'), '6'], commands);
  t.match(ours, /\[Detaching vfork parent process \d+ after child exec\]/);
  t.match(ours, /hit Catchpoint 1 \(exec'd .*exitcode\)/);
  t.match(ours, /\[Inferior 2 \(process \d+\) exited with code 06\]/);
  t.same(normalise(ours), normalise(theirs), 'gdb printed the same as with gdbserver');
});

t.test('without fork events (gdb told not to use them) the child is released with clean memory', async (t) => {
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', forkexec, 'fork']);
  t.teardown(() => server.stop());
  const out = await runGdb(
    'set remote fork-event-feature-packet off',
    [`target extended-remote ${server.target}`, 'break in_child', 'break after_fork', 'continue', 'print code', 'continue'],
    { file: forkexec },
  );
  t.notMatch(out, /Detaching after fork/, 'gdb never heard of the fork');
  t.match(out, /Breakpoint 2, after_fork \(code=code@entry=3\)/, 'the child ran through in_child without an int3 and exited 3');
  t.match(out, /\[Inferior 1 \(process \d+\) exited normally\]/);
});

t.test('attached process (gdbsock PID): catch fork, follow the parent, detach; nothing is left stopped', async (t) => {
  const target = await startDetached(forkexec, ['loop']);
  t.teardown(() => target.kill());
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', String(target.pid)]);
  t.teardown(() => server.stop());
  const out = await runGdb(
    `target extended-remote ${server.target}`,
    // after_fork's breakpoint is set only once the fork is caught: the attach
    // may land while the loop waits for the child of a fork made before it,
    // and that after_fork must not be the first stop.
    ['catch fork', 'continue', 'break after_fork', 'continue', 'print code', 'detach'],
    { file: forkexec },
  );
  t.match(out, /Catchpoint 1 \(forked process \d+\)/);
  t.match(out, /\[Detaching after fork from child process \d+\]/);
  t.match(out, /Breakpoint 2, after_fork \(code=(code@entry=)?3\)/, 'the child ran free and exited 3');
  t.match(out, /\[Inferior 1 \(process \d+\) detached\]/);
  await server.exited;
  await new Promise((r) => setTimeout(r, 300));
  t.not(procState(target.pid), 't', 'the parent is not left in a tracing stop');
  const children = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d) && ppidOf(Number(d)) === target.pid);
  t.ok(
    children.every((c) => !['t', 'T'].includes(stateOf(Number(c)))),
    'no child is left stopped',
  );
});

t.test('target remote (not extended), detach-on-fork off: the session outlives the child', async (t) => {
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', forkexec, 'fork']);
  t.teardown(() => server.stop());
  const out = await runGdb(
    `target remote ${server.target}`,
    ['set detach-on-fork off', 'break in_parent', 'break in_child', 'continue', 'inferior 2', 'continue', 'continue', 'inferior 1', 'continue'],
    { file: forkexec },
  );
  t.match(out, /\[Inferior 2 \(process \d+\) exited with code 03\]/);
  t.match(out, /\[Inferior 1 \(process \d+\) exited normally\]/, 'the parent still ran to its end after the child exited');
});

/** A process's state letter, '' once it is gone (children come and go). */
function stateOf(pid: number): string {
  try {
    return procState(pid);
  } catch {
    return '';
  }
}

function ppidOf(pid: number): number | undefined {
  try {
    return Number(/^PPid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  } catch {
    return undefined;
  }
}
