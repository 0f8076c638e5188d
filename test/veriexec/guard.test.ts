/**
 * hostkit/veriexec's fanotify engine against the real kernel. Every guard
 * marks a tmpfs of its own, never the root filesystem (a slow decider would
 * freeze this runner). Programs under the marks run through /bin/sh started
 * asynchronously: spawn waits for its child's execve, and an execve under a
 * mark waits for this very process's decision.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import t from 'tap';
import { type AccessEvent, type DecisionRecord, type GuardRecord, guard, type Verdict } from '../../lib/veriexec';
import { eventually, fixture, sh, tmpfs } from '../helpers';

const DIST = path.resolve(__dirname, '..', '..', 'dist', 'veriexec');

function program(dir: string, name: string): string {
  const file = path.join(dir, name);
  fs.copyFileSync('/bin/true', file);
  fs.chmodSync(file, 0o755);
  return file;
}

function script(dir: string, name: string, body = 'echo script ran'): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return file;
}

/** A decider that denies paths in `deny`, remembers what it was asked, and throws for `throwOn`. */
function recorder(deny: (e: AccessEvent) => boolean = () => false) {
  const asked: { kind: string; path: string; pid: number; exe: string | null }[] = [];
  return {
    asked,
    decide(e: AccessEvent): Verdict {
      asked.push({ kind: e.kind, path: e.path, pid: e.pid, exe: e.exe });
      return deny(e) ? { allow: false, reason: `${path.basename(e.path)} is not in the table` } : { allow: true };
    },
    count: (kind: string, file: string) => asked.filter((a) => a.kind === kind && a.path === file).length,
  };
}

t.test('a program on a marked filesystem runs or not as the decider says', async (t) => {
  const dir = tmpfs(t);
  const good = program(dir, 'good');
  const bad = program(dir, 'bad');
  const logged: GuardRecord[] = [];
  const d = recorder((e) => e.path === bad);
  const g = await guard({ paths: [dir], decider: d, log: (r) => logged.push(r) });
  t.teardown(() => g.close());
  t.equal(g.marks[0]!.scope, 'filesystem');
  t.same(await sh(good), { code: 0, out: '' }, 'allowed program ran');
  const denied = await sh(`${bad}; echo "status $?"`);
  t.match(denied.out, /Operation not permitted/, 'execve failed EPERM');
  t.match(denied.out, /status 126/);
  const record = logged.find((r) => r.type === 'decision') as DecisionRecord;
  t.match(record, { verdict: 'deny', kind: 'exec', path: bad, reason: 'bad is not in the table', cached: false });
  t.match(record.exe, /sh$/, 'exe is the program that called execve');
  t.ok(
    d.asked.some((a) => a.kind === 'exec' && a.path === good),
    'the decider saw the exec',
  );
  t.equal(g.stats().denied, 1);
});

t.test('a library on a marked filesystem is refused through its open event', async (t) => {
  const dir = tmpfs(t);
  const lib = path.join(dir, 'libveriexec.so');
  fs.copyFileSync(fixture('libveriexec.so'), lib);
  const loader = fixture('veriexec-dlopen');
  const d = recorder((e) => e.path === lib && e.kind === 'open');
  const g = await guard({ paths: [dir], decider: d, log: () => {} });
  t.teardown(() => g.close());
  const refused = await sh('"$@"', [loader, lib]);
  t.equal(refused.code, 3);
  t.match(refused.out, /refused: .*Operation not permitted/);
  t.equal(d.count('exec', lib), 0, 'a library load is no exec event');
  t.ok(
    d.asked.some((a) => a.kind === 'open' && a.path === lib && a.exe === loader),
    'the open was seen, by the loader',
  );
  await g.close();
  t.same(await sh('"$@"', [loader, lib]), { code: 0, out: 'loaded 42\n' }, 'loads once the guard is gone');
});

t.test('a script run by execve is seen as the exec of the script', async (t) => {
  const dir = tmpfs(t);
  const file = script(dir, 'hello.sh');
  const d = recorder();
  const g = await guard({ paths: [dir], decider: d, events: ['exec'] });
  t.teardown(() => g.close());
  t.same(await sh(file), { code: 0, out: 'script ran\n' });
  t.equal(d.count('exec', file), 1);
  const denyAll = await guard({ paths: [dir], decider: { decide: () => ({ allow: false, reason: 'no scripts' }) }, events: ['exec'], log: () => {} });
  t.match((await sh(file)).out, /Operation not permitted/, 'and refused as one');
  await denyAll.close();
});

