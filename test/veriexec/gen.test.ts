/**
 * `veriexec gen`, `check` and `query` on real files. Oracles that share no
 * code with ours: coreutils' sha256sum and sha512sum for whole files, and
 * `split -b 4096` then sha256sum for each page's digest.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { VeriexecTable, generate, pageRoot } from '../../lib/veriexec';
import { pageTableFile, readPageTable, writePageTable } from '../../lib/veriexec/page-table';
import { fixture } from '../helpers';

const CLI = path.join(__dirname, '..', '..', 'dist', 'veriexec', 'cli.js');

function veriexec(...args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
}

/** A tree with one of each kind, and things that must not be listed. */
function tree(t: Test) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hostkit-veriexec-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const bin = path.join(dir, 'bin');
  const lib = path.join(dir, 'lib');
  fs.mkdirSync(bin);
  fs.mkdirSync(lib);
  fs.copyFileSync(fixture('exitcode'), path.join(bin, 'exitcode'));
  fs.copyFileSync(fixture('libescape.so'), path.join(lib, 'libescape.so'));
  fs.chmodSync(path.join(lib, 'libescape.so'), 0o644);
  fs.copyFileSync('/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', path.join(lib, 'ld.so'));
  fs.writeFileSync(path.join(bin, 'hello.sh'), '#!/bin/sh\necho hello\n', { mode: 0o755 });
  fs.writeFileSync(path.join(bin, 'not-run.sh'), '#!/bin/sh\necho never\n', { mode: 0o644 });
  fs.writeFileSync(path.join(bin, 'data.txt'), 'just data\n', { mode: 0o755 });
  fs.writeFileSync(path.join(bin, 'odd\nname with space'), '#!/bin/sh\n', { mode: 0o755 });
  fs.symlinkSync('exitcode', path.join(bin, 'link'));
  execFileSync('mkfifo', [path.join(bin, 'fifo')]); // would block an open without O_NONBLOCK
  return { dir, bin, lib, sig: path.join(dir, 'sig') };
}

function sha(file: string, bits = 256): string {
  // On standard input: sha256sum escapes a name with a newline in its output.
  return execFileSync(`sha${bits}sum`, { input: fs.readFileSync(file), encoding: 'utf8' }).split(' ')[0]!;
}

t.test('gen lists each runnable kind with its flags, and digests agree with sha256sum, page by page', async (t) => {
  const { dir, bin, lib, sig } = tree(t);
  const report = await generate({ roots: [dir], output: sig });
  t.same(report.problems, []);
  const table = VeriexecTable.load(sig);
  const flags = (p: string) => [...(table.get(p)?.flags ?? [])].sort().join(',');
  t.equal(flags(path.join(bin, 'exitcode')), 'direct,file', 'an executable');
  t.equal(flags(path.join(lib, 'libescape.so')), 'file', 'a library');
  t.equal(flags(path.join(lib, 'ld.so')), 'direct,file,indirect', 'the dynamic loader');
  t.equal(flags(path.join(bin, 'hello.sh')), 'direct,file', 'a script');
  t.equal(flags(path.join(bin, 'odd\nname with space')), 'direct,file', 'a hostile name');
  for (const p of ['not-run.sh', 'data.txt', 'link', 'fifo']) t.notOk(table.get(path.join(bin, p)), `${p} is not listed`);
  t.equal(table.size, 5);
  t.equal(fs.readFileSync(sig, 'utf8').split('\n').length, 7, 'a line each, the odd name escaped');

  for (const e of table.all()) t.equal(e.digest, sha(e.path), `${path.basename(e.path)}: sha256sum agrees`);
  // Each page's digest against split + sha256sum.
  const exe = path.join(bin, 'exitcode');
  const pieces = fs.mkdtempSync(path.join(os.tmpdir(), 'hostkit-pages-'));
  t.teardown(() => fs.rmSync(pieces, { recursive: true, force: true }));
  execFileSync('split', ['-b', '4096', '-a', '4', '-d', exe, path.join(pieces, 'p')]);
  const expected = Buffer.concat(
    fs
      .readdirSync(pieces)
      .sort()
      .map((f) => Buffer.from(sha(path.join(pieces, f)), 'hex')),
  );
  t.same(table.pages(exe), expected, 'the page table holds each 4 KiB page digest as sha256sum gives it');
  t.equal(pageRoot(expected, fs.statSync(exe).size, 'sha256'), table.get(exe)!.pageRoot, 'and the root the line names');
});

t.test('gen again reads only what changed: mtime, content kept to size and mtime (ctime moves), a rename over', async (t) => {
  const { dir, bin, sig } = tree(t);
  await generate({ roots: [dir], output: sig });
  const again = await generate({ roots: [dir], output: sig });
  t.match(again, { listed: 5, hashed: 0, reused: 5 });

  const script = path.join(bin, 'hello.sh');
  const { atime, mtime } = fs.statSync(script);
  fs.writeFileSync(script, '#!/bin/sh\necho HELLO\n');
  fs.utimesSync(script, atime, mtime); // same size, same mtime: only the ctime says it changed
  const replacement = path.join(dir, 'exitcode.new');
  fs.copyFileSync(fixture('showargs'), replacement);
  fs.renameSync(replacement, path.join(bin, 'exitcode'));
  const third = await generate({ roots: [dir], output: sig });
  t.match(third, { listed: 5, hashed: 2, reused: 3 });
  const table = VeriexecTable.load(sig);
  t.equal(table.get(script)!.digest, sha(script));
  t.equal(table.get(path.join(bin, 'exitcode'))!.digest, sha(fixture('showargs')));
});

