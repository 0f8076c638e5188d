'use strict';
// npm run bench -- veriexec-fuse [--mib N] [--runs R] [--max-pages P]
// Reading a file (default 256 MiB) through hostkit/veriexec's verifying FUSE
// mount, each 4 KiB page checked against its SHA-256, against reading it from
// the source directory itself:
//  (a) source, cold: after `echo 1 > /proc/sys/vm/drop_caches`;
//  (b) the mount, cold: the same, every page a FUSE READ, pread and SHA-256 in the server;
//  (c) the mount, hot: read again, all pages from the page cache (FOPEN_KEEP_CACHE), no request;
//  (d) source, hot.
// Each read is `dd bs=1M` in a child process (the server runs on this thread);
// also the floor of (b): SHA-256 of the file's pages in this process. Then a program run from the mount
// and from the source (gdb --version: a 10 MB program whose startup faults in a good part of its text),
// cold (after drop_caches) and hot. Medians of R runs (default 3).
const { execFile } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { median } = require('./compile');
const { mountVerified } = require('../../dist/veriexec/fuse');

const PAGE = 4096;

function option(args, name, fallback) {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

const sha256 = (data) => crypto.createHash('sha256').update(data).digest();

function dropCaches() {
  fs.writeFileSync('/proc/sys/vm/drop_caches', '1');
}

/** Seconds for `program --version` to run, started through /bin/sh (a spawn of ours would wait for an exec that waits for this thread). */
function timedRun(program) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    execFile('/bin/sh', ['-c', 'exec "$0" --version > /dev/null', program], (err) => {
      if (err) reject(err);
      else resolve(Number(process.hrtime.bigint() - start) / 1e9);
    });
  });
}

/** Seconds for a child to read `file` to its end. */
function timedRead(file) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    execFile('dd', [`if=${file}`, 'of=/dev/null', 'bs=1M', 'status=none'], (err) => {
      if (err) reject(err);
      else resolve(Number(process.hrtime.bigint() - start) / 1e9);
    });
  });
}

exports.main = async function main(args) {
  const mib = option(args, '--mib', 256);
  const runs = option(args, '--runs', 3);
  const maxPages = option(args, '--max-pages', 32);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hostkit-bench-vxfuse-'));
  const source = path.join(tmp, 'source');
  const mountpoint = path.join(tmp, 'mnt');
  fs.mkdirSync(source);
  fs.mkdirSync(mountpoint);
  const data = crypto.randomBytes(mib * 1024 * 1024);
  fs.writeFileSync(path.join(source, 'big'), data);
  const pages = [];
  let hashSeconds = Infinity;
  for (let run = 0; run < runs; run++) {
    const start = process.hrtime.bigint();
    pages.length = 0;
    for (let at = 0; at < data.length; at += PAGE) pages.push(sha256(data.subarray(at, at + PAGE)));
    hashSeconds = Math.min(hashSeconds, Number(process.hrtime.bigint() - start) / 1e9);
  }
  const program = '/usr/bin/gdb';
  const programData = fs.readFileSync(program);
  fs.writeFileSync(path.join(source, 'program'), programData, { mode: 0o755 });
  const programPages = [];
  for (let at = 0; at < programData.length; at += PAGE) programPages.push(sha256(programData.subarray(at, at + PAGE)));
  const table = { big: { size: data.length, pages }, program: { size: programData.length, pages: programPages } };
  const verifier = {
    file: (rel, stat) => {
      const entry = table[rel];
      return !entry || stat.size !== entry.size
        ? 'not in the table'
        : { pageSize: PAGE, check: (i, page) => entry.pages[i] !== undefined && sha256(page).equals(entry.pages[i]) };
    },
  };
  const mount = await mountVerified({ source, mountpoint, verifier, maxPages });
  const times = { a: [], b: [], c: [], d: [], pa: [], pb: [], pc: [], pd: [] };
  try {
    for (let run = 0; run < runs; run++) {
      dropCaches();
      times.a.push(await timedRead(path.join(source, 'big')));
      times.d.push(await timedRead(path.join(source, 'big')));
      dropCaches();
      const before = mount.stats();
      times.b.push(await timedRead(path.join(mountpoint, 'big')));
      const after = mount.stats();
      if (after.pagesChecked - before.pagesChecked < data.length / PAGE)
        throw new Error(`cold read checked ${after.pagesChecked - before.pagesChecked} pages, not all`);
      times.c.push(await timedRead(path.join(mountpoint, 'big')));
      if (mount.stats().reads !== after.reads) throw new Error('the hot read reached the server');
      for (const [cold, hot, dir] of [
        ['pa', 'pd', source],
        ['pb', 'pc', mountpoint],
      ]) {
        dropCaches();
        times[cold].push(await timedRun(path.join(dir, 'program')));
        let hotSum = 0;
        for (let i = 0; i < 10; i++) hotSum += await timedRun(path.join(dir, 'program'));
        times[hot].push(hotSum / 10);
      }
    }
  } finally {
    await mount.unmount();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const s = mount.stats();
  const a = median(times.a);
  const n = data.length / PAGE;
  const rows = [
    ['(a) source, cold (after drop_caches)', a],
    ['(b) verifying mount, cold: READ + pread + SHA-256', median(times.b)],
    ['(c) verifying mount, hot (page cache)', median(times.c)],
    ['(d) source, hot', median(times.d)],
    ['    floor of (b): SHA-256 of every page, in-process', hashSeconds],
  ];
  process.stdout.write(
    `${mib} MiB read with dd bs=1M, medians of ${runs} runs; READs of up to ${mount.negotiated.maxPages} pages (${Math.round(s.pagesChecked / Math.max(1, s.reads))} on average), readahead ${mount.negotiated.maxReadahead / 1024} KiB\n`,
  );
  process.stdout.write(`${'way'.padEnd(52)} ${'seconds'.padStart(8)} ${'MiB/s'.padStart(8)} ${'µs/page'.padStart(8)} ${'vs (a)'.padStart(7)}\n`);
  for (const [label, sec] of rows) {
    process.stdout.write(
      `${label.padEnd(52)} ${sec.toFixed(3).padStart(8)} ${(mib / sec).toFixed(0).padStart(8)} ${((sec / n) * 1e6).toFixed(2).padStart(8)} ${(sec / a).toFixed(2).padStart(7)}\n`,
    );
  }
  const b = median(times.b);
  const c = median(times.c);
  process.stdout.write(
    `cold cost of verifying: ${(((b - a) / n) * 1e6).toFixed(2)} µs a page over the source's; hot: (c)/(d) = ${(c / median(times.d)).toFixed(2)}\n`,
  );
  const pa = median(times.pa);
  const pd = median(times.pd);
  process.stdout.write(
    `\n${program} --version (${(programData.length / 2 ** 20).toFixed(1)} MiB), run from each; cold after drop_caches, hot the mean of 10\n`,
  );
  process.stdout.write(`${'way'.padEnd(52)} ${'ms'.padStart(8)} ${'vs source'.padStart(10)}\n`);
  for (const [label, sec, base] of [
    ['(e) source, cold', pa, pa],
    ['(f) verifying mount, cold', median(times.pb), pa],
    ['(g) verifying mount, hot', median(times.pc), pd],
    ['(h) source, hot', pd, pd],
  ])
    process.stdout.write(`${label.padEnd(52)} ${(sec * 1000).toFixed(2).padStart(8)} ${(sec / base).toFixed(2).padStart(10)}\n`);
};
