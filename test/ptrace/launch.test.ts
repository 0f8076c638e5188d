import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import t from 'tap';
import { Tracee } from '../../lib/ptrace';
import { planLaunch } from '../../lib/ptrace/launch';
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

t.test('noRandomization: the program starts with ADDR_NO_RANDOMIZE, as setarch -R would give it', async (t) => {
  const ADDR_NO_RANDOMIZE = 0x0040000;
  const persona = (pid: number) => Number.parseInt(fs.readFileSync(`/proc/${pid}/personality`, 'utf8'), 16);
  for (const noRandomization of [true, false]) {
    const tracee = Tracee.launch(fixture('exitcode'), ['0'], { noRandomization });
    t.teardown(() => tracee.state === 'traced' && tracee.kill());
    t.equal((persona(tracee.pid) & ADDR_NO_RANDOMIZE) !== 0, noRandomization, `personality with noRandomization ${noRandomization}`);
    tracee.leader!.cont();
    t.same(await tracee.ended(), { pid: tracee.pid, code: 0 });
  }
  t.equal(persona(process.pid) & ADDR_NO_RANDOMIZE, 0, 'our own personality is untouched');
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

t.test('a dropped pending signal is not delivered by the next resume', async (t) => {
  const segv = Tracee.launch(fixture('segv'));
  t.teardown(() => segv.state === 'traced' && segv.kill());
  segv.leader!.cont();
  t.match(await segv.leader!.nextEvent(), { type: 'signal', signal: 11 });
  segv.dropPendingSignals();
  t.equal(segv.leader!.pendingSignal, 0);
  segv.leader!.cont(); // the faulting load runs again and faults again: the SIGSEGV was not delivered
  t.match(await segv.leader!.nextEvent(), { type: 'signal', signal: 11 });
  segv.kill();
  t.equal((await segv.ended()).signal, 9);
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

t.test('a path and arguments given as bytes reach execve as they are, UTF-8 or not', async (t) => {
  const out = captureFile();
  t.teardown(out.close);
  const notUtf8 = Buffer.from([0x66, 0xff, 0xfe, 0x80]);
  const subarray = Buffer.from('..é..').subarray(2, 4); // a Uint8Array view into a larger buffer: only its own bytes go
  const tracee = Tracee.launch(Buffer.from(fixture('showargs')), [notUtf8, 'plain', new Uint8Array([0xc3, 0x28]), subarray], {
    stdio: ['inherit', out.fd, 'inherit'],
  });
  tracee.leader!.cont();
  t.same(await tracee.ended(), { pid: tracee.pid, code: 0 });
  // captureFile reads as UTF-8; the bytes themselves are what is checked here.
  const printed = fs.readFileSync(`/proc/self/fd/${out.fd}`);
  const lines = ['argc=5\narg1=', notUtf8, '\narg2=plain\narg3=', Buffer.from([0xc3, 0x28]), '\narg4=é\n'];
  t.same([...printed], [...Buffer.concat(lines.map((l) => Buffer.from(l)))]);
});

t.test('planLaunch: bytes stay bytes, a byte name is searched in PATH as bytes, and a NUL is refused before any syscall', async (t) => {
  const plan = planLaunch(Buffer.from('sh'), [new Uint8Array([0xff])], { env: { PATH: '/nonexistent:/bin' } });
  t.ok(Buffer.isBuffer(plan.path) && plan.path.equals(Buffer.from('/bin/sh')), 'found in PATH, still a Buffer');
  t.ok(plan.argv.every(Buffer.isBuffer), 'argv[0] (the name as given) and the argument are Buffers');
  t.same(
    plan.argv.map((a) => [...Buffer.from(a)]),
    [[...Buffer.from('sh')], [0xff]],
  );
  t.same(planLaunch('/bin/sh', ['x'], {}).argv, ['/bin/sh', 'x'], 'strings stay strings');
  for (const bad of [Buffer.from([0x61, 0, 0x62]), 'a\0b']) {
    t.throws(() => Tracee.launch(fixture('exitcode'), [bad]), TypeError, 'NUL in an argument');
    t.throws(() => Tracee.launch(typeof bad === 'string' ? bad : Buffer.concat([Buffer.from(fixture('exitcode')), bad])), TypeError, 'NUL in the path');
  }
  t.throws(() => Tracee.launch(Buffer.alloc(0)), TypeError, 'an empty path');
  t.throws(() => Tracee.launch('x', [new ArrayBuffer(1) as never]), TypeError, 'an ArrayBuffer is not bytes we take');
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
