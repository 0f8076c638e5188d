'use strict';
// npm run bench -- gdbsock [--runs N] [--gdb16] [SCENARIO...]
// The same gdb client and the same gdb scripts (../shared/bench/gdb/*.gdb, or
// $GDB_BENCH_DIR) against gdbserver and against gdbsock, alternating runs in
// one process; prints the medians and the ratio gdbsock/gdbserver. Each script
// prints SCENARIO_SECONDS, timed inside gdb, so process start-up is not counted.
// The host's gdb and gdbserver, or with --gdb16 Debian 13's 16.3 (gdb-tools.js).
// The cpu columns: each server's CPU seconds from listening to its exit
// (medians), the whole session's; for the 64 MiB dump, nearly all of it is
// the dump's, so cpu/seconds is the share of the dump spent inside the server.
const { execFile, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { compareRuns, header, startGdbServer } = require('./gdb-servers');
const { gdbTools } = require('./gdb-tools');

const root = path.join(__dirname, '..', '..');
const cli = path.join(root, 'dist', 'gdbsock', 'cli.js');
const TARGET_ARGS = ['1000000', '0', '64'];

function scriptsDir() {
  const dir = process.env.GDB_BENCH_DIR || path.join(root, '..', 'shared', 'bench', 'gdb');
  if (!fs.existsSync(path.join(dir, 'target.c'))) throw new Error(`no gdb benchmark scripts in ${dir}: set GDB_BENCH_DIR`);
  return dir;
}

function need(tool, pkg) {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
  } catch {
    throw new Error(`${tool} is missing: apt-get install ${pkg}`);
  }
}

function runGdb(tools, port, script, binary) {
  const args = ['-q', '-batch', '-nx', '-ex', 'set pagination off', '-ex', 'set confirm off'];
  args.push('-ex', `target remote 127.0.0.1:${port}`, '-x', script, '-ex', 'kill', binary);
  return new Promise((resolve) => {
    const env = { ...process.env, ...tools.env };
    execFile(tools.gdb[0], [...tools.gdb.slice(1), ...args], { timeout: 300000, encoding: 'utf8', maxBuffer: 64 << 20, env }, (_err, stdout, stderr) =>
      resolve(stdout + stderr),
    );
  });
}

/** One session of `script` (a gdb script printing SCENARIO_SECONDS) through one server: its seconds and the server's CPU. */
async function oneRun(tools, kind, script, binary, targetArgs = TARGET_ARGS) {
  const scenario = path.basename(script, '.gdb');
  const server = await startGdbServer(kind, cli, [binary, ...targetArgs], tools);
  const out = await runGdb(tools, server.port, script, binary);
  const timer = setTimeout(() => server.proc.kill('SIGKILL'), 10000);
  await server.exited;
  clearTimeout(timer);
  const m = /^SCENARIO_SECONDS ([\d.]+)$/m.exec(out);
  if (!m) {
    process.stderr.write(`--- ${kind} ${scenario} failed; gdb said:\n${out.split('\n').slice(-6).join('\n')}\n--- server said:\n${server.log().slice(-500)}\n`);
    return undefined;
  }
  return { seconds: Number(m[1]), cpu: server.cpu() };
}

/** The benchmark inferior (../shared/bench/gdb/target.c), built into `work`. */
function buildTarget(work) {
  const binary = path.join(work, 'target');
  execFileSync('gcc', ['-O1', '-g', '-pthread', '-o', binary, path.join(scriptsDir(), 'target.c')]);
  return binary;
}

exports.oneRun = oneRun;
exports.buildTarget = buildTarget;
exports.need = need;

exports.main = async function main(args) {
  const tools = gdbTools(args);
  if (tools.gdb[0] === 'gdb') need('gdb', 'gdb');
  if (tools.gdbserver[0] === 'gdbserver') need('gdbserver', 'gdbserver');
  let runs = 3;
  const i = args.indexOf('--runs');
  if (i >= 0) {
    runs = Number(args[i + 1]);
    args.splice(i, 2);
  }
  const dir = scriptsDir();
  const scenarios = args.length
    ? args
    : fs
        .readdirSync(dir)
        .filter((f) => f.endsWith('.gdb'))
        .map((f) => path.basename(f, '.gdb'));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gdbsock-bench-'));
  const binary = buildTarget(work);
  const rows = [];
  console.log(`gdb and gdbserver: ${tools.label}`);
  console.log(`${'scenario'.padEnd(12)} ${header()}`);
  for (const scenario of scenarios) {
    const runsOf = { gdbserver: [], gdbsock: [] };
    for (let r = 0; r < runs; r++) {
      for (const kind of ['gdbserver', 'gdbsock']) {
        const run = await oneRun(tools, kind, path.join(dir, `${scenario}.gdb`), binary);
        if (run !== undefined) runsOf[kind].push(run);
      }
    }
    const { row, cells } = compareRuns(runsOf);
    rows.push({ scenario, ...row });
    console.log(`${scenario.padEnd(12)} ${cells}`);
  }
  fs.rmSync(work, { recursive: true, force: true });
  return rows;
};
