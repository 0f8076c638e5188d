/**
 * `veriexec enforce`, the daemon, end to end: a signatures file made by
 * `veriexec gen`, real programs, scripts and libraries on a tmpfs of the
 * test's own (the only filesystem marked), tampered with, renamed over and
 * hard-linked, at each strict level. The oracle is the kernel: whether
 * execve and dlopen succeed, and the daemon's own log of each decision.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import t, { type Test } from 'tap';
import { fixture, sh, tmpfs } from '../helpers';

const CLI = path.resolve(__dirname, '..', '..', 'dist', 'veriexec', 'cli.js');

interface Record_ {
  kind: string;
  verdict: string;
  path: string;
  reason?: string;
}

/** A tree on a fresh tmpfs: two programs, a script, a library and its loader; fingerprinted into DIR/../sig. */
function world(t: Test) {
  const dir = tmpfs(t);
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  const put = (name: string, from: string) => {
    const file = path.join(bin, name);
    fs.copyFileSync(from, file);
    fs.chmodSync(file, 0o755);
    return file;
  };
  const files = {
    echo: put('echo', '/bin/echo'),
    cat: put('cat', '/bin/cat'),
    loader: put('loader', fixture('veriexec-dlopen')),
    lib: path.join(bin, 'libveriexec.so'),
    script: path.join(bin, 'hello.sh'),
  };
  fs.copyFileSync(fixture('libveriexec.so'), files.lib);
  fs.writeFileSync(files.script, '#!/bin/sh\necho script ran\n', { mode: 0o755 });
  const sig = `${dir}.sig`;
  t.teardown(() => {
    fs.rmSync(sig, { force: true });
    fs.rmSync(`${sig}.pages`, { force: true });
  });
  const gen = spawnSync(process.execPath, [CLI, 'gen', dir, '-o', sig], { encoding: 'utf8' });
  if (gen.status !== 0) throw new Error(`veriexec gen failed: ${gen.stderr}`);
  return { dir, bin, sig, files };
}

