'use strict';
// npm run bench -- snapshot [--megabytes N] [--random-megabytes N] [--small-megabytes N] [--runs R] [--dir DIR]
// A live core of a process with N MiB of touched memory (mostly zero pages,
// then random data), written by gdb's gcore and by `cored snapshot`, in one
// run: seconds, peak RSS of the process that writes the core, disk used.
const { execFileSync, spawn, spawnSync } = require('node:child_process');
const { once } = require('node:events');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { compile } = require('./compile');

const root = path.join(__dirname, '..', '..');
const CLI = path.join(root, 'dist', 'coredump', 'cli.js');

function option(args, name, fallback) {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
}

// A grandchild through sh, so neither tool is attaching to a child of this Node.
async function startTarget(args) {
  execFileSync('node', [path.join(root, 'scripts', 'build-fixtures.js')], { stdio: 'inherit' });
  const binary = path.join(root, 'test', 'fixtures', 'bin', 'core-target');
  const sh = spawn('/bin/sh', ['-c', '"$@" &', 'sh', binary, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = await once(readline.createInterface({ input: sh.stdout }), 'line');
  const pid = Number(line.split(' ')[1]);
  return { pid, kill: () => process.kill(pid, 'SIGKILL') };
}

// The library call inside a Node that is already running (as the cored daemon
// or any host program would make it): what hostkit costs without Node's start.
const API_SCRIPT = `
const { snapshot } = require(${JSON.stringify(path.join(root, 'dist', 'coredump'))});
const t0 = process.hrtime.bigint();
snapshot(Number(process.argv[1]), process.argv[2]).then(() => {
  process.stderr.write('api-seconds ' + Number(process.hrtime.bigint() - t0) / 1e9 + '\\n');
});`;

function measure(rusage, argv, output) {
  fs.rmSync(output, { force: true });
  execFileSync('sync');
  // The wrapper reports on stderr's last line, after anything the tool said there.
  const r = spawnSync(rusage, argv, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const lines = r.stderr.trim().split('\n');
  const [seconds, rssKb, code] = lines.pop().split(' ').map(Number);
  if (code !== 0) throw new Error(`${argv.join(' ')} exited with ${code}: ${lines.join('\n')}`);
  const api = lines.map((l) => /^api-seconds (\S+)/.exec(l)).find(Boolean);
  const st = fs.statSync(output);
  const result = { seconds: api ? Number(api[1]) : seconds, rssMb: rssKb / 1024, sizeMb: st.size / 1048576, diskMb: (st.blocks * 512) / 1048576 };
  fs.rmSync(output, { force: true });
  return result;
}

function gcoreArgs(pid, output) {
  // gcore is a shell script around gdb; call gdb the same way so rusage sees gdb itself.
  return ['gdb', '-nx', '-batch', '-p', String(pid), '-ex', `gcore ${output}`];
}

/** The C floor for the memory pass alone: the target's big mapping read, zero pages skipped, the rest written. */
function floor(dir, pid, megabytes) {
  const size = BigInt(megabytes) << 20n;
  const line = fs
    .readFileSync(`/proc/${pid}/maps`, 'utf8')
    .split('\n')
    .find((l) => {
      const [range] = l.split(' ');
      const [a, b] = (range || '0-0').split('-').map((x) => BigInt(`0x${x}`));
      return b - a >= size;
    });
  if (!line) return undefined;
  const start = line.split('-')[0];
  const out = path.join(dir, 'floor.core');
  const seconds = Number(execFileSync(compile('snapshot-floor'), [String(pid), start, String(size), out], { encoding: 'utf8' }));
  fs.rmSync(out, { force: true });
  return seconds;
}

/** Medians over `runs` rounds (this VM is shared: single runs are noisy); the largest RSS seen. */
function summarise(list) {
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return { ...list[list.length - 1], seconds: median(list.map((m) => m.seconds)), rssMb: Math.max(...list.map((m) => m.rssMb)) };
}

async function compare(rusage, dir, label, targetArgs, runs) {
  const target = await startTarget(targetArgs);
  try {
    const rounds = { theirs: [], ours: [], api: [], floor: [] };
    // Interleaved, so a burst of load on the machine hits every tool alike.
    for (let r = 0; r < runs; r++) {
      rounds.floor.push({ seconds: floor(dir, target.pid, Number(targetArgs[1])) ?? NaN, rssMb: 0 });
      rounds.theirs.push(measure(rusage, gcoreArgs(target.pid, path.join(dir, 'gcore.core')), path.join(dir, 'gcore.core')));
      rounds.ours.push(measure(rusage, ['node', CLI, 'snapshot', String(target.pid), '-o', path.join(dir, 'hostkit.core')], path.join(dir, 'hostkit.core')));
      rounds.api.push(measure(rusage, ['node', '-e', API_SCRIPT, String(target.pid), path.join(dir, 'api.core')], path.join(dir, 'api.core')));
    }
    const floorSeconds = summarise(rounds.floor).seconds;
    return { label, theirs: summarise(rounds.theirs), ours: summarise(rounds.ours), api: summarise(rounds.api), floorSeconds };
  } finally {
    target.kill();
  }
}

exports.main = async function main(args) {
  const megabytes = Number(option(args, '--megabytes', 1024));
  const randomMegabytes = Number(option(args, '--random-megabytes', 1024));
  const smallMegabytes = Number(option(args, '--small-megabytes', 64));
  const runs = Number(option(args, '--runs', 3));
  const dir = fs.mkdtempSync(path.join(option(args, '--dir', os.tmpdir()), 'hostkit-bench-'));
  const rusage = compile('snapshot-rusage');
  const rows = [];
  try {
    rows.push(await compare(rusage, dir, `${megabytes} MiB touched, mostly zero pages`, ['big', String(megabytes)], runs));
    if (randomMegabytes > 0)
      rows.push(await compare(rusage, dir, `${randomMegabytes} MiB touched, random data`, ['big', String(randomMegabytes), 'random'], runs));
    rows.push(await compare(rusage, dir, `${smallMegabytes} MiB touched, mostly zero pages`, ['big', String(smallMegabytes)], runs));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(`snapshot benchmark: a live core written to a file by gdb gcore (13.1) and by \`cored snapshot\`; medians of ${runs} interleaved runs`);
  console.log(
    `${'target'.padEnd(36)} ${'tool'.padEnd(8)} ${'seconds'.padStart(8)} ${'peak RSS'.padStart(10)} ${'core size'.padStart(10)} ${'disk used'.padStart(10)}`,
  );
  const mb = (n) => `${n.toFixed(1)} MB`;
  for (const { label, theirs, ours, api, floorSeconds } of rows) {
    for (const [tool, m] of [
      ['gcore', theirs],
      ['cored', ours],
      ['API', api],
    ]) {
      console.log(
        `${(tool === 'gcore' ? label : '').padEnd(36)} ${tool.padEnd(8)} ${m.seconds.toFixed(2).padStart(8)} ${mb(m.rssMb).padStart(10)} ${mb(m.sizeMb).padStart(10)} ${mb(m.diskMb).padStart(10)}`,
      );
    }
    const ratio = (a, b) => (b === 0 ? 'n/a' : `${(a / b).toFixed(2)}x`);
    if (!Number.isNaN(floorSeconds))
      console.log(
        `${''.padEnd(36)} ${'C floor'.padEnd(8)} ${floorSeconds.toFixed(2).padStart(8)}   (the memory pass alone, one C thread: what a native helper could approach)`,
      );
    for (const [name, m] of [
      ['cored/gcore', ours],
      ['API/gcore', api],
    ]) {
      console.log(
        `${''.padEnd(36)} ${name.padEnd(8)} ${ratio(m.seconds, theirs.seconds).padStart(8)} ${ratio(m.rssMb, theirs.rssMb).padStart(10)} ${''.padStart(10)} ${ratio(m.diskMb, theirs.diskMb).padStart(10)}`,
      );
    }
  }
  console.log(
    'cored = `node dist/coredump/cli.js snapshot PID -o FILE`, Node start-up included; API = the snapshot() call in a running Node (its RSS includes Node itself)',
  );
  console.log('goal: time <= 0.2x gcore, sparse output, peak RSS independent of the target size');
};
