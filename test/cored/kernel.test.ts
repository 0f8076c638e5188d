/**
 * cored with the real kernel: each test installs the handler as
 * core_pattern with its own config, crashes a fixture and checks what the
 * sinks got. Every test that changes core_pattern lives in this one file
 * (tap runs files in parallel, tests within a file one after another), and
 * the teardown puts core_pattern, core_pipe_limit and suid_dumpable back
 * even when a test fails.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import t from 'tap';
import { openCore } from '../../lib/coredump';
import { install, uninstall, readState } from '../../lib/coredump/cored/kernel-pattern';
import type { CrashRecord } from '../../lib/coredump/cored/record';
import type { IndexEntry } from '../../lib/coredump/cored/store';
import { fixture, lockCoreSettings } from '../helpers';
import { readEntries, waitFor } from './store-watch';
import { UNDELIVERED, kernelLogFromNow } from './kernel-log';
import { gdbOnCore, requireGdb } from '../coredump/gdb';

requireGdb();
// Waiting for the core-settings lock (the socket-mode suite holds it too) counts against the file's time.
t.setTimeout(900_000);
const zstd = spawnSync('zstd', ['--version']);
if (zstd.status !== 0) throw new Error('zstd is required by the cored tests (apt-get install zstd)');

const CLI = path.resolve(__dirname, '..', '..', 'dist', 'coredump', 'cli.js');
if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: build with tsc first (npm test does)`);
const CRASH = fixture('cored-crash');

const PATTERN = '/proc/sys/kernel/core_pattern';
const PIPE_LIMIT = '/proc/sys/kernel/core_pipe_limit';
const SUID = '/proc/sys/fs/suid_dumpable';
let unlock: (() => void) | undefined;
const readSaved = () => ({ pattern: fs.readFileSync(PATTERN, 'utf8'), limit: fs.readFileSync(PIPE_LIMIT, 'utf8'), suid: fs.readFileSync(SUID, 'utf8') });
let saved = readSaved();
t.before(async () => {
  unlock = await lockCoreSettings();
  saved = readSaved(); // what was there once nobody else holds the lock
});
// Short: the whole pattern, config path included, must fit the kernel's 127 bytes.
const root = fs.mkdtempSync('/tmp/cored-');
const mounts: string[] = [];
t.teardown(() => {
  fs.writeFileSync(PATTERN, saved.pattern);
  fs.writeFileSync(PIPE_LIMIT, saved.limit);
  fs.writeFileSync(SUID, saved.suid);
  for (const m of mounts) spawnSync('umount', ['-l', m]);
  fs.rmSync(root, { recursive: true, force: true });
  unlock?.();
});

let configCount = 0;
/** Installs cored with `toml` as its config; returns the config's directory. */
function installWith(toml: string): string {
  const dir = path.join(root, `c${configCount++}`);
  fs.mkdirSync(dir, { mode: 0o755 });
  const file = path.join(dir, 'c.toml');
  fs.writeFileSync(file, toml.replaceAll('@DIR', dir));
  install({ config: file, stateDir: path.join(dir, 'state'), script: CLI, mode: 'pipe', pipeLimit: 64 });
  return dir;
}

/** Runs the fixture to its crash; with core_pipe_limit > 0 the kernel reaps it only after the handler exited. */
async function crash(args: string[], binary = CRASH, options: { uid?: number } = {}): Promise<number> {
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'inherit'], ...options });
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  if (signal === null) throw new Error(`${binary} exited with ${code} instead of crashing`);
  return child.pid!;
}

function entryFor(store: string, pid: number): Promise<IndexEntry> {
  return waitFor(`the index entry for pid ${pid} in ${store}`, () => readEntries(store).find((e) => e.pid === pid));
}

function recordFor(dir: string, id: string): CrashRecord {
  return JSON.parse(fs.readFileSync(path.join(dir, `${id}.json`), 'utf8')) as CrashRecord;
}

