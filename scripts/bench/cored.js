'use strict';
// npm run bench -- cored [--megabytes N] [--random-megabytes N] [--runs N] [--storm N (0: none)] [--only 'zstd -1,cored socket zstd'] [--dir DIR]
//
// One run, every handler on the same crashes:
// 1. A process with N MiB of touched, mostly zero pages, then one with N MiB
//    of random pages, dumped by the kernel to: `cat > file` and `zstd -1 >
//    file` (the anchors, as core_pattern pipes an admin would write), cored's
//    pipe handler (raw sparse, zstd) and cored's socket daemon (raw, zstd),
//    and a C server on the coredump socket that reads and discards (the
//    kernel's own cost: no handler can be held less). Held = from the crash
//    until the kernel reaps the process.
// 2. A storm: --storm crashes of 4 MiB at once, per mode: seconds until the
//    store lists them all (or stops changing), and cores lost, including the
//    pipe with core_pipe_limit 16 (systemd's setting, cored's before).
// core_pattern and core_pipe_limit are restored at the end, under the lock
// the test suites take. systemd-coredump is not measured: it needs systemd as
// PID 1, which this VM does not run.
const { execFileSync, spawn } = require('node:child_process');
const { once } = require('node:events');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');
const { compile, median } = require('./compile');

const root = path.join(__dirname, '..', '..');
const CLI = path.join(root, 'dist', 'coredump', 'cli.js');
const { launcherSource } = require(path.join(root, 'dist', 'coredump', 'cored', 'kernel-pattern.js'));
const PATTERN = '/proc/sys/kernel/core_pattern';
const PIPE_LIMIT = '/proc/sys/kernel/core_pipe_limit';

function option(args, name, fallback) {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
}

function which(tool) {
  for (const dir of ['/usr/local/bin', '/usr/bin', '/bin']) if (fs.existsSync(`${dir}/${tool}`)) return `${dir}/${tool}`;
  throw new Error(`${tool} is not installed (apt-get install ${tool})`);
}

/** Disk blocks actually used under `dir`, in bytes. */
function diskUsed(dir) {
  let total = 0;
  for (const name of fs.readdirSync(dir)) {
    const st = fs.lstatSync(path.join(dir, name));
    if (st.isFile() && !name.endsWith('.json') && !name.endsWith('.jsonl')) total += st.blocks * 512;
  }
  return total;
}

/** Starts crashers that touch their memory and wait; resolves once all are ready, with a function that crashes them all at once. */
async function readyCrashers(fixture, args, count) {
  const children = Array.from({ length: count }, () => spawn(fixture, [...args, '-w'], { stdio: ['pipe', 'pipe', 'inherit'] }));
  await Promise.all(children.map((c) => once(readline.createInterface({ input: c.stdout }), 'line'))); // "ready PID"
  return async () => {
    const t0 = process.hrtime.bigint();
    const exits = children.map((c) => once(c, 'exit'));
    for (const c of children) c.stdin.end('go\n');
    const results = await Promise.all(exits);
    if (results.some(([, signal]) => !signal)) throw new Error('a crasher did not crash');
    return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, t0, pids: children.map((c) => c.pid) };
  };
}

/** Waits until nothing in `dir` changes for `quietMs` and no partial file is left; returns when it last changed. */
async function settled(dir, quietMs = 500) {
  let last = '';
  let changed = process.hrtime.bigint();
  for (let i = 0; i < 2400; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const names = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
    const now = names.map((f) => `${f}:${fs.statSync(path.join(dir, f)).size}`).join();
    if (now !== last) {
      last = now;
      changed = process.hrtime.bigint();
    } else if (!names.some((f) => f.endsWith('.partial')) && Number(process.hrtime.bigint() - changed) / 1e6 > quietMs) return changed;
  }
  return changed;
}

/** `cored serve` (or the C floor) listening on `socket`; resolves with a stop function. */
async function startServer(argv, socket) {
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] });
  const [line] = await once(readline.createInterface({ input: child.stdout }), 'line');
  if (line !== `listening ${socket}`) throw new Error(`${argv.join(' ')} said ${line}`);
  return async () => {
    fs.writeFileSync(PATTERN, 'core'); // nothing more for it
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  };
}

