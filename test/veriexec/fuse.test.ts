/**
 * hostkit/veriexec's verifying FUSE filesystem against the real kernel: a
 * source tree fingerprinted page by page (SHA-256 of each 4 KiB) up front,
 * served at a mount point, and touched only from child processes: the server
 * runs on this process's thread, so a synchronous call on the mount from here
 * would wait for an answer only this thread can give. That includes spawning
 * a program that lives on the mount: libuv's spawn waits for the child's
 * execve, which waits for our OPEN. Such programs start through /bin/sh.
 */
import { execFile, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import t from 'tap';
import { type DeniedRecord, detachMount, type FilePages, jsonLinesLog, mountVerified, type PageVerifier } from '../../lib/veriexec/fuse';
import { VerifyingFs } from '../../lib/veriexec/fuse/operations';
import { FuseSession } from '../../lib/veriexec/fuse/session';
import { SourceTree } from '../../lib/veriexec/fuse/source';
import { fixture } from '../helpers';

const PAGE = 4096;
const ROOT = path.resolve(__dirname, '..', '..');

const sha256 = (data: Buffer) => crypto.createHash('sha256').update(data).digest('hex');

/** The verifier: every regular file under `dir` as it is now, page by page. */
function fingerprint(dir: string): PageVerifier {
  const table = new Map<string, { size: number; pages: string[] }>();
  const walk = (rel: string) => {
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(child);
      else if (entry.isFile()) {
        const data = fs.readFileSync(path.join(dir, child));
        const pages: string[] = [];
        for (let at = 0; at < data.length; at += PAGE) pages.push(sha256(data.subarray(at, at + PAGE)));
        table.set(child, { size: data.length, pages });
      }
    }
  };
  walk('');
  return {
    file(relPath, stat): FilePages | string {
      const known = table.get(relPath);
      if (!known) return 'not in the table';
      if (known.size !== stat.size) return 'size differs';
      return { pageSize: PAGE, check: (index, data) => known.pages[index] === sha256(data) };
    },
  };
}

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A command run as a child (never throws): the only way this process touches the mount. */
function run(file: string, args: string[] = []): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string; signal?: NodeJS.Signals }) | null;
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : -1) : 0, signal: e?.signal ?? null, stdout, stderr });
    });
  });
}

/** A program on the mount, started through /bin/sh so that this process's spawn returns before the exec that needs the server. */
const runFromMount = (file: string) => run('/bin/sh', ['-c', 'exec "$0"', file]);