t.test('the cache: one decision per file state, asked again after any change', async (t) => {
  const dir = tmpfs(t);
  const file = script(dir, 'cached.sh');
  const d = recorder();
  const g = await guard({ paths: [dir], decider: d, events: ['exec'] });
  t.teardown(() => g.close());
  await sh(file);
  await sh(file);
  t.equal(d.count('exec', file), 1, 'same file twice: asked once');
  t.equal(g.stats().nativeHits, 1, 'the second answered by the reader thread from the allow it remembered');

  fs.appendFileSync(file, '# changed in place\n');
  await sh(file);
  t.equal(d.count('exec', file), 2, 'changed in place: asked again');

  const replacement = script(dir, 'replacement.sh', 'echo replaced');
  fs.renameSync(replacement, file);
  t.equal((await sh(file)).out, 'replaced\n');
  t.equal(d.count('exec', file), 3, 'renamed over: asked again');

  const link = path.join(dir, 'linked.sh');
  fs.linkSync(file, link);
  await sh(link);
  t.equal(d.count('exec', link), 1, 'the new name is asked about');
  await sh(file);
  t.equal(d.count('exec', file), 4, 'hard-linked (ctime changed): the old name is asked again');
  await sh(file);
  t.equal(d.count('exec', file), 4, 'and then remembered');
  const s = g.stats();
  t.equal(s.cacheHits + s.nativeHits, 2);
  t.ok(s.deciderMs > 0 && s.savedMs > 0, 'time in the decider and saved by the cache are measured');
});

t.test("the reader thread's remembered allows: never a denial, never after clearCache(), never with no cache", async (t) => {
  const dir = tmpfs(t);
  const file = script(dir, 'remembered.sh');
  let deny = false;
  const asked: string[] = [];
  const decider = {
    decide: (e: AccessEvent): Verdict => {
      asked.push(e.path);
      return deny ? { allow: false, reason: 'now refused' } : { allow: true };
    },
  };
  const g = await guard({ paths: [dir], decider, events: ['exec'], log: () => {} });
  t.teardown(() => g.close());
  await sh(file);
  await sh(file);
  t.equal(asked.length, 1);
  t.equal(g.stats().nativeHits, 1);
  deny = true;
  g.clearCache();
  t.not((await sh(file)).code, 0, 'after clearCache() the decider is asked again, and its denial holds');
  t.not((await sh(file)).code, 0, 'a denial is not remembered by the reader thread');
  t.equal(asked.length, 2, 'the second denial came from the JS cache');
  t.equal(g.stats().nativeHits, 1);
  await g.close();

  // Both kinds marked: an exec's event and the open that follows are remembered apart (they once shared a slot and evicted each other).
  const both = await guard({ paths: [dir], decider: { decide: () => ({ allow: true }) }, log: () => {} });
  for (let i = 0; i < 3; i++) await sh(file);
  const b = both.stats();
  t.ok(
    b.nativeHits >= 4 && b.events <= 3,
    `exec and open both answered by the reader thread after the first run (${b.events} to the decider, ${b.nativeHits} on the thread)`,
  );
  await both.close();

  const uncached = await guard({ paths: [dir], decider: { decide: () => ({ allow: true }) }, events: ['exec'], cacheSize: 0 });
  t.teardown(() => uncached.close());
  await sh(file);
  await sh(file);
  t.equal(uncached.stats().nativeHits, 0, 'cacheSize 0: nothing remembered anywhere');
  t.equal(uncached.stats().events, 2);
  const untrusted = await guard({ paths: [dir], decider: { decide: () => ({ allow: true, cache: false }) }, events: ['exec'] });
  await uncached.close();
  t.teardown(() => untrusted.close());
  await sh(file);
  await sh(file);
  t.equal(untrusted.stats().nativeHits + untrusted.stats().cacheHits, 0, 'an allow marked cache: false is asked for every time');
});

t.test('a decider that throws denies that event and logs why', async (t) => {
  const dir = tmpfs(t);
  const file = program(dir, 'thrown');
  const logged: GuardRecord[] = [];
  let calls = 0;
  const g = await guard({
    paths: [dir],
    events: ['exec'],
    log: (r) => logged.push(r),
    decider: {
      decide() {
        calls++;
        throw new Error('table unreadable');
      },
    },
  });
  t.teardown(() => g.close());
  t.match((await sh(file)).out, /Operation not permitted/);
  t.match(logged, [
    { type: 'error', message: /decider threw on exec of .*thrown: table unreadable/ },
    { type: 'decision', verdict: 'deny', reason: 'decider error: table unreadable' },
  ]);
  await sh(file);
  t.equal(calls, 2, 'a thrown denial is not cached');
  t.equal(g.stats().deciderErrors, 2);
});

t.test("a denial's errno, where the group is FAN_CLASS_PRE_CONTENT", async (t) => {
  const dir = tmpfs(t);
  const file = program(dir, 'eio');
  const g = await guard({ paths: [dir], events: ['exec'], log: () => {}, decider: { decide: () => ({ allow: false, reason: 'x', errno: 'EIO' }) } });
  t.teardown(() => g.close());
  const r = await sh(file);
  if (g.group.preContent) t.match(r.out, /Input\/output error/);
  else t.match(r.out, /Operation not permitted/, 'FAN_CLASS_CONTENT: plain FAN_DENY');
});