t.test('install writes the pattern, status reports it, uninstall restores the previous one', async (t) => {
  const before = fs.readFileSync(PATTERN, 'utf8').trim();
  const dir = installWith('[store]\ndirectory = "@DIR/store"\n');
  const pattern = fs.readFileSync(PATTERN, 'utf8').trim();
  t.equal(pattern, `|${dir}/state/cored-handler %P %I %s %t %u %g %d %c %e %F`, 'the pattern names the launcher, short whatever the install path');
  const launcher = fs.statSync(path.join(dir, 'state', 'cored-handler'));
  t.equal(launcher.mode & 0o777, 0o700, 'the launcher is root-only');
  t.match(fs.readFileSync(path.join(dir, 'state', 'cored-handler'), 'utf8'), `"handle","-c","${dir}/c.toml"`);
  t.equal(fs.readFileSync(PIPE_LIMIT, 'utf8').trim(), '64');
  const status = spawnSync(process.execPath, [CLI, 'status', '--state', path.join(dir, 'state')], { encoding: 'utf8' });
  t.equal(status.status, 0, status.stderr);
  t.match(status.stdout, /cored is installed in pipe mode with .*c\.toml/);
  const test = spawnSync(process.execPath, [CLI, 'test', '--state', path.join(dir, 'state')], { encoding: 'utf8' });
  t.equal(test.status, 0, test.stderr);
  t.match(test.stdout, /SIGQUIT.*\n {2}store: .*\.core\.zst/);
  uninstall(path.join(dir, 'state'));
  t.equal(fs.readFileSync(PATTERN, 'utf8').trim(), before);
  t.equal(readState(path.join(dir, 'state')), undefined);
  t.throws(() => install({ config: path.join(dir, 'missing.toml'), stateDir: path.join(dir, 'state'), script: CLI }), /cannot read/);
  t.equal(fs.readFileSync(PATTERN, 'utf8').trim(), before, 'a bad config is refused before core_pattern changes');
});

