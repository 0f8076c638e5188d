'use strict';
// npm run bench -- gdbsock-core [--runs N] [--threads N] [--depth N]
// gdb reading a core directly (the anchor) against gdb reading the same core
// through gdbsock --core on a unix socket, alternating runs in one process:
// `thread apply all bt` over every thread, and a 64 MiB `dump binary memory`.
// Times are taken inside gdb (python time.time() around the command), so
// gdb's and gdbsock's start-up are not counted. gdbsock is measured with
// `set sysroot /` (the program's files are local to gdb, as they are to the
// anchor) and with gdb's default sysroot (target:, so gdb fetches the
// libraries and their debug files through vFile, as from another machine).
// `target remote | gdbsock --stdio` is timed for the backtraces only: gdb's
// pipe transport makes a read() of the command's stderr for every byte it
// receives (ser-base.c, generic_readchar), which makes bulk reads crawl.
const { execFile, execFileSync, spawn } = require('node:child_process');
const { once } = require('node:events');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { median } = require('./compile');

const root = path.join(__dirname, '..', '..');
const cli = path.join(root, 'dist', 'gdbsock', 'cli.js');
const BULK_MIB = 64;

function need(tool, pkg) {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
  } catch {
    throw new Error(`${tool} is missing: apt-get install ${pkg}`);
  }
}

function option(args, name, fallback) {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

/**
 * Starts the fixture through sh (so it is not this Node's child: the snapshot
 * attaches with ptrace), waits for "ready PID", snapshots it with hostkit, kills it.
 */
async function makeCore(binary, args, out) {
  const sh = spawn('/bin/sh', ['-c', '"$@" &', 'sh', binary, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise((resolve) => readline.createInterface({ input: sh.stdout }).once('line', resolve));
  const pid = Number(/^ready (\d+)/.exec(line)?.[1]);
  if (!pid) throw new Error(`fixture said '${line}'`);
  try {
    const { snapshot } = require(path.join(root, 'dist', 'coredump'));
    await snapshot(pid, out);
  } finally {
    process.kill(pid, 'SIGKILL');
  }
}

const SCRIPT = `python import time; t0 = time.time()
thread apply all bt
python print("BT_SECONDS %.4f" % (time.time() - t0))
python t0 = time.time()
dump binary memory DUMP_FILE bulk bulk+bulk_size
python print("DUMP_SECONDS %.4f" % (time.time() - t0))
`;

/** gdbsock --core on a unix socket for one connection; resolves once it listens. */
async function serveCore(core, socket) {
  const proc = spawn(process.execPath, [cli, '--once', '--core', core, '--socket', socket], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(proc, 'exit');
  await new Promise((resolve, reject) => {
    readline.createInterface({ input: proc.stdout }).on('line', (l) => l.includes('target remote') && resolve());
    exited.then(() => reject(new Error('gdbsock exited before listening')));
  });
  return { exited }; // wrapped: an async function would wait for a returned promise
}

async function runGdb(kind, binary, core, script, work) {
  const args = ['-q', '-batch', '-nx', '-ex', 'set pagination off', '-ex', 'set width 0'];
  let server;
  if (kind === 'direct') args.push(binary, core, '-x', script);
  else if (kind === 'gdbsock-pipe') {
    args.push('-ex', 'set sysroot /', '-ex', `target remote | ${process.execPath} ${cli} --stdio --core ${core} 2>/dev/null`, '-x', script, binary);
  } else {
    const socket = path.join(work, 'core.sock');
    server = await serveCore(core, socket);
    if (kind === 'gdbsock-local') args.push('-ex', 'set sysroot /');
    args.push('-ex', `target remote ${socket}`, '-x', script, binary);
  }
  const out = await new Promise((resolve) => {
    execFile('gdb', args, { timeout: 600000, encoding: 'utf8', maxBuffer: 64 << 20 }, (_err, stdout, stderr) => resolve(stdout + stderr));
  });
  await server?.exited;
  return out;
}

exports.main = async function main(args) {
  need('gdb', 'gdb');
  const runs = option(args, '--runs', 5);
  const threads = option(args, '--threads', 8);
  const depth = option(args, '--depth', 30);
  execFileSync(process.execPath, [path.join(root, 'scripts', 'build-fixtures.js')], { stdio: 'inherit' });
  const binary = path.join(root, 'test', 'fixtures', 'bin', 'gdbsock-core');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gdbsock-core-bench-'));
  try {
    const core = path.join(work, 'core');
    await makeCore(binary, [String(threads), String(depth), String(BULK_MIB)], core);
    const script = path.join(work, 'bench.gdb');
    fs.writeFileSync(script, SCRIPT.replace('DUMP_FILE', path.join(work, 'dump')));
    const btOnly = path.join(work, 'bt.gdb');
    fs.writeFileSync(btOnly, SCRIPT.split('\n').slice(0, 3).join('\n'));
    console.log(`core: ${threads + 1} threads, ${depth} library frames per worker, ${BULK_MIB} MiB dumped; ${runs} runs each, medians`);

    const kinds = ['direct', 'gdbsock-local', 'gdbsock-vfile', 'gdbsock-pipe'];
    const times = Object.fromEntries(kinds.map((k) => [k, { bt: [], dump: [] }]));
    for (let r = 0; r < runs; r++) {
      for (const kind of kinds) {
        const pipe = kind === 'gdbsock-pipe';
        const out = await runGdb(kind, binary, core, pipe ? btOnly : script, work);
        const bt = /^BT_SECONDS ([\d.]+)$/m.exec(out);
        const dump = pipe ? ['', 'NaN'] : /^DUMP_SECONDS ([\d.]+)$/m.exec(out);
        const size = fs.existsSync(path.join(work, 'dump')) ? fs.statSync(path.join(work, 'dump')).size : 0;
        fs.rmSync(path.join(work, 'dump'), { force: true });
        if (!bt || !dump || (!pipe && size !== BULK_MIB << 20)) {
          process.stderr.write(`--- ${kind} failed (dump ${size} bytes); gdb said:\n${out.split('\n').slice(-8).join('\n')}\n`);
          continue;
        }
        times[kind].bt.push(Number(bt[1]));
        times[kind].dump.push(Number(dump[1]));
      }
    }
    const anchor = times.direct;
    const rows = [];
    console.log(`${'scenario'.padEnd(26)} ${'gdb_core_s'.padStart(11)} ${'gdbsock_s'.padStart(11)} ${'ratio'.padStart(7)}`);
    const scenarios = [
      ['bt, socket, sysroot /', 'gdbsock-local'],
      ['bt, socket, target:', 'gdbsock-vfile'],
      ['bt, --stdio pipe', 'gdbsock-pipe'],
      ['dump 64 MiB, socket', 'gdbsock-local'],
    ];
    for (const [label, kind] of scenarios) {
      const what = label.startsWith('bt') ? 'bt' : 'dump';
      const a = anchor[what].length ? median(anchor[what]) : undefined;
      const b = times[kind][what].length ? median(times[kind][what]) : undefined;
      const ratio = a && b ? (b / a).toFixed(2) : 'FAIL';
      rows.push({ scenario: label, gdb: a, gdbsock: b, ratio });
      console.log(`${label.padEnd(26)} ${String(a?.toFixed(4) ?? 'FAIL').padStart(11)} ${String(b?.toFixed(4) ?? 'FAIL').padStart(11)} ${ratio.padStart(7)}`);
    }
    return rows;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
};
