'use strict';
// npm run bench -- cored [--megabytes N] [--random-megabytes N] [--runs N] [--dir DIR]
// The same crash (a process with N MiB of touched, mostly zero pages, then a
// variant with random pages) delivered by the kernel through core_pattern to
// `cat > file`, to `zstd -1 > file` and to cored's directory sink (raw sparse
// and zstd), in one run: seconds the crashing process was held (crash until
// the kernel reaps it; with core_pipe_limit > 0 the kernel waits until the
// handler has read everything and closed the pipe), and disk used. core_pattern and core_pipe_limit are restored at the end.
// systemd-coredump is not measured: it needs systemd as PID 1 (its handler
// hands the core to systemd-coredump.socket), which this VM does not run.
const { execFileSync, spawn } = require('node:child_process');
const { once } = require('node:events');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');
const { median } = require('./compile');

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

/** Crashes the fixture once its memory is touched; returns seconds from the crash to its reaping. */
async function crashOnce(fixture, args) {
  const child = spawn(fixture, [...args, '-w'], { stdio: ['pipe', 'pipe', 'inherit'] });
  await once(readline.createInterface({ input: child.stdout }), 'line'); // "ready PID": memory touched
  const t0 = process.hrtime.bigint();
  child.stdin.end('go\n');
  const [, signal] = await once(child, 'exit');
  if (!signal) throw new Error('the fixture did not crash');
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** Waits until the handler's output stops changing (the process may be reaped before the handler exits). */
async function settled(dir) {
  let last = -1;
  for (let i = 0; i < 600; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const now = fs.readdirSync(dir).map((f) => `${f}:${fs.statSync(path.join(dir, f)).size}`).join();
    const busy = fs.readdirSync(dir).some((f) => f.endsWith('.partial'));
    if (now === last && !busy) return;
    last = now;
  }
}

exports.main = async function main(args) {
  const megabytes = Number(option(args, '--megabytes', '1024'));
  const randomMegabytes = Number(option(args, '--random-megabytes', '1024'));
  const runs = Number(option(args, '--runs', '1'));
  const base = option(args, '--dir', '/var/tmp');
  execFileSync('node', [path.join(root, 'scripts', 'build-fixtures.js')], { stdio: 'inherit' });
  const fixture = path.join(root, 'test', 'fixtures', 'bin', 'cored-crash');
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run tsc first`);
  const zstd = which('zstd');
  const dir = fs.mkdtempSync(path.join(base, 'cored-bench-'));
  const out = path.join(dir, 'out');

  // The anchors: shell one-liners, as an admin would write them.
  // Other programs on the host may crash during the run (other test suites): their cores are
  // refused by name (%e), so only the fixture's core is measured.
  const script = (name, command) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, `#!/bin/sh\n[ "$1" = cored-crash ] || exit 0\n${command}\n`, { mode: 0o755 });
    return file;
  };
  const catSh = script('cat.sh', `cat > ${out}/core`);
  const zstdSh = script('zstd.sh', `${zstd} -1 -q -c > ${out}/core.zst`);
  const config = (format) => {
    const file = path.join(dir, `${format}.toml`);
    fs.writeFileSync(file, `[store]\ndirectory = "${out}"\n[[sink]]\nname = "d"\ntype = "directory"\nformat = "${format}"\n[[rule]]\nexe = ["**/cored-crash"]\nsinks = ["d"]\n`);
    return file;
  };
  // The launcher `cored install` writes, so the measured path is the installed one.
  const launcher = (format) => {
    const file = path.join(dir, `cored-${format}`);
    fs.writeFileSync(file, launcherSource({ script: CLI, config: config(format) }), { mode: 0o700 });
    return file;
  };
  const handlers = [
    ['cat > file', `|${catSh} %e`],
    ['zstd -1', `|${zstdSh} %e`],
    ['cored raw', `|${launcher('raw')} %P %I %s %t %u %g %d %c %e %F`],
    ['cored zstd', `|${launcher('zstd')} %P %I %s %t %u %g %d %c %e %F`],
  ];
  const variants = [
    [`${megabytes} MiB mostly zero`, ['-m', String(megabytes)]],
    [`${randomMegabytes} MiB random`, ['-m', String(randomMegabytes), '-r']],
  ];

  // The test suites that change core_pattern take the same lock.
  const holder = spawn('flock', ['/tmp/hostkit-core-pattern.lock', 'sh', '-c', 'echo locked; exec cat >/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] });
  await once(holder.stdout, 'data');
  const saved = { pattern: fs.readFileSync(PATTERN, 'utf8'), limit: fs.readFileSync(PIPE_LIMIT, 'utf8') };
  const results = [];
  try {
    // Above 0 the kernel waits for the handler to close the pipe; high enough that crashes elsewhere never make it skip ours.
    fs.writeFileSync(PIPE_LIMIT, '64');
    for (const [label, fixtureArgs] of variants) {
      for (const [name, pattern] of handlers) {
        if (pattern.length > 127) throw new Error(`pattern too long for the kernel: ${pattern}`);
        fs.writeFileSync(PATTERN, pattern);
        const seconds = [];
        let disk = 0;
        for (let i = 0; i < runs; i++) {
          fs.rmSync(out, { recursive: true, force: true });
          fs.mkdirSync(out);
          execFileSync('sync');
          seconds.push(await crashOnce(fixture, fixtureArgs));
          await settled(out);
          disk = diskUsed(out);
        }
        results.push({ label, name, seconds: median(seconds), disk });
      }
    }
  } finally {
    fs.writeFileSync(PATTERN, saved.pattern);
    fs.writeFileSync(PIPE_LIMIT, saved.limit);
    fs.rmSync(dir, { recursive: true, force: true });
    holder.stdin.end();
  }

  const mb = (n) => `${(n / 1048576).toFixed(1)} MiB`;
  console.log('cored benchmark: one kernel core dump through core_pattern, per handler');
  console.log(`${'crashing process'.padEnd(24)} ${'handler'.padEnd(11)} ${'held (s)'.padStart(9)} ${'disk used'.padStart(12)} ${'vs zstd -1'.padStart(11)} ${'vs cat'.padStart(8)}`);
  for (const r of results) {
    const anchor = (n) => results.find((x) => x.label === r.label && x.name === n);
    const ratio = (a) => `${(r.seconds / a.seconds).toFixed(2)}x`;
    console.log(
      `${(r.name === 'cat > file' ? r.label : '').padEnd(24)} ${r.name.padEnd(11)} ${r.seconds.toFixed(2).padStart(9)} ${mb(r.disk).padStart(12)} ${ratio(anchor('zstd -1')).padStart(11)} ${ratio(anchor('cat > file')).padStart(8)}`,
    );
  }
  console.log('held = crash until the kernel reaps the process (the whole dump, until the handler closes the pipe: at exit for cat/zstd, as soon as the core is read for cored); cored includes Node\'s start-up and /proc metadata; medians of --runs');
  console.log('goal: cored zstd within 1.2x of zstd -1. systemd-coredump: not measured (needs systemd as PID 1, absent in this VM)');
};
