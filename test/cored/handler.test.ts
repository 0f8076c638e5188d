/**
 * `cored handle` fed by the test instead of the kernel (core_pattern is left
 * alone here): bad input, size limits, the time budget, the disk quota and
 * the pid-reuse guard.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import type { CrashRecord } from '../../lib/coredump/cored/record';
import { parseCrashArgs } from '../../lib/coredump/cored/crash-args';
import { collectMetadata } from '../../lib/coredump/cored/metadata';
import { libc } from '../../lib/native';
import { pidfdInfo } from '../../lib/procfs/pidfd';
import { requireGdb } from '../coredump/gdb';

requireGdb();
const CLI = path.resolve(__dirname, '..', '..', 'dist', 'coredump', 'cli.js');
if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: build with tsc first (npm test does)`);
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cored-handle-'));
t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));

let n = 0;
function setup(toml: string): { dir: string; config: string; store: string } {
  const dir = path.join(root, `h${n++}`);
  fs.mkdirSync(dir);
  const store = path.join(dir, 'store');
  const config = path.join(dir, 'c.toml');
  fs.writeFileSync(config, `[store]\ndirectory = "${store}"\n${toml}`);
  return { dir, config, store };
}

/** The kernel's arguments for a crash of `pid` (no %F unless given). */
function kernelArgs(pid: number, pidfd?: number): string[] {
  const args = [String(pid), String(pid), '11', String(Math.floor(Date.now() / 1000)), '0', '0', '1', '0', 'victim'];
  return pidfd === undefined ? args : [...args, String(pidfd)];
}

function handle(config: string, args: string[], input: string | number): ReturnType<typeof spawnSync> {
  const stdin = typeof input === 'string' ? fs.openSync(input, 'r') : input;
  try {
    return spawnSync(process.execPath, [CLI, 'handle', '-c', config, ...args], { stdio: [stdin, 'pipe', 'pipe'], encoding: 'utf8', timeout: 30_000 });
  } finally {
    if (typeof input === 'string') fs.closeSync(stdin);
  }
}

function onlyRecord(store: string): CrashRecord {
  const json = fs.readdirSync(store).filter((f) => f.endsWith('.json'));
  if (json.length !== 1) throw new Error(`expected one record in ${store}, found ${json.join(', ')}`);
  return JSON.parse(fs.readFileSync(path.join(store, json[0]!), 'utf8')) as CrashRecord;
}

