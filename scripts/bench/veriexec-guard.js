'use strict';
// npm run bench -- veriexec-guard [--execs N] [--runs R] [--fapolicyd]
// fork+execve of /bin/true copied into a fresh tmpfs, N times (default 2000), by a C loop:
//  (a) no guard (the floor);
//  (b) hostkit/veriexec guard, allow-all decider, no cache;
//  (c) guard whose decider hashes the file (sha256 through the event fd), no cache;
//  (d) the same hashing decider behind the guard's verdict cache;
//  (e) with --fapolicyd: fapolicyd (installed) with an integrity=sha256 trust rule on the program, the anchor.
//      Opt-in: in the first attempt its run never finished (not yet understood), and it marks every filesystem.
// Both exec and open events are decided (an exec raises one of each). Medians of R runs (default 3).
const { execFile, execFileSync, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { compile, median } = require('./compile');
const { guard } = require('../../dist/veriexec');

function option(args, name, fallback) {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

/** The C loop runs asynchronously: the guard deciding its children's execs lives in this process's event loop. */
function loop(binary, n, target) {
  return new Promise((resolve, reject) => {
    execFile(binary, [String(n), target], { timeout: 300_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${binary}: ${stderr || err.message}`)) : resolve(Number(stdout)),
    );
  });
}

/** SHA-256 of the file behind an event fd, read through that fd (never by path: that open would wait on us). */
function sha256(fd, size) {
  const hash = crypto.createHash('sha256');
  const buf = Buffer.allocUnsafe(1 << 16);
  for (let at = 0; at < size; ) {
    const n = fs.readSync(fd, buf, 0, buf.length, at);
    if (n === 0) break;
    hash.update(buf.subarray(0, n));
    at += n;
  }
  return hash.digest('hex');
}

async function withGuard(dir, decider, cacheSize, fn) {
  const g = await guard({ paths: [dir], decider, cacheSize, log: () => {} });
  try {
    const us = await fn();
    return { us, stats: g.stats() };
  } finally {
    await g.close();
  }
}

function fapolicydAvailable() {
  return fs.existsSync('/usr/sbin/fapolicyd');
}

/** fapolicyd in the foreground (--debug-deny is quiet for allows) with a rule set made for this run; stopped after. */
async function withFapolicyd(target, digest, fn) {
  const saved = '/tmp/hostkit-bench-fapolicyd';
  fs.rmSync(saved, { recursive: true, force: true });
  fs.cpSync('/etc/fapolicyd', saved, { recursive: true });
  try {
    // fapolicyd reads compiled.rules (what fagenrules makes of rules.d) when it is there.
    fs.writeFileSync('/etc/fapolicyd/compiled.rules', `allow perm=any all : path=${target} trust=1\nallow perm=any all : all\n`);
    const conf = fs.readFileSync('/etc/fapolicyd/fapolicyd.conf', 'utf8').replace(/^integrity\s*=.*$/m, 'integrity = sha256');
    fs.writeFileSync('/etc/fapolicyd/fapolicyd.conf', conf);
    fs.writeFileSync('/etc/fapolicyd/fapolicyd.trust', `${target} ${fs.statSync(target).size} ${digest}\n`);
    // In the foreground (--debug-deny: it prints only denials), never as a service: it must not stay running or enabled.
    const daemon = require('node:child_process').spawn('/usr/sbin/fapolicyd', ['--debug-deny'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let said = '';
    daemon.stderr.on('data', (d) => {
      said += d;
    });
    await new Promise((r) => setTimeout(r, 3000)); // its start-up has no readiness signal
    try {
      return await fn();
    } finally {
      daemon.kill('SIGTERM');
      await new Promise((r) => daemon.on('exit', r));
      if (process.env.HOSTKIT_BENCH_VERBOSE) process.stderr.write(said);
    }
  } finally {
    fs.rmSync('/etc/fapolicyd', { recursive: true, force: true });
    fs.cpSync(saved, '/etc/fapolicyd', { recursive: true });
  }
}

exports.main = async function main(args) {
  const n = option(args, '--execs', 2000);
  const runs = option(args, '--runs', 3);
  const binary = compile('veriexec-forkexec');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hostkit-bench-veriexec-'));
  execFileSync('mount', ['-t', 'tmpfs', 'hostkit-bench', dir]);
  try {
    const target = path.join(dir, 'true');
    fs.copyFileSync('/bin/true', target);
    fs.chmodSync(target, 0o755);
    const fd = fs.openSync(target, 'r');
    const digest = sha256(fd, fs.statSync(target).size);
    fs.closeSync(fd);
    const allowAll = { decide: () => ({ allow: true }) };
    const hashing = { decide: (e) => (sha256(e.fd, Number(e.stat.size)) === digest ? { allow: true } : { allow: false, reason: 'fingerprint mismatch' }) };
    const ways = [
      ['(a) no guard', () => loop(binary, n, target)],
      ['(b) guard, allow-all', () => withGuard(dir, allowAll, 0, () => loop(binary, n, target))],
      ['(c) guard, sha256 each time', () => withGuard(dir, hashing, 0, () => loop(binary, n, target))],
      ['(d) guard, sha256 + cache', () => withGuard(dir, hashing, 4096, () => loop(binary, n, target))],
    ];
    const anchored = args.includes('--fapolicyd');
    if (anchored && fapolicydAvailable()) ways.push(['(e) fapolicyd, integrity=sha256', () => withFapolicyd(target, digest, () => loop(binary, n, target))]);
    else if (anchored) process.stderr.write('fapolicyd is not installed: no anchor row (apt-get install fapolicyd)\n');
    const samples = new Map(ways.map(([name]) => [name, []]));
    const last = new Map();
    for (let r = 0; r < runs; r++) {
      for (const [name, run] of ways) {
        const out = await run();
        samples.get(name).push(typeof out === 'number' ? out : out.us);
        if (typeof out === 'object') last.set(name, out.stats);
      }
    }
    const floor = median(samples.get(ways[0][0]));
    const anchor = ways.length > 4 ? median(samples.get(ways[4][0])) : null;
    process.stdout.write(`fork+exec of ${target} (tmpfs), ${n} per run, median of ${runs}; ${os.cpus()[0].model}, Linux ${os.release()}\n`);
    process.stdout.write(
      `${'way'.padEnd(34)} ${'µs/exec'.padStart(9)} ${'vs (a)'.padStart(7)} ${anchor ? 'vs (e)'.padStart(7) : ''}  decider calls / cache hits\n`,
    );
    for (const [name] of ways) {
      const us = median(samples.get(name));
      const s = last.get(name);
      const extra = s ? `  ${s.deciderCalls} / ${s.cacheHits}` : '';
      process.stdout.write(
        `${name.padEnd(34)} ${us.toFixed(1).padStart(9)} ${(us / floor).toFixed(2).padStart(7)} ${anchor ? (us / anchor).toFixed(2).padStart(7) : ''}${extra}\n`,
      );
    }
  } finally {
    spawnSync('umount', [dir]);
    fs.rmdirSync(dir);
  }
};
