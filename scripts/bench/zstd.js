'use strict';
// npm run bench -- zstd [--megabytes N] [--runs N] [--dir DIR]
// cored's zstd store: the same data, fed in 1 MiB chunks as the pipe reader
// feeds them, to the `zstd -1` child (the anchor, as cored did) and to the
// in-process encoder (zstd-napi) with 0, 1 and 2 libzstd worker threads; then
// the stored file read back by `zstd -d` and by the in-process decoder.
// Wall time, CPU time (this process and its reaped children, all threads),
// and the longest the event loop was blocked (monitorEventLoopDelay's max):
// the daemon handles other crashes on that loop meanwhile.
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { monitorEventLoopDelay } = require('node:perf_hooks');
const { median } = require('./compile');

const root = path.join(__dirname, '..', '..');
const dist = path.join(root, 'dist', 'coredump', 'cored', 'sinks');
const MiB = 1 << 20;

function option(args, name, fallback) {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
}

/** CPU seconds of this process (every thread) plus its reaped children, from /proc/self/stat. */
function cpuSeconds() {
  const fields = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  // Fields 14..17 of proc(5) (utime stime cutime cstime) are 11..14 after the command name.
  const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
  return ticks / 100; // USER_HZ
}

/** `megabytes` 1 MiB chunks, produced into one reused buffer as the pipe reader does. */
function* chunks(kind, megabytes) {
  const chunk = Buffer.alloc(MiB);
  // Random data cycles through 64 MiB, far beyond level 1's 512 KiB window, so nothing repeats for zstd.
  const pool = kind === 'random' ? Array.from({ length: 64 }, () => crypto.randomBytes(MiB)) : [];
  for (let i = 0; i < megabytes; i++) {
    if (kind === 'random') pool[i % pool.length].copy(chunk);
    else {
      // Touched zero pages: a few stray bytes per MiB, as in a big, mostly empty heap.
      chunk.fill(0);
      for (let j = 0; j < 8; j++) chunk[(i * 7919 + j * 131071) % MiB] = (i + j) & 0xff || 1;
    }
    yield chunk;
  }
}

/** Runs `work` once, measuring wall, CPU and the event loop's longest block. */
async function measure(work) {
  const loop = monitorEventLoopDelay({ resolution: 1 });
  const cpu0 = cpuSeconds();
  const t0 = process.hrtime.bigint();
  loop.enable();
  const result = await work();
  loop.disable();
  return { wall: Number(process.hrtime.bigint() - t0) / 1e9, cpu: cpuSeconds() - cpu0, block: loop.max / 1e6, result };
}

async function encode(makeEncoder, file, kind, megabytes) {
  const fd = fs.openSync(file, 'w', 0o600);
  try {
    const encoder = makeEncoder(fd);
    for (const chunk of chunks(kind, megabytes)) await encoder.write(chunk);
    await encoder.end();
  } finally {
    fs.closeSync(fd);
  }
  return fs.statSync(file).size;
}

/**
 * The anchor: cored's zstd sink before it went in process, a `zstd -1` child
 * per crash writing straight to the fd, fed through a grown pipe, each write
 * awaited to its callback (the caller reuses the chunk).
 */
function cliEncoder(fd) {
  const { findTool } = require(path.join(root, 'dist', 'coredump', 'cored', 'tools.js'));
  const { growPipe, pipeFd } = require(path.join(root, 'dist', 'coredump', 'cored', 'pipe-input.js'));
  const child = spawn(findTool('zstd'), ['-1', '-q', '-c', '--no-progress'], { stdio: ['pipe', fd, 'inherit'] });
  growPipe(pipeFd(child.stdin));
  const done = new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`zstd exited ${code}`))));
  });
  return {
    write: (chunk) => new Promise((resolve, reject) => child.stdin.write(chunk, (err) => (err ? reject(err) : resolve()))),
    end: () => {
      child.stdin.end();
      return done;
    },
  };
}

function cliDecode(file) {
  return new Promise((resolve, reject) => {
    const child = spawn('zstd', ['-d', '-q', '-c', file], { stdio: ['ignore', 'pipe', 'inherit'] });
    let bytes = 0;
    child.stdout.on('data', (d) => (bytes += d.length));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(bytes) : reject(new Error(`zstd -d exited ${code}`))));
  });
}

