/**
 * The escape suite: a locked Node process (a child: the lock is irrevocable)
 * tries every way to start a process or a program, from C (loaded with koffi)
 * and from JS, on the main thread, on a native thread, on libuv's threadpool
 * and on a Worker, with the lock installed before and after those threads exist.
 */
import t, { type Test } from 'tap';
import { dmesg, hostHasInt80Gate, NO_INT80_GATE, pooled, runLocked, type RunnerResult } from './fixtures/run';

const C_FORK = ['fork', 'vfork', 'posix_spawn', 'clone(SIGCHLD)', 'clone(CLONE_VM)', 'clone(CLONE_VM|CLONE_VFORK)'];
const C_EXEC = ['execve', 'execveat(memfd, AT_EMPTY_PATH)', 'fexecve', 'int 0x80 execve', 'x32 execve'];
const JS = ['child_process.spawn', 'child_process.exec', 'child_process.execFile', 'child_process.fork', 'child_process.execSync', 'child_process.spawnSync'];
const OFF_MAIN: [string, string][] = [
  ['execve', 'waiter'],
  ['fork', 'waiter'],
  ['execve', 'pool'],
  ['posix_spawn', 'pool'],
  ['execve', 'worker'],
  ['fork', 'worker'],
  ['child_process.spawnSync', 'worker'],
];
const EVERYTHING: [string, string][] = [...[...C_FORK, 'clone3', ...C_EXEC, ...JS].map((a): [string, string] => [a, 'main']), ...OFF_MAIN];

/** Oracle for `int 0x80`: whether this kernel answers it at all, asked unlocked. */
const INT80_GATE = hostHasInt80Gate();
if (!INT80_GATE) t.comment("this kernel faults int 0x80 itself (no gate): it is no way out here, and the filter's i386 branch is not reached");
/** What `attempt` gives where everything that reaches the kernel's system-call entry gets `outcome`. */
const expected = (attempt: string, outcome: string) => (attempt === 'int 0x80 execve' && !INT80_GATE ? NO_INT80_GATE : outcome);

function checkAllFailWith(t: Test, r: RunnerResult, code: string) {
  t.equal(r.code, 0, `runner exited cleanly (${r.stderr.slice(0, 300)})`);
  for (const [attempt, where] of EVERYTHING) {
    const got = r.results.get(`${attempt}@${where}`);
    if (attempt === 'clone3') t.equal(got, 'ENOSYS', 'clone3 answers ENOSYS so glibc falls back to clone');
    // Node throws EPERM/ENOSYS from spawn synchronously and emits EACCES as an 'error' event.
    else if (attempt.startsWith('child_process.')) t.match(got, new RegExp(`^(threw )?${code}$`), `${attempt} on ${where}`);
    else t.equal(got, expected(attempt, code), `${attempt} on ${where}`);
  }
}

t.test('unlocked, every attempt escapes (the suite is not vacuous)', async (t) => {
  const r = await runLocked({ lock: null, order: 'after', attempts: EVERYTHING });
  for (const [attempt, where] of EVERYTHING) {
    // x32 is not built into this kernel: ENOSYS even without a filter.
    t.equal(r.results.get(`${attempt}@${where}`), expected(attempt, attempt === 'x32 execve' ? 'ENOSYS' : 'escaped'), `${attempt} on ${where}`);
  }
});

for (const order of ['before', 'after'] as const) {
  t.test(`errno action (EPERM), lock ${order} the threads exist`, async (t) => {
    const r = await runLocked({ lock: { fork: true, exec: true, errno: 'EPERM' }, order, attempts: EVERYTHING });
    checkAllFailWith(t, r, 'EPERM');
  });
}

t.test('errno action defaults to EACCES, which child_process reports as an error event', async (t) => {
  const r = await runLocked({ lock: { fork: true, exec: true }, order: 'after', attempts: EVERYTHING });
  checkAllFailWith(t, r, 'EACCES');
  t.equal(r.results.get('child_process.spawn@main'), 'EACCES', 'not thrown');
});

t.test('ENOSYS is selectable', async (t) => {
  const r = await runLocked({ lock: { fork: true, exec: true, errno: 'ENOSYS' }, order: 'after', attempts: EVERYTHING });
  checkAllFailWith(t, r, 'ENOSYS');
});

for (const order of ['before', 'after'] as const) {
  t.test(`report action, lock ${order} the threads exist`, async (t) => {
    const r = await runLocked({ lock: { fork: true, exec: true, action: 'report' }, order, attempts: EVERYTHING });
    checkAllFailWith(t, r, 'EACCES');
    const names = new Set(r.reports.map((a) => a.syscall));
    for (const name of ['clone', 'vfork', 'execve', 'execveat', 'x32 execve']) t.ok(names.has(name), `reported ${name}`);
    t.equal(names.has('i386 execve'), INT80_GATE, 'i386 execve reported where int 0x80 reaches the kernel');
    t.notOk(names.has('clone3'), 'clone3 is refused by the filter itself, without a report');
    const execve = r.reports.find((a) => a.syscall === 'execve')!;
    t.equal(execve.path, '/nonexistent/hostkit-escape');
    t.same(execve.argv, ['/nonexistent/hostkit-escape', '--escaped']);
    const mainTid = r.lines[0]!.mainTid;
    t.equal(execve.tid, mainTid, 'the main thread made the first execve');
    t.ok(
      r.reports.filter((a) => a.syscall === 'execve').some((a) => a.tid !== mainTid),
      'and other threads too, each named',
    );
    if (INT80_GATE) t.equal(r.reports.find((a) => a.syscall === 'i386 execve')!.path, '/nonexistent/hostkit-escape', 'i386 pointers are read as 32-bit');
    const clone = r.reports.find((a) => a.syscall === 'clone')!;
    t.equal(clone.flags & 0x10000, 0, 'a refused clone has no CLONE_THREAD');
    t.ok(
      r.reports.every((a) => a.allowed === false),
      'nothing was allowed',
    );
  });
}