exports.main = async function main(args) {
  const megabytes = Number(option(args, '--megabytes', '1024'));
  const randomMegabytes = Number(option(args, '--random-megabytes', '1024'));
  const runs = Number(option(args, '--runs', '1'));
  const stormSize = Number(option(args, '--storm', '200'));
  const base = option(args, '--dir', '/var/tmp');
  execFileSync('node', [path.join(root, 'scripts', 'build-fixtures.js')], { stdio: 'inherit' });
  const fixture = path.join(root, 'test', 'fixtures', 'bin', 'cored-crash');
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run tsc first`);
  const floor = compile('coredump-socket-floor');
  const zstd = which('zstd');
  const dir = fs.mkdtempSync(path.join(base, 'cored-bench-'));
  const out = path.join(dir, 'out');
  const socket = path.join(dir, 'core.sock');

  // The anchors: shell one-liners, as an admin would write them. Other programs on the host may
  // crash during the run (other test suites): their cores are refused by name (%e) or by rule.
  const script = (name, command) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, `#!/bin/sh\n[ "$1" = cored-crash ] || exit 0\n${command}\n`, { mode: 0o755 });
    return file;
  };
  const catSh = script('cat.sh', `cat > ${out}/core`);
  const zstdSh = script('zstd.sh', `${zstd} -1 -q -c > ${out}/core.zst`);
  const config = (format) => {
    const file = path.join(dir, `${format}.toml`);
    fs.writeFileSync(
      file,
      `[store]\ndirectory = "${out}"\n[[sink]]\nname = "d"\ntype = "directory"\nformat = "${format}"\n[[rule]]\nexe = ["**/cored-crash"]\nsinks = ["d"]\n`,
    );
    return file;
  };
  // The launcher `cored install` writes, so the measured path is the installed one.
  const launcher = (format) => {
    const file = path.join(dir, `cored-${format}`);
    fs.writeFileSync(file, launcherSource({ script: CLI, config: config(format) }), { mode: 0o700 });
    return `|${file} %P %I %s %t %u %g %d %c %e %F`;
  };
  const serve = (format) => ({ server: [process.execPath, CLI, 'serve', '--socket', socket, '--config', config(format)], pattern: `@@${socket}` });
  const only = option(args, '--only', undefined)?.split(',');
  const allHandlers = [
    ['cat > file', { pattern: `|${catSh} %e` }],
    ['zstd -1', { pattern: `|${zstdSh} %e` }],
    ['cored pipe raw', { pattern: launcher('raw') }],
    ['cored pipe zstd', { pattern: launcher('zstd') }],
    ['cored socket raw', serve('raw')],
    ['cored socket zstd', serve('zstd')],
    ['socket floor (C)', { server: [floor, socket, String(runs)], pattern: `@@${socket}` }],
  ];
  const handlers = allHandlers.filter(([name]) => !only || only.includes(name));
  const variants = [
    [`${megabytes} MiB mostly zero`, ['-m', String(megabytes)]],
    [`${randomMegabytes} MiB random`, ['-m', String(randomMegabytes), '-r']],
  ];
  const storms = [
    ['cored pipe, limit 0', { pattern: launcher('raw'), limit: '0' }],
    ['cored pipe, limit 16', { pattern: launcher('raw'), limit: '16' }],
    ['cored socket', serve('raw')],
  ];

  // The test suites that change core_pattern take the same lock.
  const holder = spawn('flock', ['/tmp/hostkit-core-pattern.lock', 'sh', '-c', 'echo locked; exec cat >/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] });
  await once(holder.stdout, 'data');
  const saved = { pattern: fs.readFileSync(PATTERN, 'utf8'), limit: fs.readFileSync(PIPE_LIMIT, 'utf8') };
  const results = [];
  const stormResults = [];
  const fresh = () => {
    fs.rmSync(out, { recursive: true, force: true });
    fs.mkdirSync(out);
    execFileSync('sync');
  };
  try {
    for (const [label, fixtureArgs] of variants) {
      for (const [name, handler] of handlers) {
        if (handler.pattern.length > 127) throw new Error(`pattern too long for the kernel: ${handler.pattern}`);
        // Above 0 the kernel waits for a pipe handler to close the pipe: held then means the whole dump.
        fs.writeFileSync(PIPE_LIMIT, '64');
        const stop = handler.server ? await startServer(handler.server, socket) : undefined;
        fs.writeFileSync(PATTERN, handler.pattern);
        const seconds = [];
        let disk = 0;
        try {
          for (let i = 0; i < runs; i++) {
            fresh();
            const go = await readyCrashers(fixture, fixtureArgs, 1);
            seconds.push((await go()).seconds);
            await settled(out);
            disk = diskUsed(out);
          }
        } finally {
          await stop?.();
        }
        results.push({ label, name, seconds: median(seconds), disk });
      }
    }
    for (const [name, handler] of stormSize > 0 ? storms : []) {
      fs.writeFileSync(PIPE_LIMIT, handler.limit ?? '0');
      const stop = handler.server ? await startServer(handler.server, socket) : undefined;
      fs.writeFileSync(PATTERN, handler.pattern);
      try {
        fresh();
        const go = await readyCrashers(fixture, ['-m', '4'], stormSize);
        const { t0, pids } = await go();
        const last = await settled(out, 2000);
        const ours = new Set(pids);
        const index = fs.existsSync(path.join(out, 'index.jsonl')) ? fs.readFileSync(path.join(out, 'index.jsonl'), 'utf8') : '';
        const stored = index
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l))
          .filter((e) => ours.has(e.pid) && e.sinks.some((s) => s.ok)).length;
        stormResults.push({ name, seconds: Number(last - t0) / 1e9, stored, lost: stormSize - stored });
      } finally {
        await stop?.();
      }
    }
  } finally {
    fs.writeFileSync(PATTERN, saved.pattern);
    fs.writeFileSync(PIPE_LIMIT, saved.limit);
    fs.rmSync(dir, { recursive: true, force: true });
    holder.stdin.end();
  }

  const mb = (n) => `${(n / 1048576).toFixed(1)} MiB`;
  console.log('cored benchmark: one kernel core dump per handler');
  console.log(
    `${'crashing process'.padEnd(24)} ${'handler'.padEnd(18)} ${'held (s)'.padStart(9)} ${'disk used'.padStart(12)} ${'vs zstd -1'.padStart(11)} ${'vs cat'.padStart(8)}`,
  );
  for (const r of results) {
    const anchor = (n) => results.find((x) => x.label === r.label && x.name === n);
    const ratio = (a) => (a ? `${(r.seconds / a.seconds).toFixed(2)}x` : '-');
    console.log(
      `${(r === results.find((x) => x.label === r.label) ? r.label : '').padEnd(24)} ${r.name.padEnd(18)} ${r.seconds.toFixed(2).padStart(9)} ${mb(r.disk).padStart(12)} ${ratio(anchor('zstd -1')).padStart(11)} ${ratio(anchor('cat > file')).padStart(8)}`,
    );
  }
  console.log(
    "held = crash until the kernel reaps the process; pipe handlers with core_pipe_limit 64, so the kernel waits for the pipe to be closed (at exit for cat/zstd, as soon as the core is read for cored, whose time includes Node's start-up and /proc); medians of --runs",
  );
  console.log(
    'goals: cored socket zstd <= 0.6x zstd -1 on the mostly-zero core and <= 1.0x on random. The floor row is the kernel writing into a socket read by C into nothing.',
  );
  if (stormResults.length === 0) return;
  console.log('');
  console.log(`storm: ${stormSize} processes with 4 MiB each crash at once`);
  console.log(`${'mode'.padEnd(22)} ${'seconds'.padStart(8)} ${'stored'.padStart(7)} ${'lost'.padStart(5)}`);
  for (const s of stormResults)
    console.log(`${s.name.padEnd(22)} ${s.seconds.toFixed(2).padStart(8)} ${String(s.stored).padStart(7)} ${String(s.lost).padStart(5)}`);
  console.log('seconds = from the crash until the store stopped changing; goal: 0 lost');
};
