'use strict';
// npm run bench -- veriexec [--execs N] [--runs R] [--skip-gen] [--skip-mount]
// veriexec against its anchors, in one run:
//  exec: fork+execve of a small dynamic program (/usr/bin/true) N times (default 2000) from an ext2 image
//   mounted on a loop device (the only filesystem of that type here, so fapolicyd's watch_fs marks nothing else):
//   (a) no daemon; (b) fapolicyd, integrity=sha256, a trust=1 rule on the program (started and stopped here,
//   its configuration put back after); (c) `veriexec enforce --level 2`, no verdict cache (every exec hashed:
//   the cold cost); (d) the same daemon with its cache (warm).
//  gen: `veriexec gen` of /usr/bin and /usr/lib/x86_64-linux-gnu with one and with two workers against
//   sha256sum of the same files (the files gen lists), page cache warm for both.
//  mount: scripts/bench/veriexec-fuse.js's rows (reading through `veriexec mount` against the plain filesystem).
// Medians of R runs (default 3); ratios against the anchor of each part.
const { execFile, execFileSync, spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { compile, median } = require('./compile');

const CLI = path.join(__dirname, '..', '..', 'dist', 'veriexec', 'cli.js');
const FAPOLICYD = '/usr/sbin/fapolicyd';

function option(args, name, fallback) {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

function loop(binary, n, target) {
  return new Promise((resolve, reject) => {
    execFile(binary, [String(n), target], { timeout: 600_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${binary}: ${stderr || err.message}`)) : resolve(Number(stdout)),
    );
  });
}

/** Waits for a line of `stream` matching `re`, or for the process to end (an error then). */
function lineMatching(child, stream, re, what) {
  return new Promise((resolve, reject) => {
    const seen = [];
    const rl = readline.createInterface({ input: stream });
    rl.on('line', (l) => {
      seen.push(l);
      if (re.test(l)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`${what} exited (${code}) before it was ready:\n${seen.slice(-20).join('\n')}`)));
  });
}

async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** fapolicyd in the foreground with a configuration made for this run; /etc/fapolicyd as it was afterwards. */
async function withFapolicyd(target, fn) {
  const saved = fs.mkdtempSync(path.join(os.tmpdir(), 'hostkit-bench-fapolicyd-'));
  fs.cpSync('/etc/fapolicyd', saved, { recursive: true, preserveTimestamps: true });
  try {
    const conf = fs
      .readFileSync('/etc/fapolicyd/fapolicyd.conf', 'utf8')
      .replace(/^integrity\s*=.*$/m, 'integrity = sha256')
      .replace(/^trust\s*=.*$/m, 'trust = file')
      .replace(/^watch_fs\s*=.*$/m, 'watch_fs = ext2')
      // It cannot drop to its own user in this VM ("Cannot change to uid"): it runs as root here.
      .replace(/^uid\s*=.*$/m, 'uid = root')
      .replace(/^gid\s*=.*$/m, 'gid = root');
    fs.writeFileSync('/etc/fapolicyd/fapolicyd.conf', conf);
    fs.writeFileSync(
      '/etc/fapolicyd/compiled.rules',
      `allow perm=any all : path=${target} trust=1\ndeny_audit perm=execute all : all\nallow perm=any all : all\n`,
    );
    const digest = execFileSync('sha256sum', [target], { encoding: 'utf8' }).split(' ')[0];
    fs.writeFileSync('/etc/fapolicyd/fapolicyd.trust', `${target} ${fs.statSync(target).size} ${digest}\n`);
    fs.rmSync('/var/lib/fapolicyd/data.mdb', { force: true });
    fs.rmSync('/var/lib/fapolicyd/lock.mdb', { force: true });
    const daemon = spawn(FAPOLICYD, ['--debug'], { stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      await lineMatching(daemon, daemon.stderr, /Starting to listen for events/, 'fapolicyd');
      daemon.stderr.resume();
      return await fn();
    } finally {
      await stop(daemon);
    }
  } finally {
    fs.rmSync('/etc/fapolicyd', { recursive: true, force: true });
    fs.cpSync(saved, '/etc/fapolicyd', { recursive: true, preserveTimestamps: true });
    fs.rmSync(saved, { recursive: true, force: true });
  }
}

async function withEnforce(sig, dir, cache, fn) {
  const args = [CLI, 'enforce', '-f', sig, '--level', '2', '--watch', dir, '--cache', String(cache)];
  const daemon = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    await lineMatching(daemon, daemon.stderr, /^veriexec: enforcing/, 'veriexec enforce');
    daemon.stderr.resume();
    return await fn();
  } finally {
    await stop(daemon);
  }
}

async function execPart(args, runs) {
  const n = option(args, '--execs', 2000);
  const binary = compile('veriexec-forkexec');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'hostkit-bench-veriexec-'));
  const image = path.join(work, 'fs.img');
  const dir = path.join(work, 'mnt');
  fs.mkdirSync(dir);
  execFileSync('truncate', ['-s', '64M', image]);
  execFileSync('mkfs.ext2', ['-q', '-F', image]);
  execFileSync('mount', ['-o', 'loop', image, dir]);
  try {
    const target = path.join(dir, 'true');
    fs.copyFileSync('/usr/bin/true', target);
    fs.chmodSync(target, 0o755);
    const sig = path.join(work, 'sig');
    execFileSync(process.execPath, [CLI, 'gen', dir, '-o', sig]);
    const ways = [['(a) no daemon', () => loop(binary, n, target)]];
    if (fs.existsSync(FAPOLICYD)) ways.push(['(b) fapolicyd, integrity=sha256', () => withFapolicyd(target, () => loop(binary, n, target))]);
    else process.stderr.write('fapolicyd is not installed (apt-get install fapolicyd): no anchor row\n');
    ways.push(['(c) veriexec enforce, cold (no cache)', () => withEnforce(sig, dir, 0, () => loop(binary, n, target))]);
    ways.push(['(d) veriexec enforce, warm (cache)', () => withEnforce(sig, dir, 4096, () => loop(binary, n, target))]);
    const samples = new Map(ways.map(([name]) => [name, []]));
    for (let r = 0; r < runs; r++) for (const [name, run] of ways) samples.get(name).push(await run());
    const floor = median(samples.get(ways[0][0]));
    const anchorName = ways.find(([name]) => name.startsWith('(b)'))?.[0];
    const anchor = anchorName ? median(samples.get(anchorName)) - floor : null;
    process.stdout.write(`\nexec: fork+execve of ${target} (ext2 on a loop device), ${n} per run, medians of ${runs}\n`);
    process.stdout.write(`${'way'.padEnd(40)} ${'µs/exec'.padStart(9)} ${'added µs'.padStart(9)} ${anchor ? 'added vs (b)'.padStart(13) : ''}\n`);
    for (const [name] of ways) {
      const us = median(samples.get(name));
      const added = us - floor;
      const vs = anchor && !name.startsWith('(a)') ? (added / anchor).toFixed(2) : '';
      process.stdout.write(`${name.padEnd(40)} ${us.toFixed(1).padStart(9)} ${added.toFixed(1).padStart(9)} ${vs.padStart(13)}\n`);
    }
  } finally {
    spawnSync('umount', [dir]);
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function seconds(fn) {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function genPart(runs) {
  const roots = ['/usr/bin', '/usr/lib/x86_64-linux-gnu'];
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'hostkit-bench-gen-'));
  try {
    const sig = path.join(work, 'sig');
    const freshGen = (jobs) => {
      fs.rmSync(sig, { force: true });
      fs.rmSync(`${sig}.pages`, { force: true });
      execFileSync(process.execPath, [CLI, 'gen', ...roots, '-o', sig, '--jobs', jobs]);
    };
    execFileSync(process.execPath, [CLI, 'gen', ...roots, '-o', sig]); // the list of files, and a warm page cache
    const files = fs
      .readFileSync(sig, 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split(' ')[0].replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(Number.parseInt(o, 8))));
    const list = Buffer.from(`${files.join('\0')}\0`);
    const bytes = files.reduce((sum, f) => sum + fs.statSync(f).size, 0);
    const ways = [
      ['sha256sum, one process', () => execFileSync('xargs', ['-0', 'sha256sum'], { input: list, stdio: ['pipe', 'ignore', 'inherit'], maxBuffer: 1 << 30 })],
      ['veriexec gen --jobs 1', () => freshGen('1')],
      ['veriexec gen --jobs 2', () => freshGen('2')],
      ['veriexec gen again, nothing changed', () => execFileSync(process.execPath, [CLI, 'gen', ...roots, '-o', sig])],
    ];
    const samples = new Map(ways.map(([name]) => [name, []]));
    for (let r = 0; r < runs; r++) for (const [name, run] of ways) samples.get(name).push(seconds(run));
    const anchor = median(samples.get(ways[0][0]));
    process.stdout.write(`\ngen: ${files.length} files, ${(bytes / 2 ** 20).toFixed(0)} MiB of ${roots.join(' ')}, page cache warm, medians of ${runs}\n`);
    process.stdout.write(`${'way'.padEnd(40)} ${'seconds'.padStart(9)} ${'MB/s'.padStart(7)} ${'vs sha256sum'.padStart(13)}\n`);
    for (const [name] of ways) {
      const s = median(samples.get(name));
      process.stdout.write(
        `${name.padEnd(40)} ${s.toFixed(2).padStart(9)} ${(bytes / s / 1e6).toFixed(0).padStart(7)} ${(s / anchor).toFixed(2).padStart(13)}\n`,
      );
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

exports.main = async function main(args) {
  const runs = option(args, '--runs', 3);
  process.stdout.write(`veriexec against its anchors; ${os.cpus()[0].model}, ${os.cpus().length} CPUs, Linux ${os.release()}\n`);
  await execPart(args, runs);
  if (!args.includes('--skip-gen')) genPart(runs);
  if (!args.includes('--skip-mount')) {
    const fuse = path.join(__dirname, 'veriexec-fuse.js');
    if (fs.existsSync(fuse)) await require(fuse).main(['--runs', String(runs)]);
    else process.stderr.write('scripts/bench/veriexec-fuse.js is missing: no mount rows\n');
  }
};