async function inProcessDecode(zstdDecompressFile, file) {
  let bytes = 0;
  for await (const chunk of zstdDecompressFile(file)) bytes += chunk.length;
  return bytes;
}

exports.main = async function main(args) {
  const megabytes = Number(option(args, '--megabytes', '1024'));
  const runs = Number(option(args, '--runs', '3'));
  const base = option(args, '--dir', '/var/tmp');
  if (!fs.existsSync(path.join(dist, 'zstd-stream.js'))) throw new Error('dist/ is missing: run tsc first');
  const { zstdStreamEncoder, zstdDecompressFile } = require(path.join(dist, 'zstd-stream.js'));
  const dir = fs.mkdtempSync(path.join(base, 'zstd-bench-'));
  const encoders = [
    ['zstd -1 CLI', cliEncoder],
    ['in-process, 0 workers', (fd) => zstdStreamEncoder(fd, { level: 1, workers: 0 })],
    ['in-process, 1 worker', (fd) => zstdStreamEncoder(fd, { level: 1, workers: 1 })],
    ['in-process, 2 workers', (fd) => zstdStreamEncoder(fd, { level: 1, workers: 2 })],
  ];
  const rows = [];
  const add = (kind, step, name, r) => {
    let row = rows.find((x) => x.kind === kind && x.step === step && x.name === name);
    if (!row) {
      row = { kind, step, name, runs: [] };
      rows.push(row);
    }
    row.runs.push(r);
  };
  try {
    for (const kind of ['mostly zero', 'random']) {
      const data = kind === 'random' ? 'random' : 'zero';
      // Interleaved, each run in a rotated order: this VM is shared, and dirty-page writeback from one
      // encoder's gigabyte slows whichever runs next.
      for (let run = 0; run < runs; run++) {
        for (let k = 0; k < encoders.length; k++) {
          const [name, make] = encoders[(k + run) % encoders.length];
          const file = path.join(dir, 'out.zst');
          const r = await measure(() => encode(make, file, data, megabytes));
          add(kind, 'compress', name, { ...r, size: r.result });
          if (name === 'in-process, 1 worker') {
            const first = run % 2 === 0;
            for (const which of first ? ['cli', 'ours'] : ['ours', 'cli']) {
              const d = await measure(() => (which === 'cli' ? cliDecode(file) : inProcessDecode(zstdDecompressFile, file)));
              if (d.result !== megabytes * MiB) throw new Error(`${which} decompressed ${d.result} bytes`);
              add(kind, 'decompress', which === 'cli' ? 'zstd -d CLI' : 'in-process', d);
            }
          }
          fs.rmSync(file, { force: true });
        }
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  for (const row of rows)
    for (const key of ['wall', 'cpu', 'block', 'size']) row[key] = row.runs[0][key] === undefined ? undefined : median(row.runs.map((r) => r[key]));

  console.log(`zstd benchmark: ${megabytes} MiB in 1 MiB chunks, level 1, medians of ${runs} interleaved runs`);
  console.log(
    `${'data'.padEnd(12)} ${'step'.padEnd(10)} ${'how'.padEnd(22)} ${'wall (s)'.padStart(8)} ${'CPU (s)'.padStart(8)} ${'loop max (ms)'.padStart(13)} ${'output'.padStart(11)} ${'wall vs CLI'.padStart(11)} ${'CPU vs CLI'.padStart(10)}`,
  );
  for (const r of rows) {
    const anchor = rows.find((x) => x.kind === r.kind && x.step === r.step && x.name.includes('CLI'));
    const out = r.size !== undefined ? `${(r.size / MiB).toFixed(2)} MiB` : '';
    console.log(
      `${r.kind.padEnd(12)} ${r.step.padEnd(10)} ${r.name.padEnd(22)} ${r.wall.toFixed(2).padStart(8)} ${r.cpu.toFixed(2).padStart(8)} ${r.block.toFixed(1).padStart(13)} ${out.padStart(11)} ${`${(r.wall / anchor.wall).toFixed(2)}x`.padStart(11)} ${`${(r.cpu / anchor.cpu).toFixed(2)}x`.padStart(10)}`,
    );
  }
  console.log('CPU = this process (all threads) + reaped children; loop max = the longest the event loop could not run a timer');
  console.log('goal: in-process compression no slower than the CLI, loop max of a few ms, so one daemon serves concurrent crashes');
};