t.test('report action with exec only: the program child_process asked for is named', async (t) => {
  const r = await runLocked({
    lock: { exec: true, action: 'report', errno: 'EPERM' },
    order: 'after',
    attempts: [
      ['child_process.execFile', 'main'],
      ['fork', 'main'],
      ['posix_spawn', 'main'],
    ],
  });
  t.equal(r.results.get('posix_spawn@main'), 'EPERM', 'a vfork child sharing our memory cannot exec either');
  t.ok(
    r.reports.some((a) => a.path === '/bin/true' && a.argv?.[0] === 'true'),
    'and its execve is reported with its path',
  );
  // libuv waits for the forked child's exec and throws its error synchronously.
  t.match(r.results.get('child_process.execFile@main'), /^(threw )?EPERM$/, 'the exec in the forked child failed');
  t.equal(r.results.get('fork@main'), 'escaped', 'fork was not asked for');
  const exec = r.reports.find((a) => a.path === '/bin/true');
  t.ok(exec, 'the forked child inherits the filter, and its execve is reported');
  t.same(exec?.argv, ['/bin/true']);
  t.not(exec?.pid, r.lines[0]!.mainTid, 'by the child, not by the daemon');
  t.equal(exec?.pid, exec?.tid, 'the forked child is single-threaded');
});

t.test('log action: everything runs, and the kernel logs it', async (t) => {
  const r = await runLocked({ lock: { fork: true, exec: true, action: 'log' }, order: 'after', attempts: EVERYTHING });
  t.equal(r.code, 0);
  for (const [attempt, where] of EVERYTHING) {
    const outcome = attempt === 'clone3' || attempt === 'x32 execve' ? 'ENOSYS' : 'escaped';
    t.equal(r.results.get(`${attempt}@${where}`), expected(attempt, outcome), `${attempt} on ${where}`);
  }
  // kernel/auditsc.c audit_seccomp: type=1326 ... pid= ... syscall=59 ... code=0x7ffc0000 (SECCOMP_RET_LOG)
  const logged = async (pid: number) => new RegExp(`type=1326 .*pid=${pid} .*syscall=(59|56) .*code=0x7ffc0000`).test(await dmesg());
  let seen = await logged(r.lines[0]!.mainTid);
  if (!seen) {
    // Without auditd the kernel prints audit records under printk_ratelimit (10 per 5 s),
    // which other tests' 'log' locks may have used up: wait the window out and try once more.
    await new Promise((resolve) => setTimeout(resolve, 5500));
    const again = await runLocked({ lock: { exec: true, action: 'log' }, order: 'after', attempts: [['execve', 'main']] });
    seen = await logged(again.lines[0]!.mainTid);
  }
  t.ok(seen, 'audit record with RET_LOG in the kernel log');
});

// kill and trap end the process: one child per attempt.
const FATAL: [string, string][] = [
  ...[...C_FORK, ...C_EXEC].map((a): [string, string] => [a, 'main']),
  ['execve', 'waiter'],
  ['fork', 'waiter'],
  ['execve', 'pool'],
  ['execve', 'worker'],
];

for (const action of ['kill', 'trap'] as const) {
  t.test(`${action} action: each attempt ends the process with SIGSYS`, async (t) => {
    // JS child_process only under 'kill': a trapped clone "returns" its own number, which
    // libuv takes for a child pid (see README: trap is for programs with their own SIGSYS handler).
    const cases: [string, string][] = action === 'kill' ? [...FATAL, ['child_process.spawn', 'main'], ['child_process.execSync', 'main']] : FATAL;
    const runs = await pooled(
      cases.map(
        ([attempt, where]) =>
          () =>
            runLocked({ lock: { fork: true, exec: true, action }, order: where === 'main' ? 'before' : 'after', noCore: true, attempts: [[attempt, where]] }),
      ),
    );
    runs.forEach((r, i) => {
      const [attempt, where] = cases[i]!;
      const why = `${attempt} on ${where} (results: ${JSON.stringify([...r.results])} ${r.stderr.slice(-500)})`;
      if (expected(attempt, 'filtered') === NO_INT80_GATE) {
        t.equal(r.results.get(`${attempt}@${where}`), NO_INT80_GATE, why);
        return;
      }
      t.equal(r.signal, 'SIGSYS', why);
      // kill stops the call in the kernel; a trapped call returns (with its own number) and SIGSYS follows.
      if (action === 'kill') t.equal(r.results.size, 0, 'and never returned');
    });
    const clone3 = await runLocked({ lock: { fork: true, exec: true, action }, order: 'after', noCore: true, attempts: [['clone3', 'main']] });
    t.equal(clone3.results.get('clone3@main'), 'ENOSYS', 'clone3 still answers ENOSYS: threads must keep working');
  });
}

t.test('trap action delivers a catchable SIGSYS (kill does not)', async (t) => {
  const r = await runLocked({ lock: { exec: true, action: 'trap' }, order: 'after', sigsys: true, attempts: [['execve', 'main']] });
  t.equal(r.code, 0, 'the process survived');
  t.ok(
    r.lines.some((l) => l.signal === 'SIGSYS'),
    "process.on('SIGSYS') saw it",
  );
  const k = await runLocked({ lock: { exec: true, action: 'kill' }, order: 'after', sigsys: true, noCore: true, attempts: [['execve', 'main']] });
  t.equal(k.signal, 'SIGSYS');
});
