/**
 * cored's socket mode with the real kernel (core_pattern "@@SOCKET", Linux
 * 6.17+): the daemon started as a user would (`cored serve`, `cored
 * install --mode socket`), real crashes, and the kernel's own verdicts
 * (wait statuses, dmesg). Holds the core-settings lock for the whole file
 * and puts core_pattern back even when a test fails. The oracles: the
 * fixture's own pid, comm and argv; the core file parsed by hostkit and by
 * gdb; dmesg for dumps the kernel skipped.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import t from 'tap';
import { openCore } from '../../lib/coredump';
import { kernelCoreModes } from '../../lib/coredump/cored/core-modes';
import { install, readState, uninstall } from '../../lib/coredump/cored/kernel-pattern';
import type { CrashRecord } from '../../lib/coredump/cored/record';
import type { IndexEntry } from '../../lib/coredump/cored/store';
import { parseStat } from '../../lib/procfs/stat';
import { eventually, fixture, lockCoreSettings } from '../helpers';
import { readEntries, waitFor } from './store-watch';
import { UNDELIVERED, kernelLogFromNow } from './kernel-log';
import { requireGdb } from '../coredump/gdb';

requireGdb();
if (!kernelCoreModes()?.includes('socket'))
  throw new Error('these tests need the kernel\'s coredump socket (/proc/sys/kernel/core_modes lists "socket", Linux 6.17+)');
const CLI = path.resolve(__dirname, '..', '..', 'dist', 'coredump', 'cli.js');
if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: build with tsc first (npm test does)`);
const CRASH = fixture('cored-crash');

// Waiting for the lock (the pipe-mode suite holds it too) counts against the file's time.
t.setTimeout(900_000);

const PATTERN = '/proc/sys/kernel/core_pattern';
const PIPE_LIMIT = '/proc/sys/kernel/core_pipe_limit';
let unlock: (() => void) | undefined;
let saved = { pattern: '', limit: '' };
const daemons = new Set<ChildProcess>();
const installs = new Set<string>();
const root = fs.mkdtempSync('/tmp/cored-sock-');

t.before(async () => {
  unlock = await lockCoreSettings();
  saved = { pattern: fs.readFileSync(PATTERN, 'utf8'), limit: fs.readFileSync(PIPE_LIMIT, 'utf8') };
});
t.teardown(async () => {
  fs.writeFileSync(PATTERN, saved.pattern);
  fs.writeFileSync(PIPE_LIMIT, saved.limit);
  for (const state of installs) {
    try {
      uninstall(state);
    } catch {
      /* uninstalled by its test */
    }
  }
  for (const d of daemons) if (d.exitCode === null && d.signalCode === null) d.kill('SIGKILL');
  fs.rmSync(root, { recursive: true, force: true });
  unlock?.();
});

let count = 0;
interface Served {
  dir: string;
  store: string;
  socket: string;
  daemon: ChildProcess;
  /** Everything the daemon wrote to stderr (its log lines). */
  log(): string;
}