t.test('untrusted, added by hand, survives a gen; sha512 on request', async (t) => {
  const { dir, bin, sig } = tree(t);
  await generate({ roots: [dir], output: sig });
  const text = fs.readFileSync(sig, 'utf8').replace(/(hello\.sh sha256 [0-9a-f]+ )direct,file/, '$1direct,file,untrusted');
  fs.writeFileSync(sig, text);
  fs.appendFileSync(path.join(bin, 'hello.sh'), '# changed\n');
  await generate({ roots: [dir], output: sig });
  t.ok(VeriexecTable.load(sig).get(path.join(bin, 'hello.sh'))!.flags.has('untrusted'));
  const sig512 = path.join(dir, 'sig512');
  await generate({ roots: [bin], output: sig512, algorithm: 'sha512' });
  const e = VeriexecTable.load(sig512).get(path.join(bin, 'hello.sh'))!;
  t.equal(e.digest, sha(e.path, 512), 'sha512sum agrees');
  t.ok(VeriexecTable.load(sig512).pages(e.path), 'the sha512 page table gives its root');
});

t.test('check and query from the command line: ok, mismatch, size, missing, a tampered page table', async (t) => {
  const { dir, bin, lib, sig } = tree(t);
  const gen = veriexec('gen', dir, '-o', sig, '--json');
  t.equal(gen.status, 0, gen.stderr);
  t.match(JSON.parse(gen.stdout), { listed: 5, hashed: 5 });
  t.equal(veriexec('check', '-f', sig).status, 0, 'all ok at first');

  const exe = path.join(bin, 'exitcode');
  const bytes = fs.readFileSync(exe);
  bytes[bytes.length - 100]! ^= 1;
  fs.writeFileSync(exe, bytes);
  fs.truncateSync(path.join(bin, 'hello.sh'), 3);
  fs.rmSync(path.join(lib, 'libescape.so'));
  const check = veriexec('check', '-f', sig, '--json');
  t.equal(check.status, 1);
  const status = Object.fromEntries((JSON.parse(check.stdout) as { path: string; status: string }[]).map((r) => [path.basename(r.path), r.status]));
  t.same(status, { exitcode: 'mismatch', 'hello.sh': 'size', 'libescape.so': 'missing', 'ld.so': 'ok', 'odd\nname with space': 'ok' });

  const query = veriexec('query', '-f', sig, path.join(bin, 'link'), path.join(bin, 'data.txt'));
  t.equal(query.status, 1);
  t.match(
    query.stdout,
    new RegExp(`^${exe} sha256 [0-9a-f]{64} direct,file \\d+ [0-9a-f]{64}\\n  on disk: mismatch`, 'm'),
    'a symlink is looked up as the file it names',
  );
  t.match(query.stdout, /data\.txt": not in /);

  // The page table is trusted only through the roots in the signatures file.
  const records = readPageTable(pageTableFile(sig));
  const loader = records.get(path.join(lib, 'ld.so'))!;
  loader.pages = Buffer.from(loader.pages);
  loader.pages[5]! ^= 0xff;
  writePageTable(pageTableFile(sig), records.values());
  const checked = JSON.parse(veriexec('check', '-f', sig, path.join(lib, 'ld.so'), '--json').stdout);
  t.match(checked, [{ status: 'pages' }], 'a page digest changed in FILE.pages is caught: the file is right, its page table is not');
});

t.test('bad command lines and bad files: usage errors exit 2, a malformed file names its line', async (t) => {
  t.equal(veriexec('gen', '/tmp').status, 2);
  t.equal(veriexec('gen', '-o', '/tmp/x').status, 2);
  t.equal(veriexec('check').status, 2);
  t.equal(veriexec('gen', '/tmp', '-o', '/tmp/x', '--algorithm', 'md5').status, 2);
  t.equal(veriexec('frobnicate').status, 2);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hostkit-veriexec-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const sig = path.join(dir, 'sig');
  fs.writeFileSync(sig, `# x\n/bin/true sha256 ${'a'.repeat(64)} direct 10\n`);
  const r = veriexec('check', '-f', sig);
  t.equal(r.status, 1);
  t.match(r.stderr, /sig:2: expected 6 fields/);
  t.equal(veriexec('check', '-f', path.join(dir, 'none')).status, 1);
  t.match(veriexec('check', '-f', path.join(dir, 'none')).stderr, /ENOENT/);
});

t.test('a tree large enough for the worker pool: the same table as fingerprinting in one thread', async (t) => {
  const { dir, bin, sig } = tree(t);
  for (let i = 0; i < 40; i++) fs.writeFileSync(path.join(bin, `s${i}.sh`), `#!/bin/sh\necho ${i}\n${'#'.repeat(i * 300)}\n`, { mode: 0o755 });
  const pooled = veriexec('gen', dir, '-o', sig, '--jobs', '2', '--json');
  t.equal(pooled.status, 0, pooled.stderr);
  t.match(JSON.parse(pooled.stdout), { listed: 45, hashed: 45 });
  const single = path.join(dir, 'single');
  await generate({ roots: [dir], output: single, jobs: 1 });
  t.equal(fs.readFileSync(sig, 'utf8'), fs.readFileSync(single, 'utf8').replaceAll(single, sig), 'line for line');
  t.same(fs.readFileSync(pageTableFile(sig)).length, fs.readFileSync(pageTableFile(single)).length);
});
