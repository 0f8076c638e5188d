/**
 * hostkit/forkexec's native side: a failed call throws a SystemError naming
 * the system call that failed, and a launch frees its supervisor once the
 * program is gone (each used to keep about 170 KB for good).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import t from 'tap';
import { launch } from '../../lib/forkexec';
import { execCalls, execCallTable, syscallName } from '../../lib/forkexec/syscalls';
import { addon } from '../../lib/native';
import { cleanEnv } from './fixtures/run';

const DIST = path.join(__dirname, '..', '..', 'dist');

/** Runs `source` in a fresh Node (a clean environment, gc exposed) and parses the JSON line it prints. */
function runNode(source: string): Promise<any> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--expose-gc', '-e', source, DIST], { env: cleanEnv(), timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${err.message}\n${stderr}`));
      resolve(JSON.parse(stdout.trim().split('\n').pop()!));
    });
  });
}

t.test('launch() frees its supervisor once the program has exited', async (t) => {
  const result = await runNode(`
    const { launch } = require(process.argv[1] + '/forkexec');
    const settle = async () => {
      for (let i = 0; i < 3; i++) { gc(); await new Promise((r) => setImmediate(r)); }
    };
    const run = async (n) => {
      for (let i = 0; i < n; i++) await launch('/bin/true', [], { exec: true }).exited;
    };
    (async () => {
      await run(200); // malloc and V8 reach their steady size first
      await settle();
      const before = process.memoryUsage().rss;
      const count = 400;
      await run(count);
      await settle();
      const after = process.memoryUsage().rss;
      console.log(JSON.stringify({ perLaunch: (after - before) / count }));
    })();
  `);
  // A leaked supervisor is ~170 KB (its ring of 64 notes; ~50 KB of it touched) and its handle ~42 KB more.
  t.ok(result.perLaunch < 24 * 1024, `RSS grew ${Math.round(result.perLaunch)} bytes per launch`);
});

t.test('a failed forkexec call names the system call that failed', async (t) => {
  t.throws(() => addon.landlockExecRuleset(['/nonexistent/hostkit-dir']), {
    name: 'SystemError',
    code: 'ENOENT',
    syscall: 'open(O_PATH) for landlock_add_rule',
    path: '/nonexistent/hostkit-dir',
  });
  t.throws(() => launch('/nonexistent/hostkit-program', [], { fork: true }), {
    name: 'SystemError',
    code: 'ENOENT',
    syscall: 'execve',
    path: '/nonexistent/hostkit-program',
  });
  // In a child: the filter's NO_NEW_PRIVS would stay with this process.
  const seccomp = await runNode(`
    const { addon } = require(process.argv[1] + '/native');
    const bad = Buffer.alloc(8);
    bad.writeUInt16LE(0xffff, 0); // no such BPF opcode: the kernel's checker refuses it
    try { addon.seccompInstall(bad, 0); console.log('{}'); }
    catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, syscall: e.syscall, pid: e.pid, self: process.pid })); }
  `);
  t.match(seccomp, { name: 'SystemError', code: 'EINVAL', syscall: 'seccomp(SECCOMP_SET_MODE_FILTER)' });
  t.equal(seccomp.pid, seccomp.self, 'the locked process is named');
});

t.test('a failed ptrace-side call names the system call that failed', async (t) => {
  const gone = 0x3ffffff0;
  t.throws(() => addon.waitpid(gone, 1), { name: 'SystemError', code: 'ECHILD', syscall: 'waitpid', tid: gone });
  t.throws(() => addon.stepRange(gone, 0, 0n, 0n, new BigUint64Array(0), 128, 10, 10, Buffer.alloc(27 * 8), 2), {
    name: 'SystemError',
    code: 'ESRCH',
    syscall: 'ptrace(PTRACE_SINGLESTEP)',
    tid: gone,
  });
  t.throws(() => addon.launch('/bin/true', ['true'], [], '/nonexistent/hostkit-cwd', [null, null, null], 0, false), {
    name: 'SystemError',
    code: 'ENOENT',
    syscall: 'chdir',
    path: '/nonexistent/hostkit-cwd',
  });
  t.throws(() => addon.launch('/nonexistent/hostkit-program', ['x'], [], null, [null, null, null], 0, false), {
    name: 'SystemError',
    code: 'ENOENT',
    syscall: 'execve',
    path: '/nonexistent/hostkit-program',
  });
});

t.test("the supervisor's exec table is syscalls.ts's: every row is an exec call by name", async (t) => {
  const rows = execCalls().map((c) => [syscallName(c.audit, c.nr), c.pathArg, c.argvArg, c.initial]);
  t.same(rows, [
    ['execve', 0, 1, true],
    ['execveat', 1, 2, true],
    ['execve', 0, 1, true],
    ['execveat', 1, 2, true],
    ['x32 execve', 0, 1, false],
    ['x32 execveat', 1, 2, false],
    ['i386 execve', 0, 1, false],
    ['i386 execveat', 1, 2, false],
  ]);
  t.equal(execCallTable().length, rows.length * 5);
});