t.test('own events are answered at once, and close() removes every mark', async (t) => {
  const dir = tmpfs(t);
  const file = program(dir, 'after');
  const d = recorder(() => true);
  const g = await guard({ paths: [dir], decider: d, log: () => {} });
  fs.readFileSync(file); // a synchronous open on the main thread: answered by the reader thread
  await eventually(() => g.stats().ownEvents >= 1, 'our own open to be allowed');
  t.equal(d.asked.length, 0, 'the decider never sees our own opens');
  const fdinfo = fs.readFileSync(`/proc/self/fdinfo/${g.group.fd}`, 'utf8');
  t.match(fdinfo, /fanotify sdev:/, 'a filesystem mark while open');
  await g.close();
  t.same(await sh(file), { code: 0, out: '' }, 'a program the decider would refuse runs: no mark left');
  t.equal(d.asked.length, 0);
});

/** A guard in a child process: prints `ready`, then one JSON line per decision it starts; hangs on files named hang*. */
function daemon(dir: string, failMode: 'open' | 'closed', socket: string) {
  const code = `
    const { guard } = require(${JSON.stringify(DIST)});
    (async () => {
      const g = await guard({ paths: [${JSON.stringify(dir)}], events: ['exec'], failMode: ${JSON.stringify(failMode)}, socket: ${JSON.stringify(socket)}, log: () => {},
        decider: { decide(e) {
          console.log(JSON.stringify({ deciding: e.path }));
          return require('path').basename(e.path).startsWith('hang') ? new Promise(() => {}) : { allow: true };
        } } });
      console.log(JSON.stringify({ ready: true, supervisor: g.supervisorPid }));
      process.stdin.on('data', async () => { await g.close(); console.log(JSON.stringify({ closed: true })); process.exit(0); });
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: child.stdout! });
  const seen: Record<string, unknown>[] = [];
  lines.on('line', (l) => seen.push(JSON.parse(l)));
  const next = async (what: (r: Record<string, unknown>) => boolean, name: string) => {
    await eventually(() => seen.some(what), name, 30_000);
    return seen.find(what)!;
  };
  return { child, next };
}

t.test("failMode 'open': the decider killed mid-decision, the waiting exec proceeds", async (t) => {
  const dir = tmpfs(t);
  const hang = program(dir, 'hang');
  const d = daemon(dir, 'open', path.join(dir, 'unused.sock'));
  t.teardown(() => d.child.kill('SIGKILL'));
  await d.next((r) => r.ready === true, 'the daemon to start');
  const run = sh(`${hang}; echo "status $?"`);
  await d.next((r) => r.deciding === hang, 'the daemon to read the exec');
  d.child.kill('SIGKILL');
  t.equal((await run).out, 'status 0\n', 'the kernel allowed it when the group closed');
});

t.test("failMode 'closed': a supervisor denies what the dead decider held, and events wait for the next one", async (t) => {
  const dir = tmpfs(t);
  const sockDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hostkit-veriexec-sock-'));
  const socket = path.join(sockDir, 'guard.sock');
  const hang = program(dir, 'hang');
  const later = program(dir, 'later');
  const first = daemon(dir, 'closed', socket);
  t.teardown(() => first.child.kill('SIGKILL'));
  const ready = await first.next((r) => r.ready === true, 'the daemon to start');
  const supervisor = ready.supervisor as number;
  t.ok(supervisor > 0, 'a supervisor runs');
  t.teardown(() => {
    try {
      process.kill(supervisor, 'SIGKILL');
    } catch {
      // exited as told
    }
    fs.rmSync(sockDir, { recursive: true, force: true });
  });

  const held = sh(`${hang}; echo "status $?"`);
  await first.next((r) => r.deciding === hang, 'the daemon to read the exec');
  first.child.kill('SIGKILL');
  const heldOut = (await held).out;
  t.match(heldOut, /Operation not permitted/, 'the supervisor denied the event the dead decider held');
  t.match(heldOut, /status 126/);

  // No decider now: the group lives on in the supervisor, so this exec waits in its queue...
  const waiting = sh(`${later}; echo "status $?"`);
  const second = daemon(dir, 'closed', socket);
  t.teardown(() => second.child.kill('SIGKILL'));
  const again = await second.next((r) => r.ready === true, 'the second daemon to start');
  t.equal(again.supervisor, supervisor, 'the second decider took the same supervisor group');
  // ...until the next decider reads it: it was not allowed meanwhile.
  await second.next((r) => r.deciding === later, 'the second daemon to decide the queued exec');
  t.equal((await waiting).out, 'status 0\n');

  second.child.stdin!.write('close\n');
  await second.next((r) => r.closed === true, 'the second daemon to close');
  await eventually(
    () => !fs.existsSync(`/proc/${supervisor}`) || fs.readFileSync(`/proc/${supervisor}/stat`, 'utf8').includes(') Z'),
    'the supervisor to exit',
  );
  t.same(await sh(hang), { code: 0, out: '' }, 'no mark left once both are gone');
});
