'use strict';
// npm run bench -- veriexec-guard [--execs N] [--runs R]
// fork+execve of /bin/true copied into a fresh tmpfs, N times (default 2000), by a C loop:
//  (a) no guard (the floor);
//  (b) hostkit/veriexec guard, allow-all decider, no cache;
//  (c) guard whose decider hashes the file (sha256 through the event fd), no cache;
//  (d) the same hashing decider behind the guard's verdict cache;
// The engine alone, in this process; `npm run bench -- veriexec` runs the daemon against fapolicyd.
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
    process.stdout.write(`fork+exec of ${target} (tmpfs), ${n} per run, median of ${runs}; ${os.cpus()[0].model}, Linux ${os.release()}\n`);
    process.stdout.write(`${'way'.padEnd(34)} ${'µs/exec'.padStart(9)} ${'vs (a)'.padStart(7)}  decider calls / cache hits / on the reader thread\n`);
    for (const [name] of ways) {
      const us = median(samples.get(name));
      const s = last.get(name);
      const extra = s ? `  ${s.deciderCalls} / ${s.cacheHits} / ${s.nativeHits}` : '';
      process.stdout.write(`${name.padEnd(34)} ${us.toFixed(1).padStart(9)} ${(us / floor).toFixed(2).padStart(7)}${extra}\n`);
    }
  } finally {
    spawnSync('umount', [dir]);
    fs.rmdirSync(dir);
  }
};
