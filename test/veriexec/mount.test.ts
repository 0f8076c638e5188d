/**
 * `veriexec mount`, the command, end to end: a table made by `veriexec gen`
 * over a source directory, the daemon serving it, programs run from the
 * mount. The oracle is the kernel: the program's fate (SIGBUS when a page it
 * touches no longer matches), read()'s EIO, open()'s EACCES, and what
 * /proc/self/mountinfo shows before and after.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import t, { type Test } from 'tap';
import { detachMount } from '../../lib/veriexec/fuse';
import { fixture } from '../helpers';

const CLI = path.resolve(__dirname, '..', '..', 'dist', 'veriexec', 'cli.js');
const PAGE = 4096;

interface Ran {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Every touch of the mount from this test goes through a child: this process never blocks on it. */
function run(file: string, args: string[] = []): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string; signal?: string }) | null;
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : -1) : 0, signal: e?.signal ?? null, stdout, stderr });
    });
  });
}

const mounted = (at: string) => fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${at} `);

/** A source with a program and its library, fingerprinted; a mount point; nothing left behind at teardown. */
function tree(t: Test) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hostkit-vxmount-'));
  const source = path.join(tmp, 'source');
  const at = path.join(tmp, 'mnt');
  fs.mkdirSync(source);
  fs.mkdirSync(at);
  t.teardown(() => {
    if (mounted(at)) detachMount(at);
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  for (const name of ['veriexec-hello', 'veriexec-pages', 'libvxlib.so']) fs.copyFileSync(fixture(name), path.join(source, name));
  const sig = path.join(tmp, 'sig');
  const gen = spawnSync(process.execPath, [CLI, 'gen', source, '-o', sig], { encoding: 'utf8' });
  if (gen.status !== 0) throw new Error(gen.stderr);
  fs.writeFileSync(path.join(source, 'notes.txt'), 'not listed\n');
  return { source, at, sig };
}

async function serve(t: Test, sig: string, source: string, at: string, ...extra: string[]) {
  const daemon: ChildProcess = spawn(process.execPath, [CLI, 'mount', '-f', sig, source, at, '--json', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(daemon, 'exit');
  t.teardown(async () => {
    if (daemon.exitCode === null && daemon.signalCode === null) {
      daemon.kill('SIGTERM');
      await exited;
    }
  });
  const records: { event: string; path: string; page?: number; reason: string; pid?: number }[] = [];
  const lines: string[] = [];
  readline.createInterface({ input: daemon.stdout! }).on('line', (l) => records.push(JSON.parse(l)));
  await new Promise<void>((resolve, reject) => {
    readline.createInterface({ input: daemon.stderr! }).on('line', (l) => {
      lines.push(l);
      if (/ verified at /.test(l)) resolve();
    });
    daemon.once('exit', (code) => reject(new Error(`veriexec mount exited ${code}: ${lines.join('\n')}`)));
  });
  return { daemon, records, lines, exited };
}

/** veriexec-pages from the mount (through sh, so no spawn of ours waits on the server): pid, the page of its middle rodata. */
async function startPages(file: string) {
  const child = spawn('/bin/sh', ['-c', 'exec "$0"', file], { stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<{ signal: string | null }>((resolve) => child.on('exit', (_, signal) => resolve({ signal })));
  const lines = readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async () => (await lines.next()).value as string;
  const pid = Number(/^ready (\d+)$/.exec(await next())![1]);
  const page = Number(/^page (\d+)$/.exec(await next())![1]);
  return { pid, page, next, send: (l: string) => child.stdin!.write(`${l}\n`), exited, kill: () => child.kill('SIGKILL') };
}

t.test('programs run from the mount; a page changed underneath one is SIGBUS for it, EIO for read(), and one log line', async (t) => {
  const { source, at, sig } = tree(t);
  const d = await serve(t, sig, source, at);
  t.ok(mounted(at), 'mounted');
  t.match(d.lines[0], /no fs-verity on the source|fs-verity is available/, 'says whether the kernel has fs-verity for the source');
  const status = spawnSync(process.execPath, [CLI, 'status', '--json'], { encoding: 'utf8' });
  t.ok(JSON.parse(status.stdout).mounts.includes(at), 'status lists the mount');

  const hello = await run('/bin/sh', ['-c', 'exec "$0"', path.join(at, 'veriexec-hello')]);
  t.equal(hello.code, 0, hello.stderr);
  t.match(hello.stdout, /greetings from libvxlib/, 'its library came through the mount too');

  const a = await startPages(path.join(at, 'veriexec-pages'));
  t.teardown(a.kill);
  const b = await startPages(path.join(at, 'veriexec-pages'));
  t.teardown(b.kill);
  a.send('touch');
  t.match(await a.next(), /^sum /, 'the page as listed');
  // One byte of that page changed in the source, in place: the daemon sees it and drops the file's cached pages, mapped ones too.
  const fd = fs.openSync(path.join(source, 'veriexec-pages'), 'r+');
  fs.writeSync(fd, Buffer.from([0x5b]), 0, 1, a.page * PAGE + 7);
  fs.closeSync(fd);
  for (let i = 0; i < 500 && !d.records.some((r) => r.event === 'evicted' && r.path === 'veriexec-pages'); i++) await new Promise((r) => setTimeout(r, 10));
  t.ok(
    d.records.some((r) => r.event === 'evicted'),
    'the daemon evicted the changed file',
  );
  a.send('touch');
  t.equal((await a.exited).signal, 'SIGBUS', 'the program touching the changed page dies');
  b.send('ping');
  t.equal(await b.next(), 'pong', 'the other one, which did not touch it, runs on');
  t.ok(
    d.records.some((r) => r.event === 'denied' && r.path === 'veriexec-pages' && r.page === a.page && r.pid === a.pid),
    'a JSON record names the file, the page and the pid',
  );
  t.ok(
    d.lines.some((l) => l.startsWith(`veriexec: refused page ${a.page} of "veriexec-pages" for pid ${a.pid}`)),
    'and a log line',
  );
  const dd = await run('dd', [`if=${path.join(at, 'veriexec-pages')}`, 'bs=4096', `skip=${a.page}`, 'count=1', 'of=/dev/null', 'status=none']);
  t.match(dd.stderr, /Input\/output error/);
  t.match((await run('cat', [path.join(at, 'notes.txt')])).stderr, /Permission denied/, 'a file the table does not list cannot be opened');

  d.daemon.kill('SIGTERM');
  await d.exited;
  t.notOk(mounted(at), 'SIGTERM unmounts');
  t.match(d.lines.at(-1), /unmounted .*pages checked, [1-9]\d* refused/);
});

t.test('--unlisted read serves files the table does not list, unverified; a killed server leaves an ENOTCONN mount to detach', async (t) => {
  const { source, at, sig } = tree(t);
  const d = await serve(t, sig, source, at, '--unlisted', 'read');
  t.equal((await run('cat', [path.join(at, 'notes.txt')])).stdout, 'not listed\n');
  d.daemon.kill('SIGKILL');
  await d.exited;
  t.match((await run('ls', [at])).stderr, /Transport endpoint is not connected/, 'the mount stays, dead');
  t.ok(detachMount(at), 'detachMount() removes it');
  t.notOk(mounted(at));
});

t.test('bad input: a malformed table, a source that is not there, a mount point in use', async (t) => {
  const { source, at, sig } = tree(t);
  const bad = `${sig}.bad`;
  fs.writeFileSync(bad, `${fs.readFileSync(sig, 'utf8')}/x sha256 zz file 1 00\n`);
  const r = spawnSync(process.execPath, [CLI, 'mount', '-f', bad, source, at], { encoding: 'utf8', timeout: 10_000 });
  t.equal(r.status, 1);
  t.match(r.stderr, /sig\.bad:\d+: the fingerprint is not 64 hex digits/);
  t.notOk(mounted(at), 'nothing was mounted');
  const none = spawnSync(process.execPath, [CLI, 'mount', '-f', sig, path.join(source, 'nope'), at], { encoding: 'utf8', timeout: 10_000 });
  t.equal(none.status, 1);
  t.match(none.stderr, /ENOENT/);
  t.equal(spawnSync(process.execPath, [CLI, 'mount', '-f', sig, source], { encoding: 'utf8' }).status, 2, 'usage: MNT missing');
});