function indexLines(store: string): Record<string, unknown>[] {
  return fs
    .readFileSync(path.join(store, 'index.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
}

const garbage = path.join(root, 'garbage');
fs.writeFileSync(garbage, crypto.randomBytes(1 << 20));

t.test('input that is not a core is still stored, with the parse error recorded', async (t) => {
  const { config, store } = setup('[[sink]]\ntype = "directory"\nformat = "raw"\n');
  const r = handle(config, kernelArgs(process.pid), garbage);
  t.equal(r.status, 0, String(r.stderr));
  const record = onlyRecord(store);
  t.match(record.core!.parseError, /bad core/);
  t.same(fs.readFileSync(path.join(store, `${record.id}.core`)), fs.readFileSync(garbage));
  t.match(String(r.stderr), /^cored: pid \d+ "victim" .* 1048576 bytes \| directory.0 -> /m, 'one log line');
});

t.test('max_core_size truncates (on_oversize = "truncate")', async (t) => {
  const { config, store } = setup('[limits]\nmax_core_size = "100K"\n[[sink]]\ntype = "directory"\nformat = "gzip"\n');
  t.equal(handle(config, kernelArgs(process.pid), garbage).status, 0);
  const record = onlyRecord(store);
  t.equal(record.truncated, true);
  const stored = spawnSync('gzip', ['-dc', path.join(store, `${record.id}.core.gz`)], { maxBuffer: 4 << 20 }).stdout;
  t.same(stored, fs.readFileSync(garbage).subarray(0, 100 << 10));
});

t.test('max_core_size skips a core whose program headers say it is too big (on_oversize = "skip")', async (t) => {
  const { dir, config, store } = setup('[limits]\nmax_core_size = "1K"\non_oversize = "skip"\n[[sink]]\ntype = "directory"\nformat = "raw"\n');
  const sleeper = spawn('/bin/sleep', ['30']);
  t.teardown(() => sleeper.kill());
  const prefix = path.join(dir, 'gcore');
  spawnSync('gcore', ['-o', prefix, String(sleeper.pid)], { stdio: 'ignore', timeout: 60_000 });
  const core = `${prefix}.${sleeper.pid}`;
  t.ok(fs.existsSync(core), 'gdb made a core');
  t.equal(handle(config, kernelArgs(sleeper.pid!), core).status, 0);
  const [entry] = indexLines(store);
  t.match(entry, { skipped: /core of \d+ bytes exceeds max_core_size 1024/, sinks: [] });
  t.same(
    fs.readdirSync(store).filter((f) => f.includes('.core')),
    [],
  );
});

t.test('the time budget releases a writer that stalls', async (t) => {
  const { config, store } = setup('[limits]\ntime_budget = 1\n[[sink]]\ntype = "directory"\nformat = "raw"\n');
  const child = spawn(process.execPath, [CLI, 'handle', '-c', config, ...kernelArgs(process.pid)], { stdio: ['pipe', 'ignore', 'pipe'] });
  child.stdin.write(crypto.randomBytes(64 << 10)); // then nothing more, and the pipe stays open
  const started = Date.now();
  const [code] = await once(child, 'exit');
  child.stdin.destroy();
  t.equal(code, 0);
  t.ok(Date.now() - started < 5000, `exited after ${Date.now() - started} ms`);
  const record = onlyRecord(store);
  t.equal(record.truncated, true);
  t.match(record.skipped, /time budget of 1 s exceeded/);
  t.equal(fs.statSync(path.join(store, `${record.id}.core`)).size, 64 << 10, 'what arrived is kept');
});

t.test('the disk quota deletes the oldest cores first', async (t) => {
  const { config, store } = setup('');
  fs.writeFileSync(config, `[store]\ndirectory = "${store}"\nmax_use = "2600K"\n[[sink]]\ntype = "directory"\nformat = "raw"\n`);
  fs.mkdirSync(store, { mode: 0o700 });
  const old = ['100.1.a', '200.2.b', '300.3.c'];
  old.forEach((id, i) => {
    fs.writeFileSync(path.join(store, `${id}.core`), crypto.randomBytes(1 << 20));
    fs.writeFileSync(path.join(store, `${id}.json`), '{}');
    fs.utimesSync(path.join(store, `${id}.core`), 1000 + i, 1000 + i);
  });
  t.equal(handle(config, kernelArgs(process.pid), garbage).status, 0);
  const left = fs
    .readdirSync(store)
    .filter((f) => f.endsWith('.core'))
    .sort();
  t.ok(left.includes('300.3.c.core'), 'the newest old core stays');
  t.notOk(left.includes('100.1.a.core') || left.includes('200.2.b.core'), 'the oldest went first');
  t.notOk(fs.existsSync(path.join(store, '100.1.a.json')), 'with its metadata');
  const used = left.reduce((sum, f) => sum + fs.statSync(path.join(store, f)).blocks * 512, 0);
  t.ok(used <= 2600 << 10, `store uses ${used} bytes`);
  t.equal(left.length, 2, 'the new core and the newest old one');
});

t.test('a pidfd that does not name the pid: /proc is not read (pid reuse guard)', async (t) => {
  const { config, store } = setup('[[sink]]\ntype = "directory"\nformat = "raw"\n');
  // fd 0 is the input file, not a pidfd for process.pid: exactly what a reused pid looks like.
  t.equal(handle(config, kernelArgs(process.pid, 0), garbage).status, 0);
  const record = onlyRecord(store);
  t.equal(record.process.pidVerified, false);
  t.match(record.process.procError, /pid reuse/);
  t.equal(record.process.cmdline, undefined);
  t.equal(record.exe, undefined);
  t.ok(fs.existsSync(path.join(store, `${record.id}.core`)), 'the core is stored all the same');
});

t.test('http: connection failures are retried; an error status fails only that sink; TCP socket sink', async (t) => {
  const received: Buffer[] = [];
  const server = http.createServer(async (req, res) => {
    const parts: Buffer[] = [];
    for await (const p of req) parts.push(p as Buffer);
    if (req.url === '/broken') return void res.writeHead(500).end('disk full upstream');
    received.push(Buffer.concat(parts));
    res.writeHead(200).end();
  });
  // Reserve a port, then start listening only after cored's first attempt has failed.
  const probe = net.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as net.AddressInfo).port;
  probe.close();
  await once(probe, 'close');
  const tcp = net.createServer(async (conn) => {
    const parts: Buffer[] = [];
    for await (const p of conn) parts.push(p as Buffer);
    received.push(Buffer.concat(parts));
  });
  tcp.listen(0, '127.0.0.1');
  await once(tcp, 'listening');
  const tcpPort = (tcp.address() as net.AddressInfo).port;
  t.teardown(() => {
    server.close();
    tcp.close();
  });
  const { config, store } = setup(`
[[sink]]
name = "late"
type = "http"
url = "http://127.0.0.1:${port}/ok"
retries = 3
[[sink]]
name = "broken"
type = "http"
method = "POST"
url = "http://127.0.0.1:${port}/broken"
retries = 3
[[sink]]
name = "tcp"
type = "socket"
address = "127.0.0.1:${tcpPort}"
[[sink]]
name = "disk"
type = "directory"
format = "raw"
`);
  setTimeout(() => server.listen(port, '127.0.0.1'), 150);
  const child = spawn(process.execPath, [CLI, 'handle', '-c', config, ...kernelArgs(process.pid)], { stdio: [fs.openSync(garbage, 'r'), 'ignore', 'pipe'] });
  const [code] = await once(child, 'exit');
  t.equal(code, 0);
  const [entry] = indexLines(store) as { sinks: { name: string; ok: boolean; error?: string }[] }[];
  const byName = Object.fromEntries(entry!.sinks.map((s) => [s.name, s]));
  t.match(byName.late, { ok: true }, 'the upload waited for the server');
  t.match(byName.broken, { ok: false, error: /HTTP 500: disk full upstream/ });
  t.match(byName.tcp, { ok: true });
  t.match(byName.disk, { ok: true });
  const core = fs.readFileSync(garbage);
  t.ok(
    received.some((b) => b.equals(core)),
    'the HTTP server got every byte',
  );
  t.ok(
    received.some((b) => b.length > core.length && b.subarray(b.indexOf(10) + 1).equals(core)),
    'the TCP peer got a metadata line, then every byte',
  );
});

t.test('list filters by executable glob and time; vacuum applies the quota', async (t) => {
  const { config, store } = setup('[[sink]]\ntype = "directory"\nformat = "raw"\n');
  t.equal(handle(config, kernelArgs(process.pid), garbage).status, 0);
  const list = (...args: string[]) => {
    const r = spawnSync(process.execPath, [CLI, 'list', '--json', '--store', store, ...args], { encoding: 'utf8' });
    t.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as { pid: number; exe: string }[];
  };
  t.equal(list().length, 1);
  t.equal(list('--exe', `${path.dirname(process.execPath)}/*`).length, 1);
  t.equal(list('--exe', '/nowhere/*').length, 0);
  t.equal(list('--since', '2999-01-01').length, 0);
  t.equal(list('--since', '2000-01-01T00:00:00Z').length, 1);
  const text = spawnSync(process.execPath, [CLI, 'list', '--store', store], { encoding: 'utf8' }).stdout;
  t.match(text, /SIGSEGV\s+1\.0M\s+\d+\.\d+\.victim "\/.*node"/);
  const vac = spawnSync(process.execPath, [CLI, 'vacuum', '--config', config, '--json'], { encoding: 'utf8' });
  t.equal(vac.status, 0, vac.stderr);
  t.same(JSON.parse(vac.stdout), { deleted: [] }, 'no quota configured: nothing deleted');
});

t.test('http: an upload cut off mid-body is retried from the stored copy', async (t) => {
  let attempts = 0;
  let got: Buffer | undefined;
  const server = http.createServer(async (req, res) => {
    attempts++;
    if (attempts === 1) {
      req.once('data', () => req.socket.destroy()); // the first upload dies after its first bytes
      return;
    }
    const parts: Buffer[] = [];
    for await (const p of req) parts.push(p as Buffer);
    got = Buffer.concat(parts);
    res.writeHead(201).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const { config, store } = setup(`
[[sink]]
name = "disk"
type = "directory"
format = "zstd"
[[sink]]
name = "up"
type = "http"
url = "http://127.0.0.1:${(server.address() as net.AddressInfo).port}/core"
retries = 2
`);
  // Not spawnSync: the server lives in this process's event loop.
  const child = spawn(process.execPath, [CLI, 'handle', '-c', config, ...kernelArgs(process.pid)], { stdio: [fs.openSync(garbage, 'r'), 'ignore', 'inherit'] });
  t.equal((await once(child, 'exit'))[0], 0);
  const [entry] = indexLines(store) as { sinks: { name: string; ok: boolean; note?: string }[] }[];
  const up = entry!.sinks.find((s) => s.name === 'up')!;
  t.equal(up.ok, true);
  t.match(up.note, /retried from .*\.core\.zst after: /);
  t.ok(got?.equals(fs.readFileSync(garbage)), 'the retry sent every byte, decompressed');
  t.equal(attempts, 2);
});

t.test('a pid reused by a new process is never described: the pidfd still names the dead one', async (t) => {
  // Oracle: the kernel. The first process's pidfd, kept past its death; then
  // ns_last_pid makes the next fork take the same pid, as a busy host would.
  const NS_LAST_PID = '/proc/sys/kernel/ns_last_pid';
  let reused: { pid: number; pidfd: number; newcomer: ReturnType<typeof spawn> } | undefined;
  for (let attempt = 0; attempt < 20 && !reused; attempt++) {
    const first = spawn('/bin/sleep', ['100']);
    await once(first, 'spawn');
    const pid = first.pid!;
    const pidfd = libc().pidfdOpen(pid);
    first.kill('SIGKILL');
    await once(first, 'exit');
    fs.writeFileSync(NS_LAST_PID, String(pid - 1));
    const newcomer = spawn('/bin/sleep', ['100', 'newcomer']);
    await once(newcomer, 'spawn');
    if (newcomer.pid === pid) reused = { pid, pidfd, newcomer };
    else {
      newcomer.kill('SIGKILL');
      fs.closeSync(pidfd);
    }
  }
  if (!reused) throw new Error('no fork took the freed pid in 20 attempts (something else forks too fast)');
  t.teardown(() => {
    reused!.newcomer.kill('SIGKILL');
    fs.closeSync(reused!.pidfd);
  });
  const args = parseCrashArgs(kernelArgs(reused.pid, reused.pidfd));
  const meta = collectMetadata(args, []);
  t.equal(meta.pidVerified, false);
  t.match(meta.procError, /pid reuse/);
  t.equal(meta.cmdline, undefined, "the newcomer's command line is not read");
  t.equal(meta.exe, undefined);
  t.equal(pidfdInfo(reused.pidfd).pid, undefined, 'the pidfd itself says its process is gone');
});