/** Starts `cored serve` with `toml` (@DIR is its directory) and points core_pattern at it. */
async function serveWith(toml: string): Promise<Served> {
  const dir = path.join(root, `s${count++}`);
  fs.mkdirSync(dir, { mode: 0o755 });
  const config = path.join(dir, 'c.toml');
  fs.writeFileSync(config, toml.replaceAll('@DIR', dir));
  const socket = path.join(dir, 'run', 'core.sock');
  const daemon = spawn(process.execPath, [CLI, 'serve', '--socket', socket, '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  daemons.add(daemon);
  let log = '';
  daemon.stderr!.on('data', (d) => (log += d));
  const [line] = (await once(readline.createInterface({ input: daemon.stdout! }), 'line')) as [string];
  if (line !== `listening ${socket}`) throw new Error(`cored serve said ${line}`);
  fs.writeFileSync(PATTERN, `@@${socket}`);
  return { dir, store: path.join(dir, 'store'), socket, daemon, log: () => log };
}

/** Points core_pattern away first (no crash may reach a daemon being stopped), then stops it. */
async function stop(served: Served): Promise<void> {
  fs.writeFileSync(PATTERN, saved.pattern);
  if (served.daemon.exitCode !== null || served.daemon.signalCode !== null) return;
  served.daemon.kill('SIGTERM');
  await once(served.daemon, 'exit');
}

/** Runs the fixture to its crash; returns its pid. */
async function crash(args: string[], binary = CRASH): Promise<{ pid: number }> {
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  if (signal === null) throw new Error(`${binary} exited with ${code} instead of crashing`);
  return { pid: child.pid! };
}

const entryFor = (store: string, pid: number) => waitFor(`the index entry for pid ${pid}`, () => readEntries(store).find((e) => e.pid === pid));
const recordFor = (store: string, id: string) => JSON.parse(fs.readFileSync(path.join(store, `${id}.json`), 'utf8')) as CrashRecord;
const coreFiles = (store: string) => (fs.existsSync(store) ? fs.readdirSync(store).filter((f) => /\.core(\.zst|\.gz)?$/.test(f)) : []);

function procStat(pid: number): { ppid: number } | undefined {
  try {
    return parseStat(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

const RAW_STORE = `
[store]
directory = "@DIR/store"
[[sink]]
name = "d"
type = "directory"
format = "raw"
# Other suites may crash processes meanwhile: they are refused on the request, not stored here.
[[rule]]
exe = ["**/cored-crash", "**/hostile*/**"]
sinks = ["d"]
`;

t.test('cored install --mode socket: the daemon, a crash listed, described and opened in gdb, then uninstall', async (t) => {
  const dir = path.join(root, 'installed');
  fs.mkdirSync(dir);
  const config = path.join(dir, 'c.toml');
  fs.writeFileSync(config, RAW_STORE.replaceAll('@DIR', dir));
  const state = path.join(dir, 'state');
  const socket = path.join(dir, 'run', 'coredump.socket');
  const before = fs.readFileSync(PATTERN, 'utf8').trim();
  const r = spawnSync(process.execPath, [CLI, 'install', '--mode', 'socket', '--config', config, '--state', state, '--socket', socket], { encoding: 'utf8' });
  installs.add(state);
  t.equal(r.status, 0, r.stderr);
  t.equal(fs.readFileSync(PATTERN, 'utf8').trim(), `@@${socket}`, 'the request protocol, the kernel having it');
  t.equal(fs.statSync(socket).mode & 0o777, 0o600, 'only root may connect');
  const status = spawnSync(process.execPath, [CLI, 'status', '--json', '--state', state], { encoding: 'utf8' });
  t.equal(status.status, 0, status.stdout);
  const report = JSON.parse(status.stdout);
  t.equal(report.mode, 'socket');
  t.match(report.why, /core_modes reads "file pipe socket"/, 'status says why: what the kernel offers');

  const { pid } = await crash(['-n', 'sock-crash', '-t', '2']);
  const entry = await entryFor(path.join(dir, 'store'), pid);
  t.equal(entry.signalName, 'SIGSEGV', "the signal, from the core's notes (the request does not carry it)");
  t.equal(entry.comm, 'sock-crash');
  t.equal(entry.exe, CRASH);
  const record = recordFor(path.join(dir, 'store'), entry.id);
  t.equal(record.process.pidVerified, true, '/proc read through the peer pidfd');
  t.same(record.process.cmdline, [CRASH, '-n', 'sock-crash', '-t', '2']);
  t.equal(record.tid, pid, 'the dumping thread, from the first NT_PRSTATUS');
  const core = openCore(path.join(dir, 'store', `${entry.id}.core`));
  t.equal(core.threads.length, 3);
  t.equal(core.threads[0]!.signal, 11);

  const list = spawnSync(process.execPath, [CLI, 'list', '--json', '--store', path.join(dir, 'store')], { encoding: 'utf8' });
  t.equal((JSON.parse(list.stdout) as IndexEntry[]).filter((e) => e.pid === pid).length, 1);
  const info = spawnSync(process.execPath, [CLI, 'info', '--store', path.join(dir, 'store'), entry.id], { encoding: 'utf8' });
  t.equal(info.status, 0, info.stderr);
  t.match(info.stdout, /#\d+ .*crash_here/, 'info shows the backtrace');
  const gdb = spawnSync(process.execPath, [CLI, 'gdb', '--store', path.join(dir, 'store'), entry.id, '--', '-batch', '-nx', '-ex', 'info threads'], {
    encoding: 'utf8',
  });
  t.equal(gdb.status, 0, gdb.stderr);
  t.match(gdb.stdout, /3 +Thread/, 'cored gdb opens it with its executable');

  const daemon = readState(state)!.daemon!;
  t.equal(daemon.kind, 'process');
  const un = spawnSync(process.execPath, [CLI, 'uninstall', '--state', state], { encoding: 'utf8' });
  t.equal(un.status, 0, un.stderr);
  installs.delete(state);
  t.equal(fs.readFileSync(PATTERN, 'utf8').trim(), before, 'the previous pattern is back');
  t.notOk(fs.existsSync(socket), 'the socket is gone');
  t.notOk(
    daemon.kind === 'process' && fs.existsSync(`/proc/${daemon.pid}/stat`) && !/\) Z /.test(fs.readFileSync(`/proc/${daemon.pid}/stat`, 'utf8')),
    'the daemon stopped',
  );
});

t.test('install --mode socket refuses a bad config and leaves everything as it was', async (t) => {
  const before = fs.readFileSync(PATTERN, 'utf8');
  t.throws(() => install({ mode: 'socket', config: path.join(root, 'missing.toml'), stateDir: path.join(root, 'nostate') }), /cannot read/);
  t.equal(fs.readFileSync(PATTERN, 'utf8'), before);
});

t.test('hostile names: comm, argv and an executable path full of shell syntax stay data', async (t) => {
  const served = await serveWith(RAW_STORE);
  t.teardown(() => stop(served));
  const hostileDir = path.join(served.dir, `hostile $(touch pwned); rm -rf .. '"\nz`);
  fs.mkdirSync(hostileDir);
  const exe = path.join(hostileDir, 'a b;$(id)');
  fs.copyFileSync(CRASH, exe);
  fs.chmodSync(exe, 0o755);
  const comm = `a;$(touch p)\n'"`;
  const { pid } = await crash(['-n', comm, '`touch q`'], exe);
  const entry = await entryFor(served.store, pid);
  t.equal(entry.exe, exe, 'exe byte for byte');
  t.equal(entry.comm, comm.slice(0, 15));
  t.same(recordFor(served.store, entry.id).process.cmdline, [exe, '-n', comm, '`touch q`']);
  for (const where of ['/', served.dir, hostileDir, process.cwd()]) {
    for (const name of ['pwned', 'p', 'q']) t.notOk(fs.existsSync(path.join(where, name)), `no ${name} in ${where}`);
  }
  const lines = served
    .log()
    .split('\n')
    .filter((l) => l.includes(`pid ${pid} `));
  t.equal(lines.length, 1, 'one log line, the newline in the name escaped');
  t.match(lines[0], /\\n/);
});

t.test('REJECT on the request: by rule and by the per-executable rate, a log line and no file', async (t) => {
  const served = await serveWith(`
[store]
directory = "@DIR/store"
[limits]
rate_per_exe = 2
rate_window = 600
[[sink]]
name = "d"
type = "directory"
format = "raw"
[[rule]]
exe = ["**/cored-crash"]
sinks = ["d"]
[[rule]]
exe = ["**/ignored-*"]
sinks = []
`);
  t.teardown(() => stop(served));
  const ignored = path.join(served.dir, 'ignored-crasher');
  fs.copyFileSync(CRASH, ignored);
  fs.chmodSync(ignored, 0o755);
  const refused = await crash(['-m', '64'], ignored);
  const rEntry = await entryFor(served.store, refused.pid);
  t.equal(rEntry.skipped, 'rule 1 ignores it');
  t.same(rEntry.sinks, []);
  t.match(served.log(), new RegExp(`pid ${refused.pid} .*not stored: rule 1 ignores it`));

  // Five at once: the rate counts crashes still being written, not only finished ones.
  const storm = await Promise.all(Array.from({ length: 5 }, () => crash(['-m', '8'])));
  const entries = await waitFor('five index entries', () => {
    const found = readEntries(served.store).filter((e) => storm.some((s) => s.pid === e.pid));
    return found.length === 5 ? found : undefined;
  });
  const stored = entries.filter((e) => !e.skipped);
  t.equal(stored.length, 2, 'two stored');
  t.ok(
    entries.filter((e) => e.skipped).every((e) => /^rate limit: 2 crashes/.test(e.skipped!)),
    'three refused by the rate',
  );
  t.equal(coreFiles(served.store).length, 2, 'no file for a refused crash');
  t.equal(fs.readdirSync(served.store).filter((f) => f.endsWith('.partial')).length, 0);
});

t.test('a peer that is not the kernel gets nothing stored', async (t) => {
  const served = await serveWith(RAW_STORE);
  t.teardown(() => stop(served));
  const peer = net.connect(served.socket);
  peer.on('error', () => undefined); // the daemon resets the connection
  await once(peer, 'connect');
  peer.write(Buffer.concat([Buffer.from('\x7fELF'), Buffer.alloc(100)]));
  await new Promise((resolve) => peer.on('close', resolve));
  t.match(served.log(), new RegExp(`connection refused: pid ${process.pid} is not dumping core`));
  t.same(readEntries(served.store), []);
});

t.test('a storm: 200 crashes of 4 MiB at once, all stored, none skipped by the kernel', async (t) => {
  const served = await serveWith(RAW_STORE);
  t.teardown(() => stop(served));
  const kernelLog = kernelLogFromNow();
  const pids = (await Promise.all(Array.from({ length: 200 }, () => crash(['-m', '4'])))).map((c) => c.pid);
  const entries = await waitFor(
    '200 index entries',
    () => {
      const found = readEntries(served.store).filter((e) => pids.includes(e.pid));
      return found.length === 200 ? found : undefined;
    },
    120_000,
  );
  t.ok(
    entries.every((e) => e.sinks[0]?.ok && !e.truncated),
    'every core stored whole',
  );
  t.equal(coreFiles(served.store).length, 200);
  t.same(
    kernelLog().filter((l) => UNDELIVERED.test(l)),
    [],
    'the kernel log reports no skipped or undelivered dump',
  );
});

t.test('a storm of 100 while a 1 GiB core is being written: all kept', async (t) => {
  const served = await serveWith(RAW_STORE);
  t.teardown(() => stop(served));
  const big = crash(['-m', '1024', '-r']);
  await waitFor('the big core to start arriving', () =>
    fs.existsSync(served.store) && fs.readdirSync(served.store).some((f) => f.endsWith('.partial')) ? true : undefined,
  );
  const pids = (await Promise.all(Array.from({ length: 100 }, () => crash([])))).map((c) => c.pid);
  const bigPid = (await big).pid;
  const entries = await waitFor(
    '101 index entries',
    () => {
      const found = readEntries(served.store).filter((e) => pids.includes(e.pid) || e.pid === bigPid);
      return found.length === 101 ? found : undefined;
    },
    120_000,
  );
  t.ok(
    entries.every((e) => e.sinks[0]?.ok && !e.truncated),
    'all stored whole',
  );
  const bigEntry = entries.find((e) => e.pid === bigPid)!;
  t.ok(bigEntry.size! > 1024 * 1024 * 1024, 'the big one too');
  fs.rmSync(path.join(served.store, `${bigEntry.id}.core`));
});

t.test('the daemon killed mid-core: the part written is kept as a truncated core, listed; the next crash is stored', async (t) => {
  const served = await serveWith(RAW_STORE);
  t.teardown(() => stop(served));
  /** The supervisor's one child, by /proc (never 0: kill(0) would signal this whole process group). */
  const worker = () => {
    const children = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d) && procStat(Number(d))?.ppid === served.daemon.pid);
    return children.length === 1 ? Number(children[0]) : undefined;
  };
  const first = await waitFor('the worker', worker);
  const big = crash(['-m', '1024', '-r']);
  const partial = await waitFor('64 MiB of the core on disk', () => {
    const name = fs.existsSync(served.store) ? fs.readdirSync(served.store).find((f) => f.endsWith('.partial')) : undefined;
    return name && fs.statSync(path.join(served.store, name)).size > 64 << 20 ? name : undefined;
  });
  t.ok(first > 1, `worker pid ${first}`);
  process.kill(first, 'SIGKILL');
  const bigPid = (await big).pid;
  const entry = await entryFor(served.store, bigPid);
  const second = await waitFor('a new worker', () => {
    const w = worker();
    return w !== first ? w : undefined;
  });
  t.ok(second > 1, 'the supervisor started a new worker');
  t.equal(entry.truncated, true);
  t.match(entry.skipped, /stopped while this core was being written/);
  const id = entry.id;
  t.ok(fs.existsSync(path.join(served.store, `${id}.core`)), 'the part written is kept under its final name');
  t.notOk(fs.existsSync(path.join(served.store, partial)), 'no orphaned partial file');
  t.notOk(
    fs.readdirSync(served.store).some((f) => f.endsWith('.pending.json')),
    'the journal entry is resolved',
  );
  t.equal(recordFor(served.store, id).truncated, true);
  const text = fs.readFileSync(path.join(served.store, 'index.jsonl'), 'utf8');
  t.ok(
    text
      .split('\n')
      .filter(Boolean)
      .every((l) => JSON.parse(l)),
    'every index line parses',
  );
  const next = await crash([]);
  const nextEntry = await entryFor(served.store, next.pid);
  t.ok(nextEntry.sinks[0]?.ok, 'the next crash is stored');
  fs.rmSync(path.join(served.store, `${id}.core`));
});

t.test('plain @ (no request): the decision waits for the headers, and a refusal drops the connection', async (t) => {
  const served = await serveWith(`
[store]
directory = "@DIR/store"
[[sink]]
name = "d"
type = "directory"
format = "raw"
[[rule]]
exe = ["**/cored-crash"]
signal = [6]
sinks = ["d"]
`);
  t.teardown(() => stop(served));
  fs.writeFileSync(PATTERN, `@${served.socket}`);
  const aborted = await crash(['-s', '6']);
  const kept = await entryFor(served.store, aborted.pid);
  t.equal(kept.signalName, 'SIGABRT', 'the signal from the notes');
  t.ok(kept.sinks[0]?.ok, 'SIGABRT matches the rule: stored');
  const segv = await crash([]);
  const refused = await entryFor(served.store, segv.pid);
  t.equal(refused.skipped, 'no rule matched', 'SIGSEGV does not');
  t.equal(coreFiles(served.store).length, 1, 'and leaves no file');
});

t.test('the quota on the request: keep_free not met even after vacuuming, REJECT', async (t) => {
  const served = await serveWith(RAW_STORE.replace('[store]\n', '[store]\nkeep_free = "7M"\n'));
  t.teardown(() => stop(served));
  fs.mkdirSync(served.store, { recursive: true });
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', served.store]);
  if (mounted.status !== 0) throw new Error(`mount tmpfs: ${mounted.stderr}`);
  t.teardown(() => void spawnSync('umount', ['-l', served.store]));
  fs.writeFileSync(path.join(served.store, 'ballast'), Buffer.alloc(2 << 20, 1)); // not a core: vacuum keeps it
  const { pid } = await crash([]);
  const entry = await entryFor(served.store, pid);
  t.match(entry.skipped, /^keep_free 7340032: \d+ bytes free in .*, even after deleting the oldest cores$/);
  t.equal(coreFiles(served.store).length, 0);
  // The worker logs after it answers the kernel: its line may reach us after the entry does.
  await eventually(() => /not stored: keep_free/.test(served.log()), 'the refusal in the log');
  t.match(served.log(), /not stored: keep_free/);
});