/** `code` run by another Node (as JSON in, JSON out). */
async function node(code: string): Promise<any> {
  const r = await run(process.execPath, ['-e', `Promise.resolve((async () => { ${code} })()).then((v) => process.stdout.write(JSON.stringify(v ?? null)))`]);
  if (r.code !== 0) throw new Error(`node -e failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** An error's code from another Node, or 'ok'. */
const codeOf = (expr: string) => node(`try { ${expr}; return 'ok'; } catch (e) { return e.code; }`);

interface Program {
  pid: number;
  page: number;
  nextLine(): Promise<string>;
  send(line: string): void;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(): void;
}

/** veriexec-pages run from `file`: its pid and the file page of its middle rodata page. */
async function startPages(file: string): Promise<Program> {
  const child = spawn('/bin/sh', ['-c', 'exec "$0"', file], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stderr.pipe(process.stderr, { end: false });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const queue: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    const w = waiting.shift();
    if (w) w(line);
    else queue.push(line);
  });
  const nextLine = () => new Promise<string>((resolve) => (queue.length ? resolve(queue.shift()!) : waiting.push(resolve)));
  const ready = /^ready (\d+)$/.exec(await nextLine());
  const page = /^page (\d+)$/.exec(await nextLine());
  if (!ready || !page) throw new Error(`${file} did not start as expected`);
  return {
    pid: Number(ready[1]),
    page: Number(page[1]),
    nextLine,
    send: (line) => child.stdin.write(`${line}\n`),
    exited,
    kill: () => child.kill('SIGKILL'),
  };
}

const mounted = (mountpoint: string) => fs.readFileSync('/proc/mounts', 'utf8').includes(` ${mountpoint} `);

t.test('the verifying mount', async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hostkit-vxfuse-'));
  const source = path.join(tmp, 'source');
  const mountpoint = path.join(tmp, 'at', 'mnt');
  fs.mkdirSync(source);
  fs.mkdirSync(mountpoint, { recursive: true });
  let unmount = async () => {};
  // One teardown, in this order: removing the tree while it is mounted would walk into the mount from the server's own thread.
  t.teardown(async () => {
    await unmount();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  // The tree: text, a multi-page file with a short last page, a directory, links, programs and their library.
  fs.writeFileSync(path.join(source, 'hello.txt'), 'hello, verified world\n');
  fs.writeFileSync(path.join(source, 'data.bin'), crypto.randomBytes(16 * PAGE + 1234));
  fs.mkdirSync(path.join(source, 'dir'));
  fs.writeFileSync(path.join(source, 'dir', 'inner.txt'), 'inside\n');
  fs.symlinkSync('hello.txt', path.join(source, 'link'));
  fs.symlinkSync('../outside.txt', path.join(source, 'escape'));
  fs.writeFileSync(path.join(tmp, 'outside.txt'), 'outside the source\n');
  fs.mkdirSync(path.join(tmp, 'outside-dir'));
  fs.writeFileSync(path.join(tmp, 'outside-dir', 'inner.txt'), 'secret outside the source\n');
  fs.writeFileSync(path.join(source, 'evil\nname'), 'a name with a newline\n');
  fs.writeFileSync(path.join(source, '..dots..'), 'dots\n');
  for (const name of ['veriexec-hello', 'veriexec-pages', 'libvxlib.so']) fs.copyFileSync(fixture(name), path.join(source, name));
  const verifier = fingerprint(source);
  // Added after the fingerprints: not in the table.
  fs.writeFileSync(path.join(source, 'unlisted.txt'), 'nobody vouched for me\n');
  fs.writeFileSync(path.join(source, 'bad\nname'), 'unlisted, with a newline\n');

  const denied: DeniedRecord[] = [];
  const lines: string[] = [];
  const json = jsonLinesLog((line) => lines.push(line));
  const mount = await mountVerified({
    source,
    mountpoint,
    verifier,
    log: {
      denied: (record) => {
        denied.push(record);
        json.denied(record);
      },
    },
  });
  unmount = () => mount.unmount(); // a failing subtest still leaves no mount behind
  t.ok(mounted(mountpoint), 'in /proc/mounts');
  t.equal(
    fs
      .readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .find((l) => l.includes(` ${mountpoint} `))
      ?.split(' ')[2],
    'fuse.hostkit-veriexec',
  );
  const m = (rel: string) => path.join(mountpoint, rel);

  t.test('ls, stat, readlink and cat through the mount equal the source; writes give EROFS', async (t) => {
    // '..' of the mount's root is the mount point's parent, the kernel's business.
    const ls = async (dir: string) =>
      (await run('ls', ['-lan', '--time-style=full-iso', dir])).stdout
        .split('\n')
        .filter((l) => !l.endsWith(' ..'))
        .join('\n');
    t.equal(await ls(mountpoint), await ls(source), 'ls -lan of the root');
    t.equal(await ls(m('dir')), await ls(path.join(source, 'dir')), 'ls -lan of a directory');
    // A symlink's access time moves at each readlink (ls -l above did them, through the mount), while the
    // kernel's attribute cache may still hold the mount's earlier stat of it: seen once a second apart in CI.
    const stat = async (p: string, format = '%s %f %h %u %g %i %X %Y %Z %b') => (await run('stat', ['-c', format, p])).stdout;
    for (const rel of ['hello.txt', 'data.bin', 'dir', 'veriexec-hello']) t.equal(await stat(m(rel)), await stat(path.join(source, rel)), `stat ${rel}`);
    const noAccessTime = '%s %f %h %u %g %i %Y %Z %b';
    t.equal(await stat(m('link'), noAccessTime), await stat(path.join(source, 'link'), noAccessTime), 'stat link (all but its access time)');
    t.equal((await run('readlink', [m('link')])).stdout, 'hello.txt\n');
    for (const rel of ['hello.txt', 'data.bin', 'dir/inner.txt', 'link', 'libvxlib.so']) {
      t.equal((await run('sha256sum', [m(rel)])).stdout.split(' ')[0], sha256(fs.readFileSync(path.join(source, rel))), `cat ${rel}`);
    }
    t.same(await node(`return require('fs').readdirSync(${JSON.stringify(mountpoint)}).sort()`), fs.readdirSync(source).sort(), 'readdir, odd names included');
    t.equal(await codeOf(`require('fs').writeFileSync(${JSON.stringify(m('hello.txt'))}, 'x')`), 'EROFS', 'overwrite');
    t.equal(await codeOf(`require('fs').writeFileSync(${JSON.stringify(m('new.txt'))}, 'x')`), 'EROFS', 'create');
    t.equal(await codeOf(`require('fs').mkdirSync(${JSON.stringify(m('newdir'))})`), 'EROFS', 'mkdir');
    t.equal(await codeOf(`require('fs').unlinkSync(${JSON.stringify(m('hello.txt'))})`), 'EROFS', 'unlink');
    t.equal(await codeOf(`require('fs').chmodSync(${JSON.stringify(m('hello.txt'))}, 0o777)`), 'EROFS', 'chmod');
    t.equal(await codeOf(`require('fs').accessSync(${JSON.stringify(m('veriexec-hello'))}, require('fs').constants.X_OK)`), 'ok', 'access X_OK');
    t.ok((await run('df', [mountpoint])).code === 0, 'statfs');
    t.same(denied, [], 'nothing refused');
  });

  t.test('a program and its own library run from the mount', async (t) => {
    const before = mount.stats().pagesChecked;
    const r = await runFromMount(m('veriexec-hello'));
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout, `hello from veriexec-hello\ngreetings from libvxlib\nlib ${m('libvxlib.so')}\n`, 'the library came from the mount ($ORIGIN)');
    t.ok(mount.stats().pagesChecked > before, 'its pages were checked');
    t.same(denied, [], 'nothing refused');
  });

  t.test('cached pages: KEEP_CACHE keeps them; fadvise(DONTNEED) and evict() drop them', async (t) => {
    const reads = () => mount.stats().reads;
    await run('cat', [m('data.bin')]);
    const first = reads();
    await run('cat', [m('data.bin')]);
    t.equal(reads(), first, 'a second cat is served from the page cache');
    // GNU dd's iflag=nocache with count=0 is posix_fadvise(POSIX_FADV_DONTNEED) over the whole file.
    t.equal((await run('dd', [`if=${m('data.bin')}`, 'iflag=nocache', 'count=0', 'status=none'])).code, 0);
    await run('cat', [m('data.bin')]);
    t.ok(reads() > first, 'after fadvise(DONTNEED) the kernel reads (and we check) again');
    const second = reads();
    t.equal(await mount.evict('data.bin'), true, 'evict() found the inode');
    await run('cat', [m('data.bin')]);
    t.ok(reads() > second, 'after evict() too');
    t.equal(await mount.evict('never-looked-up'), false, 'nothing to evict for a name the kernel never looked up');
  });

  t.test('a changed page kills the program that touches it, and only that one', async (t) => {
    const a = await startPages(m('veriexec-pages'));
    t.teardown(a.kill);
    const b = await startPages(m('veriexec-pages'));
    t.teardown(b.kill);
    t.equal(a.page, b.page);
    a.send('touch');
    t.equal(await a.nextLine(), `sum ${0x5a * PAGE}`, 'the page as fingerprinted');

    // Evict every page of the program, mapped ones included, then change one byte of that page in the source, in place.
    t.equal(await mount.evict('veriexec-pages'), true);
    const fd = fs.openSync(path.join(source, 'veriexec-pages'), 'r+');
    fs.writeSync(fd, Buffer.from([0x5b]), 0, 1, a.page * PAGE + 123);
    fs.closeSync(fd);

    b.send('ping');
    t.equal(await b.nextLine(), 'pong', 'b runs on: its text pages come back, checked');
    a.send('touch');
    const end = await a.exited;
    t.equal(end.signal, 'SIGBUS', 'a dies touching the changed page');
    t.ok(
      denied.some((d) => d.path === 'veriexec-pages' && d.page === a.page && d.pid === a.pid),
      `the log names the file, page ${a.page} and pid ${a.pid}: ${JSON.stringify(denied)}`,
    );
    b.send('ping');
    t.equal(await b.nextLine(), 'pong', 'b still runs');
    t.doesNotThrow(() => process.kill(b.pid, 0), 'b is alive');

    const dd = await run('dd', [`if=${m('veriexec-pages')}`, 'bs=4096', `skip=${a.page}`, 'count=1', 'of=/dev/null', 'status=none']);
    t.not(dd.code, 0);
    t.match(dd.stderr, /Input\/output error/, 'read() of that page gives EIO');
    const other = await run('dd', [`if=${m('veriexec-pages')}`, 'bs=4096', 'skip=0', 'count=1', 'status=none']);
    t.equal(other.code, 0, 'another page still reads');
    t.ok(mount.stats().pagesRefused > 0);
  });

  t.test('a file the verifier does not know cannot be opened', async (t) => {
    const r = await run('cat', [m('unlisted.txt')]);
    t.not(r.code, 0);
    t.match(r.stderr, /Permission denied/);
    t.ok(denied.some((d) => d.path === 'unlisted.txt' && d.reason === 'not in the table' && d.page === undefined));
    t.equal(await codeOf(`require('fs').readFileSync(${JSON.stringify(m('bad\nname'))})`), 'EACCES');
    const record = denied.find((d) => d.path === 'bad\nname');
    t.ok(record, 'the refusal names the file as it is');
    const line = lines.find((l) => l.includes('bad\\nname'));
    t.ok(line && line.indexOf('\n') === line.length - 1, `one line in the JSON log: ${JSON.stringify(line)}`);
  });

  t.test('odd names are served; nothing leads out of the source', async (t) => {
    t.equal(await node(`return require('fs').readFileSync(${JSON.stringify(m('evil\nname'))}, 'utf8')`), 'a name with a newline\n');
    t.equal(await node(`return require('fs').readFileSync(${JSON.stringify(m('..dots..'))}, 'utf8')`), 'dots\n');
    // The kernel follows links itself, from the mount: ../outside.txt beside the mount point does not exist.
    t.equal(await codeOf(`require('fs').readFileSync(${JSON.stringify(m('escape'))})`), 'ENOENT', 'a link is the kernel’s to follow, not ours');
    // A directory the kernel has looked up, swapped for a link to outside: the server does not follow it.
    t.equal(await node(`return require('fs').readFileSync(${JSON.stringify(m('dir/inner.txt'))}, 'utf8')`), 'inside\n');
    fs.renameSync(path.join(source, 'dir'), path.join(source, 'dir.old'));
    fs.symlinkSync(path.join(tmp, 'outside-dir'), path.join(source, 'dir'));
    t.teardown(() => {
      fs.unlinkSync(path.join(source, 'dir'));
      fs.renameSync(path.join(source, 'dir.old'), path.join(source, 'dir'));
    });
    await mount.evict('dir/inner.txt');
    const r = await run('cat', [m('dir/inner.txt')]);
    t.not(r.stdout, 'secret outside the source\n', 'the file outside is never served');
    t.not(r.code, 0, r.stderr);
  });

  t.test('hostile and malformed requests, straight into a session over the same source', async (t) => {
    const tree = new SourceTree(source);
    t.teardown(() => tree.close());
    const ops = new VerifyingFs(tree, verifier, undefined);
    const session = new FuseSession(ops);
    let unique = 100n;
    const request = (opcode: number, nodeid: number, body: Buffer = Buffer.alloc(0)) => {
      const buf = Buffer.alloc(40 + body.length);
      buf.writeUInt32LE(buf.length, 0);
      buf.writeUInt32LE(opcode, 4);
      buf.writeBigUInt64LE(unique++, 8);
      buf.writeBigUInt64LE(BigInt(nodeid), 16);
      body.copy(buf, 40);
      return buf;
    };
    const error = (out: Buffer | null) => (out ? out.readInt32LE(4) : null);
    t.equal(error(session.handle(request(1, 1, Buffer.from('hello.txt\0')))), -5, 'before INIT: EIO');
    const init = Buffer.alloc(64);
    init.writeUInt32LE(7, 0);
    init.writeUInt32LE(45, 4);
    init.writeUInt32LE(128 * 1024, 8);
    const initReply = session.handle(request(26, 0, init))!;
    t.equal(error(initReply), 0);
    t.equal(initReply.readUInt32LE(20), 31, 'minor: ours, the smaller');
    t.equal(error(session.handle(request(26, 0, init))), -71, 'a second INIT: EPROTO');

    const lookup = (nodeid: number, name: string | Buffer) => session.handle(request(1, nodeid, Buffer.concat([Buffer.from(name), Buffer.from([0])])))!;
    const nodeOf = (out: Buffer) => Number(out.readBigUInt64LE(16));
    t.equal(nodeOf(lookup(1, '..')), 1, '".." of the root is the root');
    const dir = nodeOf(lookup(1, 'dir'));
    t.equal(nodeOf(lookup(dir, '..')), 1, '".." of a directory is its parent');
    t.equal(nodeOf(lookup(1, '.')), 1);
    t.equal(error(lookup(1, '../outside.txt')), -2, 'a name with a slash is no name');
    t.equal(error(lookup(1, 'x'.repeat(256))), -36, 'ENAMETOOLONG');
    t.equal(error(lookup(1, Buffer.from([0xff, 0xfe]))), -2, 'a name that is not UTF-8 is not found');
    t.equal(error(lookup(1, 'escape')), 0, 'a link is found, as a link');
    t.equal(error(session.handle(request(5, nodeOf(lookup(1, 'escape'))))), 0, 'and read as one');

    t.equal(session.handle(Buffer.alloc(0)), null, 'an empty request: no answer');
    t.equal(error(session.handle(Buffer.alloc(20))), -5, 'a short header: EIO to its id');
    const lying = request(3, 1);
    lying.writeUInt32LE(4096, 0);
    t.equal(error(session.handle(lying)), -5, 'a length that is not the size read: EIO');
    t.equal(error(session.handle(request(1, 1, Buffer.from('no-nul')))), -5, 'a name without NUL: EIO');
    t.equal(error(session.handle(request(9999, 1))), -38, 'an unknown opcode: ENOSYS');
    t.equal(error(session.handle(request(16, 1, Buffer.alloc(80)))), -30, 'WRITE: EROFS');
    t.equal(error(session.handle(request(15, 1, Buffer.alloc(40)))), -9, 'READ of a handle never opened: EBADF');
    t.equal(error(session.handle(request(3, 123456))), -2, 'GETATTR of a node never given: ENOENT');
    const huge = Buffer.alloc(8);
    huge.writeUInt32LE(0xffffffff, 0);
    t.equal(session.handle(request(42, 0, huge)), null, 'BATCH_FORGET claiming 4G entries: dropped, no answer');
    t.equal(session.handle(request(2, 999, Buffer.alloc(8))), null, 'FORGET: no answer');
    t.equal(session.handle(request(36, 0, Buffer.alloc(8))), null, 'INTERRUPT: no answer');

    // Any bytes at all: an answer or none, never an exception.
    for (let i = 0; i < 3000; i++) {
      const opcode = i % 60;
      const body = crypto.randomBytes(i % 97);
      const buf = request(opcode, [0, 1, dir, 7777][i % 4]!, body);
      if (i % 13 === 0) buf.writeUInt32LE(crypto.randomInt(0, 200), 0);
      const out = session.handle(buf);
      if (out !== null && out.readUInt32LE(0) !== out.length) t.fail(`reply of wrong length to opcode ${opcode}`);
    }
    t.equal(ops.stats.errors, 0, 'no operation threw');
    ops.closeAll();
  });
});

t.test('a server that dies leaves an ENOTCONN mount, and detachMount() removes it', async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hostkit-vxfuse-dead-'));
  const source = path.join(tmp, 'source');
  const mountpoint = path.join(tmp, 'mnt');
  fs.mkdirSync(source);
  fs.mkdirSync(mountpoint);
  fs.writeFileSync(path.join(source, 'a.txt'), 'a\n');
  t.teardown(() => {
    detachMount(mountpoint);
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  const script = `
    const { mountVerified } = require(${JSON.stringify(path.join(ROOT, 'dist', 'veriexec', 'fuse'))});
    mountVerified({ source: ${JSON.stringify(source)}, mountpoint: ${JSON.stringify(mountpoint)},
      verifier: { file: () => ({ pageSize: 4096, check: () => true }) } }).then(() => console.log('mounted'));`;
  const server = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => server.kill('SIGKILL'));
  const exited = new Promise((resolve) => server.on('exit', resolve));
  const [line] = await Promise.race([
    new Promise<string[]>((resolve) => server.stdout.once('data', (d) => resolve([String(d)]))),
    exited.then(() => ['exited']),
  ]);
  t.equal(line, 'mounted\n');
  t.equal((await run('cat', [path.join(mountpoint, 'a.txt')])).stdout, 'a\n', 'served by the child');
  server.kill('SIGKILL');
  await exited;
  const r = await run('stat', [mountpoint]);
  t.match(r.stderr, /Transport endpoint is not connected/, 'the mount stays, its connection aborted');
  t.ok(mounted(mountpoint));
  t.equal(detachMount(mountpoint), true);
  t.notOk(mounted(mountpoint), 'gone after detachMount()');
  t.equal(detachMount(mountpoint), false, 'and a second one finds nothing');
});