t.test('one crash, five sinks: raw sparse, zstd, a gzip pipeline, HTTP PUT and a unix socket get the same core', async (t) => {
  const received: { http?: Buffer; headers?: http.IncomingHttpHeaders; socket?: Buffer } = {};
  const server = http.createServer(async (req, res) => {
    const parts: Buffer[] = [];
    for await (const p of req) parts.push(p as Buffer);
    received.http = Buffer.concat(parts);
    received.headers = req.headers;
    res.writeHead(201).end('stored\n');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const sockPath = path.join(root, 's.sock');
  const sockServer = net.createServer(async (conn) => {
    const parts: Buffer[] = [];
    for await (const p of conn) parts.push(p as Buffer);
    received.socket = Buffer.concat(parts);
  });
  sockServer.listen(sockPath);
  await once(sockServer, 'listening');
  t.teardown(() => {
    server.close();
    sockServer.close();
  });

  const dir = installWith(`
# every sink type at once
[store]
directory = "@DIR/raw"

[[sink]]
name = "raw"
type = "directory"
format = "raw"

[[sink]]
name = "zst"
type = "directory"
path = "@DIR/zst"

[[sink]]
name = "pipeline"
type = "command"
argv = ["/bin/sh", "-c", "gzip -1 > @DIR/piped.gz; printf %s \\"$CORED_COMM\\" > @DIR/comm"]

[[sink]]
name = "upload"
type = "http"
url = "http://127.0.0.1:${port}/cores/{id}"
header = ["X-Token: abc"]

[[sink]]
name = "socket"
type = "socket"
address = "${sockPath}"
`);
  // A hostile name and path: quotes, $(...), ; rm, a newline, ../ and spaces.
  const hostileDir = path.join(dir, `x $(touch pwned); rm -rf .. '"\nz`);
  fs.mkdirSync(hostileDir);
  const hostileExe = path.join(hostileDir, 'a b;$(id)');
  fs.copyFileSync(CRASH, hostileExe);
  fs.chmodSync(hostileExe, 0o755);
  const comm = `a;$(touch p)\n'"`;
  const pid = await crash(['-n', comm, '-t', '3'], hostileExe);

  const entry = await entryFor(path.join(dir, 'raw'), pid);
  t.equal(entry.exe, hostileExe, 'exe from /proc, byte for byte');
  t.equal(entry.comm, comm.slice(0, 15), 'comm as the kernel passed it (%e), one argument despite spaces');
  t.same(entry.sinks.map((s) => [s.name, s.ok, s.error]).sort(), [
    ['pipeline', true, undefined],
    ['raw', true, undefined],
    ['socket', true, undefined],
    ['upload', true, undefined],
    ['zst', true, undefined],
  ]);
  for (const where of ['/', dir, hostileDir]) {
    t.notOk(fs.existsSync(path.join(where, 'pwned')) || fs.existsSync(path.join(where, 'p')), `nothing from the crash reached a shell (${where})`);
  }
  t.equal(fs.readFileSync(path.join(dir, 'comm'), 'utf8'), comm.slice(0, 15), 'CORED_COMM carries the name intact');

  const rawFile = path.join(dir, 'raw', `${entry.id}.core`);
  const raw = fs.readFileSync(rawFile);
  const st = fs.statSync(rawFile);
  t.equal(st.mode & 0o777, 0o600, 'root-only core');
  t.equal(raw.length, entry.size);
  const core = openCore(rawFile);
  t.equal(core.threads.length, 4, 'the crashing thread and three blockers');
  t.equal(core.threads[0]!.tid, pid);
  t.equal(core.threads[0]!.signal, 11);
  t.same(zlib.gunzipSync(fs.readFileSync(path.join(dir, 'piped.gz'))), raw, 'the gzip pipeline got every byte');
  const unz = spawnSync('zstd', ['-d', '-c', path.join(dir, 'zst', `${entry.id}.core.zst`)], { maxBuffer: 1 << 30 });
  t.same(unz.stdout, raw, 'zstd sink decompresses to the same core');
  // cored is done once the index says so; our receiving ends may still be reading the last bytes.
  await waitFor('the HTTP sink to finish', () => received.http);
  await waitFor('the socket sink to finish', () => received.socket);
  t.same(received.http, raw, 'the HTTP server got the exact bytes');
  t.equal(received.headers!['x-token'], 'abc');
  t.equal(received.headers!['content-length'], String(raw.length), 'length from the program headers (S3 wants it)');
  t.equal(decodeURIComponent(received.headers!['x-cored-comm'] as string), comm.slice(0, 15));
  const nl = received.socket!.indexOf(10);
  t.equal(JSON.parse(received.socket!.subarray(0, nl).toString()).pid, pid, 'socket: metadata line first');
  t.same(received.socket!.subarray(nl + 1), raw, 'socket: then the core');

  const record = recordFor(path.join(dir, 'raw'), entry.id);
  t.equal(record.process.pidVerified, true, 'the pidfd confirmed /proc was the crashing process');
  t.same(record.process.cmdline, [hostileExe, '-n', comm, '-t', '3']);
  t.equal(record.core!.threads.length, 4);
  t.equal(record.core!.crashingThread!.tid, pid);
  t.equal(record.core!.siginfo!.addr, '0x0', 'SIGSEGV at NULL');
  t.ok(
    record.core!.buildIds.some((b) => b.path === hostileExe),
    'build-id of the executable',
  );
  t.match(record.process.maps, /a b;\$\(id\)/);

  const gdb = gdbOnCore(hostileExe, rawFile, ['bt']);
  t.match(gdb, /crash_here/, 'gdb loads the stored core and finds the crash');
  const info = spawnSync(process.execPath, [CLI, 'info', '--store', path.join(dir, 'zst'), entry.id], { encoding: 'utf8' });
  t.equal(info.status, 0, info.stderr);
  t.match(info.stdout, /threads: {3}4/);
  t.match(info.stdout, /#\d+ .*crash_here/, 'info shows a backtrace from the compressed core');
  const list = spawnSync(process.execPath, [CLI, 'list', '--json', '--store', path.join(dir, 'raw')], { encoding: 'utf8' });
  t.equal((JSON.parse(list.stdout) as IndexEntry[]).filter((e) => e.pid === pid).length, 1);
  const dumped = path.join(dir, 'dumped.core');
  const dump = spawnSync(process.execPath, [CLI, 'dump', '--store', path.join(dir, 'zst'), entry.id, '-o', dumped], { encoding: 'utf8' });
  t.equal(dump.status, 0, dump.stderr);
  t.same(fs.readFileSync(dumped), raw, 'cored dump decompresses to the same bytes');
  t.ok(fs.statSync(dumped).blocks * 512 < raw.length, 'and writes zero pages as holes');
  const gdbRun = spawnSync(process.execPath, [CLI, 'gdb', '--store', path.join(dir, 'zst'), entry.id, '--', '-batch', '-nx', '-ex', 'info threads'], {
    encoding: 'utf8',
  });
  t.equal(gdbRun.status, 0, gdbRun.stderr);
  t.match(gdbRun.stdout, /4 +Thread/, 'cored gdb opens the compressed core with its executable');
});

t.test('a symlink and a FIFO planted in a world-writable output directory are never followed', async (t) => {
  const dir = installWith(`
[store]
directory = "@DIR/out"
[[sink]]
type = "directory"
format = "raw"
`);
  const out = path.join(dir, 'out');
  fs.mkdirSync(out);
  fs.chmodSync(out, 0o1777);
  const victim = path.join(dir, 'victim');
  fs.writeFileSync(victim, 'precious\n');
  fs.symlinkSync(victim, path.join(out, 'index.jsonl'));
  // The final names are predictable (time.pid.comm): plant them for the pid the fixture will get.
  const child = spawn(CRASH, ['-w', '-n', 'planted'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  const pid = Number(/ready (\d+)/.exec(line.toString())![1]);
  const now = Math.floor(Date.now() / 1000);
  for (let time = now - 1; time <= now + 3; time++) {
    fs.symlinkSync(victim, path.join(out, `${time}.${pid}.planted.core`));
    spawnSync('mkfifo', [path.join(out, `${time}.${pid}.planted.json`)]);
  }
  child.stdin!.end('go\n');
  await once(child, 'exit');
  await waitFor('the log line', () => (spawnSync('dmesg', [], { encoding: 'utf8' }).stdout.includes(`pid ${pid} "planted"`) ? true : undefined));
  t.equal(fs.readFileSync(victim, 'utf8'), 'precious\n', 'the victim file is untouched');
  const stored = fs.readdirSync(out).filter((f) => f.includes(`.${pid}.`) && f.endsWith('.core') && fs.lstatSync(path.join(out, f)).isFile());
  t.equal(stored.length, 1, 'the core replaced the planted symlink with a regular file');
  const json = stored[0]!.replace(/\.core$/, '.json');
  t.ok(fs.lstatSync(path.join(out, json)).isFile(), 'metadata replaced the FIFO');
  t.equal(openCore(path.join(out, stored[0]!)).threads[0]!.tid, pid);
  t.equal(fs.readdirSync(out).filter((f) => f.endsWith('.partial')).length, 0, 'no temporary files left');
  const kmsg = spawnSync('dmesg', [], { encoding: 'utf8' }).stdout;
  t.match(kmsg, new RegExp(`cored\\[\\d+\\]: pid ${pid} .*index FAILED: .*ELOOP`), 'the refused index is logged');
});

t.test('a full filesystem fails one sink cleanly; the core accepted elsewhere is kept', async (t) => {
  const dir = installWith(`
[store]
directory = "@DIR/store"
[[sink]]
name = "tiny"
type = "directory"
path = "@DIR/tiny"
format = "raw"
[[sink]]
name = "store"
type = "directory"
format = "zstd"
`);
  const tiny = path.join(dir, 'tiny');
  fs.mkdirSync(tiny);
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', tiny], { encoding: 'utf8' });
  if (mount.status !== 0) throw new Error(`cannot mount a tmpfs: ${mount.stderr}`);
  mounts.push(tiny);
  const pid = await crash(['-m', '4', '-r']);
  const entry = await entryFor(path.join(dir, 'store'), pid);
  const tinyResult = entry.sinks.find((s) => s.name === 'tiny')!;
  const storeResult = entry.sinks.find((s) => s.name === 'store')!;
  t.equal(tinyResult.ok, false);
  t.match(tinyResult.error, /ENOSPC/);
  t.equal(storeResult.ok, true, storeResult.error ?? 'stored');
  t.same(fs.readdirSync(tiny), [], 'no partial core left on the full filesystem');
  const unz = spawnSync('zstd', ['-d', '-c', path.join(dir, 'store', `${entry.id}.core.zst`)], { maxBuffer: 1 << 30 });
  t.equal(unz.stdout.length, entry.size, 'the other sink has the whole core');
  t.ok(entry.size! > 4 << 20);
});

t.test('a sink that never reads is dropped after stall_timeout; the others finish', async (t) => {
  const dir = installWith(`
[store]
directory = "@DIR/store"
[limits]
stall_timeout = 1
[[sink]]
name = "stuck"
type = "command"
argv = ["/bin/sleep", "30"]
[[sink]]
name = "store"
type = "directory"
format = "raw"
`);
  const started = Date.now();
  const pid = await crash(['-m', '2']);
  const entry = await entryFor(path.join(dir, 'store'), pid);
  t.ok(Date.now() - started < 8000, 'the crashing process was not held for the stuck sink');
  t.match(
    entry.sinks.find((s) => s.name === 'stuck'),
    { ok: false, error: /stalled/ },
  );
  t.match(
    entry.sinks.find((s) => s.name === 'store'),
    { ok: true },
  );
  const file = path.join(dir, 'store', `${entry.id}.core`);
  t.equal(fs.statSync(file).size, entry.size);
  t.ok(fs.statSync(file).blocks * 512 < entry.size! - (1 << 20), 'zero pages are holes');
});

t.test('dump mode 2 (suid_dumpable): only restricted sinks, no environment collected', async (t) => {
  fs.writeFileSync(SUID, '2');
  const dir = installWith(`
[store]
directory = "@DIR/store"
[[sink]]
name = "store"
type = "directory"
format = "raw"
[[sink]]
name = "export"
type = "command"
argv = ["/bin/sh", "-c", "cat > @DIR/exported"]
`);
  // A root process that changes uid gets the dumpable mode of fs.suid_dumpable (kernel/cred.c).
  const pid = await crash(['-u', '65534']);
  fs.writeFileSync(SUID, saved.suid);
  const entry = await entryFor(path.join(dir, 'store'), pid);
  t.same(
    entry.sinks.map((s) => s.name),
    ['store'],
    'the command sink (not restricted) was skipped',
  );
  t.notOk(fs.existsSync(path.join(dir, 'exported')));
  const record = recordFor(path.join(dir, 'store'), entry.id);
  t.equal(record.dumpMode, 2);
  t.equal(record.process.environ, undefined);
  t.equal(fs.statSync(path.join(dir, 'store', `${entry.id}.core`)).uid, 0);
});

t.test('rules and the per-executable rate limit', async (t) => {
  const dir = installWith(`
[store]
directory = "@DIR/store"
[limits]
rate_per_exe = 2
rate_window = "10m"
[[sink]]
name = "store"
type = "directory"
format = "raw"
[[rule]]
signal = [6]
sinks = []
[[rule]]
exe = ["/**/cored-crash"]
sinks = ["store"]
`);
  const store = path.join(dir, 'store');
  const aborted = await crash(['-s', '6']);
  await entryFor(store, aborted);
  t.match(await entryFor(store, aborted), { skipped: 'rule 0 ignores it', sinks: [] });
  const entries = [];
  // One after another: each handler must have written its index line before the next counts them.
  for (let i = 0; i < 3; i++) entries.push(await entryFor(store, await crash([])));
  t.same(
    entries.map((e) => e.sinks.length),
    [1, 1, 0],
  );
  t.match(entries[2]!.skipped, /rate limit/);
});

t.test('a crash storm in pipe mode: 200 processes of 4 MiB at once, every core handled, none skipped (core_pipe_limit 0)', async (t) => {
  const dir = path.join(root, `c${configCount++}`);
  fs.mkdirSync(dir, { mode: 0o755 });
  const file = path.join(dir, 'c.toml');
  fs.writeFileSync(
    file,
    `[store]\ndirectory = "${dir}/store"\n[[sink]]\nname = "d"\ntype = "directory"\nformat = "raw"\n# Other test suites may crash processes meanwhile: count only ours.\n[[rule]]\nexe = ["**/cored-crash"]\nsinks = ["d"]\n`,
  );
  install({ config: file, stateDir: path.join(dir, 'state'), script: CLI, mode: 'pipe' }); // the default limit
  t.equal(fs.readFileSync(PIPE_LIMIT, 'utf8').trim(), '0', 'the default: the kernel never skips a dump');
  const kernelLog = kernelLogFromNow();
  const pids = await Promise.all(Array.from({ length: 200 }, () => crash(['-m', '4'])));
  const ours = new Set(pids);
  const entries = await waitFor(
    '200 index entries',
    () => {
      const found = readEntries(path.join(dir, 'store')).filter((e) => ours.has(e.pid));
      return found.length >= 200 ? found : undefined;
    },
    180_000,
  );
  t.equal(entries.length, 200, 'one index line per crash, none torn');
  t.ok(
    entries.every((e) => e.sinks[0]?.ok && !e.truncated),
    'every core stored whole',
  );
  t.ok(
    entries.every((e) => e.exe === CRASH),
    '/proc read before the pipe was drained: every exe known',
  );
  t.same(
    kernelLog().filter((l) => UNDELIVERED.test(l)),
    [],
    'the kernel log: no "over core_pipe_limit, skipping core dump"',
  );
  uninstall(path.join(dir, 'state'));
});
