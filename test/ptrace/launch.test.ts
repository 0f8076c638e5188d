import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import t from 'tap';
import { Tracee } from '../../lib/ptrace';
import { captureFile, eventually, fixture, passSignals, procState } from '../helpers';

t.test('launch stops at the first instruction, in the dynamic loader', async (t) => {
  const tracee = Tracee.launch(fixture('exitcode'), ['0']);
  t.teardown(() => tracee.state === 'traced' && tracee.kill());
  const leader = tracee.leader!;
  t.equal(leader.state, 'stopped');
  t.same(leader.lastEvent, { type: 'exec', tid: tracee.pid, formerTid: tracee.pid });
  t.equal(procState(tracee.pid), 't', 'the kernel shows a traced stop');
  const pc = leader.getPc();
  const maps = fs.readFileSync(`/proc/${tracee.pid}/maps`, 'utf8').split('\n');
  const loader = maps.find((line) => {
    const [range] = line.split(' ');
    const [lo, hi] = range!.split('-').map((h) => BigInt(`0x${h}`));
    return pc >= lo! && pc < hi!;
  });
  t.match(loader, /ld-linux-x86-64\.so/, 'pc is in ld.so');
  leader.cont();
  t.same(await tracee.ended(), { pid: tracee.pid, code: 0 });
});

t.test('exit codes and fatal signals', async (t) => {
  const exits = Tracee.launch(fixture('exitcode'), ['42']);
  exits.leader!.cont();
  t.same(await exits.ended(), { pid: exits.pid, code: 42 });
  t.equal(exits.state, 'exited');

  const segv = Tracee.launch(fixture('segv'));
  segv.leader!.cont();
  const stop = await segv.leader!.nextEvent();
  t.match(stop, { type: 'signal', signal: 11, siginfo: { signo: 11, addr: 0x10n } }, 'SIGSEGV reported with the fault address');
  t.equal(segv.leader!.pendingSignal, 11);
  segv.leader!.cont(); // delivers the pending SIGSEGV
  const end = await segv.ended();
  t.equal(end.signal, 11);
  t.equal(segv.state, 'exited');
});

t.test('argv, environment, cwd and stdio reach the program', async (t) => {
  const out = captureFile();
  t.teardown(out.close);
  const tracee = Tracee.launch('sh', ['-c', 'printf "%s|%s|%s|%s" "$0" "$1" "$HOSTKIT_TEST" "$(pwd)"', 'zero arg', 'one arg'], {
    env: { HOSTKIT_TEST: 'a b\nc', PATH: '/usr/bin:/bin' },
    cwd: '/tmp',
    stdio: ['inherit', out.fd, 'inherit'],
  });
  passSignals(tracee); // sh gets SIGCHLD from its $(pwd) subshell
  tracee.leader!.cont();
  t.same(await tracee.ended(), { pid: tracee.pid, code: 0 });
  t.equal(out.read(), 'zero arg|one arg|a b\nc|/tmp');
});

t.test('launch failures are SystemErrors naming the step and the path', async (t) => {
  t.throws(() => Tracee.launch('/nonexistent/program'), {
    name: 'SystemError',
    code: 'ENOENT',
    errno: -2,
    syscall: 'execve',
    path: '/nonexistent/program',
  });
  t.throws(() => Tracee.launch('no-such-program-anywhere'), { code: 'ENOENT', syscall: 'execve' });
  t.throws(() => Tracee.launch(fixture('exitcode'), [], { cwd: '/nonexistent/dir' }), {
    code: 'ENOENT',
    syscall: 'chdir',
    path: '/nonexistent/dir',
  });
  t.throws(() => Tracee.launch('/etc/passwd'), { code: 'EACCES', syscall: 'execve' });
  t.throws(() => Tracee.launch(''), TypeError);
  t.throws(() => Tracee.launch('x', [1 as never]), TypeError);
  t.throws(() => Tracee.launch('x', [], { stdio: [-1, 'inherit', 'inherit'] }), TypeError);
});

t.test('a launched program dies with the Node process that traces it (PTRACE_O_EXITKILL)', async (t) => {
  const script = `
    const { Tracee } = require(${JSON.stringify(require.resolve('../../dist'))});
    const t = Tracee.launch(${JSON.stringify(fixture('target'))}, ['loop'], { stdio: ['inherit', 2, 'inherit'] });
    t.leader.cont();
    process.stdout.write(String(t.pid));
    setTimeout(() => process.exit(0), 100);
  `;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  const pid = Number(r.stdout);
  t.ok(pid > 0);
  await eventually(() => !fs.existsSync(`/proc/${pid}`) || procState(pid) === 'Z', 'the tracee to die');
});
