#!/usr/bin/env node
// npm run gdb-testsuite -- [options] [EXP...]: runs .exp files of gdb's own
// testsuite (DejaGnu, board native-gdbserver by default) once against gdbserver and once
// against gdbsock, started by the testsuite with gdbserver's command line, and
// prints PASS/FAIL per file side by side with the wall time of each.
//
// Needs gdb's testsuite source (the gdb source of the gdb you test with:
// `apt-get source gdb`), dejagnu's `runtest`, gdb and gdbserver on PATH, and a
// built gdbsock (npx tsc -p tsconfig.json). EXP are paths under the testsuite
// (gdb.server/ext-run.exp); `DIR/*.exp` takes every .exp of DIR.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');

const DEFAULT_SRC = '/work/gdbsrc/gdb-13.1/gdb/testsuite';
const DEFAULT_EXPS = [
  'gdb.server/*.exp',
  'gdb.base/break.exp',
  'gdb.base/step-test.exp',
  'gdb.base/display.exp',
  'gdb.base/watchpoint.exp',
  'gdb.threads/schedlock.exp',
  'gdb.threads/print-threads.exp',
  'gdb.threads/killed.exp',
];
const USAGE = `usage: npm run gdb-testsuite -- [options] [EXP...]
  --src DIR          gdb's testsuite source (default $GDB_TESTSUITE_SRC or ${DEFAULT_SRC})
  --gdb PATH         the gdb to test with (default: gdb on PATH)
  --gdbserver PATH   the anchor (default: gdbserver on PATH)
  --only NAME        run one server only: gdbserver or gdbsock
  --timeout SECONDS  per .exp file (default 900)
  --out DIR          where logs go (default a new directory under ${os.tmpdir()})
  --board NAME       the DejaGnu board (default native-gdbserver; native-extended-gdbserver
                     starts one server with --multi per gdb)
  --jobs N           .exp files run at once (default 1); both servers take turns, file by
                     file, so each file meets the same load under either server
EXP default: ${DEFAULT_EXPS.join(' ')}
`;
const RESULT = /^(PASS|FAIL|XFAIL|KFAIL|XPASS|KPASS|UNRESOLVED|UNSUPPORTED|UNTESTED|ERROR|DUPLICATE|PATH):/;

function which(name) {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();
  return found || undefined;
}

function expand(src, patterns) {
  const out = [];
  for (const p of patterns) {
    // A directory stands for its .exp files (gdb.threads = gdb.threads/*.exp).
    const m = /^(.*)\/\*\.exp$/.exec(p) ?? (fs.statSync(path.join(src, p), { throwIfNoEntry: false })?.isDirectory() ? [p, p.replace(/\/$/, '')] : null);
    if (!m) {
      if (!fs.existsSync(path.join(src, p))) throw new Error(`no such test: ${path.join(src, p)}`);
      out.push(p);
      continue;
    }
    const files = fs
      .readdirSync(path.join(src, m[1]))
      .filter((f) => f.endsWith('.exp'))
      .sort();
    out.push(...files.map((f) => `${m[1]}/${f}`));
  }
  return [...new Set(out)];
}