/** Starts the daemon on `dir` and waits for it to say it enforces; its records as they come. */
async function enforce(t: Test, sig: string, dir: string, level: number) {
  const daemon: ChildProcess = spawn(process.execPath, [CLI, 'enforce', '-f', sig, '--level', String(level), '--watch', dir, '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(daemon, 'exit');
  t.teardown(async () => {
    if (daemon.exitCode === null && daemon.signalCode === null) {
      daemon.kill('SIGTERM');
      await exited;
    }
  });
  const records: Record_[] = [];
  const lines: string[] = [];
  readline.createInterface({ input: daemon.stdout! }).on('line', (l) => records.push(JSON.parse(l)));
  const errLines = readline.createInterface({ input: daemon.stderr! });
  const ready = new Promise<void>((resolve, reject) => {
    errLines.on('line', (l) => {
      lines.push(l);
      if (l.startsWith('veriexec: enforcing')) resolve();
    });
    daemon.once('exit', (code) => reject(new Error(`veriexec enforce exited ${code}: ${lines.join('\n')}`)));
  });
  await ready;
  const stop = async () => {
    daemon.kill('SIGTERM');
    await exited;
  };
  return { records, lines, stop, reload: () => daemon.kill('SIGHUP') };
}

/** Flips a byte in the middle of a file, in place (same inode, same size). */
function tamper(file: string): void {
  const fd = fs.openSync(file, 'r+');
  const at = Math.floor(fs.fstatSync(fd).size / 2);
  const b = Buffer.alloc(1);
  fs.readSync(fd, b, 0, 1, at);
  b[0]! ^= 0x55;
  fs.writeSync(fd, b, 0, 1, at);
  fs.closeSync(fd);
}

const DENIED = 126; // sh: found but could not be executed

t.test('level 1: tampered program, script and library are refused, each with a log line; unlisted ones still run', async (t) => {
  const { bin, sig, files, dir } = world(t);
  const unlisted = path.join(bin, 'unlisted');
  fs.copyFileSync('/bin/true', unlisted);
  fs.chmodSync(unlisted, 0o755);
  const d = await enforce(t, sig, dir, 1);
  t.same(await sh('"$@" ok', [files.echo]), { code: 0, out: 'ok\n' }, 'a listed program runs');
  t.same(await sh('"$@"', [files.loader, files.lib]), { code: 0, out: 'loaded 42\n' }, 'a listed library loads');
  t.equal((await sh('"$@"', [unlisted])).code, 0, 'level 1 lets an unlisted program run');

  tamper(files.echo);
  tamper(files.script);
  tamper(files.lib);
  t.equal((await sh('"$@" x', [files.echo])).code, DENIED, 'the tampered program is refused');
  t.equal((await sh('"$@"', [files.script])).code, DENIED, 'the tampered script is refused');
  const lib = await sh('"$@"', [files.loader, files.lib]);
  t.match(lib, { code: 3, out: /refused: .*Operation not permitted/ }, 'the tampered library is refused at its open');
  await d.stop();
  const denied = d.records.filter((r) => r.verdict === 'deny');
  for (const f of [files.echo, files.script, files.lib]) {
    t.ok(
      denied.some((r) => r.path === f && /fingerprint mismatch/.test(r.reason ?? '')),
      `a JSON record for ${path.basename(f)}`,
    );
    t.ok(
      d.lines.some((l) => l.startsWith(`veriexec: denied`) && l.includes(JSON.stringify(f)) && l.includes('fingerprint mismatch')),
      `a log line for ${path.basename(f)}`,
    );
  }
});

t.test('level 0 refuses nothing and logs what it would have refused', async (t) => {
  const { bin, sig, files, dir } = world(t);
  tamper(files.echo);
  tamper(files.lib);
  tamper(files.script);
  const unlisted = path.join(bin, 'unlisted');
  fs.copyFileSync('/bin/true', unlisted);
  fs.chmodSync(unlisted, 0o755);
  const d = await enforce(t, sig, dir, 0);
  t.equal((await sh('"$@" x', [files.echo])).code, 0);
  t.equal((await sh('"$@"', [files.loader, files.lib])).code, 0);
  t.not((await sh('"$@"', [files.script])).code, DENIED, 'the tampered script runs (what it prints is its own business)');
  t.equal((await sh('"$@"', [unlisted])).code, 0);
  await d.stop();
  t.notOk(
    d.records.some((r) => r.verdict === 'deny'),
    'nothing denied',
  );
  const would = (f: string, why: RegExp) => d.records.some((r) => r.path === f && r.verdict === 'allow' && why.test(r.reason ?? ''));
  t.ok(would(files.echo, /would deny: fingerprint mismatch/), 'the tampered program is logged');
  t.ok(would(files.lib, /would deny: fingerprint mismatch/), 'the tampered library is logged');
  t.ok(would(files.script, /would deny: fingerprint mismatch/), 'the tampered script is logged');
  t.ok(
    d.lines.some((l) => l.startsWith('veriexec: allowed exec of') && l.includes('would deny')),
    'as log lines too',
  );
  t.ok(would(unlisted, /would deny: not in the table/), 'the unlisted program is logged');
});

t.test('level 2: unlisted programs and libraries are refused; a hard link is a path the table does not list', async (t) => {
  const { bin, sig, files, dir } = world(t);
  const d = await enforce(t, sig, dir, 2);
  t.equal((await sh('"$@" x', [files.echo])).code, 0, 'listed: runs');
  const unlisted = path.join(bin, 'unlisted');
  fs.copyFileSync('/bin/true', unlisted);
  fs.chmodSync(unlisted, 0o755);
  t.equal((await sh('"$@"', [unlisted])).code, DENIED, 'an unlisted program is refused');
  const otherLib = path.join(bin, 'libother.so');
  fs.copyFileSync(files.lib, otherLib);
  t.match(await sh('"$@"', [files.loader, otherLib]), { code: 3 }, 'an unlisted library is refused, same bytes or not');
  const link = path.join(bin, 'linked-echo');
  fs.linkSync(files.echo, link);
  t.equal((await sh('"$@" x', [link])).code, DENIED, 'the same inode under an unlisted name is refused');
  t.equal((await sh('"$@" x', [files.echo])).code, 0, 'and still runs under its listed name');
  fs.writeFileSync(path.join(bin, 'notes.txt'), 'data\n');
  t.same(await sh('"$1" "$2"', [files.cat, path.join(bin, 'notes.txt')]), { code: 0, out: 'data\n' }, 'plain data is read');
  await d.stop();
});

t.test('a verdict never outlives the file: changed while cached, renamed over, renamed back', async (t) => {
  const { bin, sig, files, dir } = world(t);
  const d = await enforce(t, sig, dir, 1);
  t.equal((await sh('"$@" a', [files.echo])).code, 0);
  t.equal((await sh('"$@" b', [files.echo])).code, 0, 'twice: the second from the cache');
  // A listed file that no longer matches cannot even be opened to mend it (level 1 checks opens): it is renamed over instead.
  const saved = path.join(dir, 'saved-echo');
  fs.copyFileSync(files.echo, saved);
  tamper(files.echo);
  t.equal((await sh('"$@" c', [files.echo])).code, DENIED, 'changed in place after a cached allow: refused');
  const impostor = path.join(bin, '.new');
  fs.copyFileSync('/bin/true', impostor);
  fs.chmodSync(impostor, 0o755);
  fs.renameSync(impostor, files.echo);
  t.equal((await sh('"$@" e', [files.echo])).code, DENIED, 'another program renamed over a listed one: refused');
  fs.renameSync(saved, files.echo);
  t.equal((await sh('"$@" f', [files.echo])).code, 0, 'the right bytes renamed back (a new inode): allowed');

  await d.stop();
});

t.test('SIGHUP reads the table again: a script refused under the old one runs under the new one', async (t) => {
  // Both tables are made before enforcing: a listed file that no longer matches cannot be opened, by gen either.
  const { sig, files, dir } = world(t);
  const old = `${sig}.old`;
  t.teardown(() => fs.rmSync(old, { force: true }));
  fs.copyFileSync(sig, old);
  tamper(files.script);
  t.equal(spawnSync(process.execPath, [CLI, 'gen', dir, '-o', sig]).status, 0);
  const next = fs.readFileSync(sig);
  fs.copyFileSync(old, sig); // the page table holds both versions' stat keys; only the lines matter here
  const d = await enforce(t, sig, dir, 1);
  t.equal((await sh('"$@"', [files.script])).code, DENIED, 'refused under the old table');
  fs.writeFileSync(sig, next);
  d.reload();
  for (let i = 0; i < 250 && !d.lines.some((l) => l.startsWith('veriexec: reloaded')); i++) await new Promise((r) => setTimeout(r, 20));
  t.not((await sh('"$@"', [files.script])).code, DENIED, 'after SIGHUP the new table lists it as it is');
  fs.writeFileSync(sig, 'garbage\n');
  d.reload();
  for (let i = 0; i < 250 && !d.lines.some((l) => l.startsWith('veriexec: reload failed')); i++) await new Promise((r) => setTimeout(r, 20));
  t.ok(
    d.lines.some((l) => /reload failed, keeping the old table: .*:1: expected 6 fields/.test(l)),
    'a malformed table on reload is refused with its line, and the old one kept',
  );
  t.not((await sh('"$@"', [files.script])).code, DENIED, 'still enforcing the table it had');
  await d.stop();
});

t.test('level 3: no new file in a directory of listed files; elsewhere on the filesystem files are made as usual', async (t) => {
  const { bin, sig, dir } = world(t);
  const d = await enforce(t, sig, dir, 3);
  const made = await sh('echo x > "$1"', [path.join(bin, 'dropped')]);
  t.not(made.code, 0, 'creating a file beside the listed programs is refused');
  t.notOk(fs.existsSync(path.join(bin, 'dropped')) && fs.statSync(path.join(bin, 'dropped')).size > 0, 'nothing was written');
  fs.mkdirSync(path.join(dir, 'work'));
  t.equal((await sh('echo x > "$1"', [path.join(dir, 'work', 'data')])).code, 0, 'a directory without listed files is not locked');
  await d.stop();
  t.ok(
    d.records.some((r) => r.verdict === 'deny' && r.path === path.join(bin, 'dropped') && /lockdown/.test(r.reason ?? '')),
    'the refusal is logged',
  );
});

t.test('bad arguments: a malformed table is refused with its line before anything is marked', async (t) => {
  const { dir, sig } = world(t);
  fs.appendFileSync(sig, '/x sha256 12 direct 1 2\n');
  const r = spawnSync(process.execPath, [CLI, 'enforce', '-f', sig, '--watch', dir], { encoding: 'utf8', timeout: 10000 });
  t.equal(r.status, 1);
  t.match(r.stderr, /sig:\d+: the fingerprint is not 64 hex digits/);
  t.equal(spawnSync(process.execPath, [CLI, 'enforce', '-f', sig, '--level', '4'], { encoding: 'utf8' }).status, 2);
  t.equal(spawnSync(process.execPath, [CLI, 'enforce', '-f', sig, '--fail', 'maybe'], { encoding: 'utf8' }).status, 2);
});