/** A build directory the testsuite's own configure set up (site.exp names srcdir and the triplets). */
function configure(dir, src) {
  fs.mkdirSync(dir, { recursive: true });
  for (const [cmd, args] of [
    [path.join(src, 'configure'), []],
    ['make', ['site.exp']],
  ]) {
    const r = spawnSync(cmd, args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} in ${dir} failed:\n${r.stdout}${r.stderr}`);
  }
}

function count(sumText) {
  const c = { pass: 0, fail: 0, other: 0 };
  for (const line of sumText.split('\n')) {
    const m = RESULT.exec(line);
    if (!m) continue;
    if (m[1] === 'PASS') c.pass++;
    else if (m[1] === 'FAIL' || m[1] === 'XPASS' || m[1] === 'KPASS' || m[1] === 'ERROR') c.fail++;
    else c.other++;
  }
  return c;
}

/** The runtests under way: their process groups go with us when we are interrupted. */
const running = new Set();
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    for (const child of running) process.kill(-child.pid, 'SIGKILL');
    process.exit(130);
  });
}

/** One runtest for one .exp; its own process group, killed whole on timeout. */
function runOne(dir, exp, vars, board, timeoutMs) {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const child = spawn('runtest', [...vars, `--target_board=${board}`, exp], { cwd: dir, detached: true, stdio: 'ignore' });
    let timedOut = false;
    running.add(child);
    const timer = setTimeout(() => {
      timedOut = true;
      process.kill(-child.pid, 'SIGKILL');
    }, timeoutMs);
    child.on('exit', () => {
      clearTimeout(timer);
      running.delete(child);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const read = (f) => {
        try {
          return fs.readFileSync(path.join(dir, f), 'utf8');
        } catch {
          return '';
        }
      };
      resolve({ seconds, timedOut, sum: read('gdb.sum'), log: read('gdb.log') });
    });
  });
}

async function main() {
  const { values, positionals } = parseArgs({
    options: {
      src: { type: 'string' },
      gdb: { type: 'string' },
      gdbserver: { type: 'string' },
      only: { type: 'string' },
      timeout: { type: 'string' },
      out: { type: 'string' },
      board: { type: 'string' },
      jobs: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
  });
  if (values.help) return void process.stdout.write(USAGE);
  const src = path.resolve(values.src ?? process.env.GDB_TESTSUITE_SRC ?? DEFAULT_SRC);
  if (!fs.existsSync(path.join(src, 'configure'))) throw new Error(`no gdb testsuite at ${src} (give --src)`);
  if (!which('runtest')) throw new Error('runtest (dejagnu) is not on PATH');
  const gdb = values.gdb ?? which('gdb');
  const gdbserver = values.gdbserver ?? which('gdbserver');
  if (!gdb) throw new Error('no gdb on PATH (give --gdb)');
  const cli = path.join(__dirname, '..', 'dist', 'gdbsock', 'cli.js');
  if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: build first (npx tsc -p tsconfig.json)`);
  const exps = expand(src, positionals.length ? positionals : DEFAULT_EXPS);
  const out = values.out ? path.resolve(values.out) : fs.mkdtempSync(path.join(os.tmpdir(), 'gdb-testsuite-'));
  const timeoutMs = Number(values.timeout ?? 900) * 1000;
  const dataDir = spawnSync(gdb, ['-nx', '-batch', '-ex', 'show data-directory'], { encoding: 'utf8' }).stdout.match(/"(.*)"/)?.[1];

  const servers = [];
  if (values.only !== 'gdbsock') {
    if (!gdbserver) throw new Error('no gdbserver on PATH (give --gdbserver, or --only gdbsock)');
    servers.push({ name: 'gdbserver', program: gdbserver });
  }
  if (values.only !== 'gdbserver') servers.push({ name: 'gdbsock', program: undefined });

  const jobs = Math.max(1, Number(values.jobs ?? 1) || 1);
  for (const server of servers) {
    const dir = path.join(out, server.name);
    // One configured build directory per worker: runtest writes gdb.sum and gdb.log in its cwd.
    server.workDirs = Array.from({ length: jobs }, (_, i) => (jobs === 1 ? dir : path.join(dir, `w${i}`)));
    for (const d of server.workDirs) configure(d, src);
    if (!server.program) {
      // What npm does for a bin: a symlink to it. The testsuite spawns one executable, with gdbserver's arguments as they are.
      server.program = path.join(dir, 'gdbsock');
      fs.rmSync(server.program, { force: true });
      fs.symlinkSync(cli, server.program);
    }
    server.vars = [`GDB=${gdb}`, `GDBSERVER=${server.program}`, ...(dataDir ? [`GDB_DATA_DIRECTORY=${dataDir}`] : [])];
    process.stderr.write(`${server.name}: ${exps.length} files, logs in ${dir}\n`);
  }

  const results = new Map(); // exp -> name -> result
  const queue = exps.flatMap((exp) => servers.map((server) => ({ exp, server })));
  const worker = async (i) => {
    for (let job = queue.shift(); job; job = queue.shift()) {
      const { exp, server } = job;
      // Each worker's servers listen on a loopback address of their own: with one `localhost`, two
      // runtests both start at port 2346, and one server on ::1 and another on 127.0.0.1 both bind
      // it, so a gdb could connect to the other worker's server (a test then hangs at its first continue).
      const host = jobs > 1 ? [`GDB_TEST_SOCKETHOST=127.0.0.${2 + i}`] : [];
      const r = await runOne(server.workDirs[i], exp, [...server.vars, ...host], values.board ?? 'native-gdbserver', timeoutMs);
      const base = exp.replace(/\//g, '_').replace(/\.exp$/, '');
      const dir = path.join(out, server.name);
      fs.writeFileSync(path.join(dir, `${base}.sum`), r.sum);
      fs.writeFileSync(path.join(dir, `${base}.log`), r.log);
      const c = { ...count(r.sum), seconds: r.seconds, timedOut: r.timedOut };
      if (!results.has(exp)) results.set(exp, {});
      results.get(exp)[server.name] = c;
      process.stderr.write(
        `  ${server.name} ${exp}: ${c.pass} pass, ${c.fail} fail, ${c.other} other, ${c.seconds.toFixed(1)} s${c.timedOut ? ' (timed out)' : ''}\n`,
      );
    }
  };
  await Promise.all(Array.from({ length: jobs }, (_, i) => worker(i)));
  printTable(exps, servers, results);
  process.stdout.write(`\nlogs: ${out}\n`);
}

function printTable(exps, servers, results) {
  const width = Math.max(...exps.map((e) => e.length), 'total'.length);
  const cell = (c) =>
    c
      ? `${String(c.pass).padStart(5)} ${String(c.fail).padStart(4)} ${String(c.other).padStart(4)} ${c.seconds.toFixed(1).padStart(7)}${c.timedOut ? '!' : ' '}`
      : ' '.repeat(27);
  const head = servers.map((s) => `${s.name.padEnd(27)}`).join(' | ');
  const sub = servers.map(() => ' PASS FAIL othr  time s ').join(' | ');
  const compare = servers.length === 2;
  process.stdout.write(`\n${''.padEnd(width)} | ${head}${compare ? ' | PASS lost' : ''}\n${''.padEnd(width)} | ${sub}${compare ? ' |' : ''}\n`);
  const totals = servers.map(() => ({ pass: 0, fail: 0, other: 0, seconds: 0, timedOut: false }));
  let lost = 0;
  for (const exp of exps) {
    const row = results.get(exp) ?? {};
    const cells = servers.map((s, i) => {
      const c = row[s.name];
      if (c) for (const k of ['pass', 'fail', 'other', 'seconds']) totals[i][k] += c[k];
      return cell(c);
    });
    let delta = '';
    if (compare) {
      const d = (row[servers[0].name]?.pass ?? 0) - (row[servers[1].name]?.pass ?? 0);
      lost += d;
      delta = ` | ${d === 0 ? '' : String(d).padStart(5)}`;
    }
    process.stdout.write(`${exp.padEnd(width)} | ${cells.join(' | ')}${delta}\n`);
  }
  process.stdout.write(`${'total'.padEnd(width)} | ${totals.map(cell).join(' | ')}${compare ? ` | ${String(lost).padStart(5)}` : ''}\n`);
  if (compare && totals[0].seconds > 0)
    process.stdout.write(`time ratio ${servers[1].name}/${servers[0].name}: ${(totals[1].seconds / totals[0].seconds).toFixed(2)}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
