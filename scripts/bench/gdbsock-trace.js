'use strict';
// npm run bench -- gdbsock-trace [--hits N] [--runs N] [--gdb16]
// gdb's tracepoints, gdbserver against gdbsock in one run: a tracepoint
// collecting an argument and a global (`collect i, total`) in a function the
// program calls N times (default 20000), then one with while-stepping 2
// (three frames a hit). Times the run as the server itself reports it in
// tstatus (from QTStart to QTStop: the hits, and gdb's continue and tstop),
// checks the frame count, and prints medians and the ratio.
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { compile, median } = require('./compile');
const { startGdbServer } = require('./gdb-servers');
const { gdbTools } = require('./gdb-tools');

const cli = process.env.GDBSOCK_CLI || path.join(__dirname, '..', '..', 'dist', 'gdbsock', 'cli.js');

/** Room for every frame of every scenario (registers with AVX-512 take about 2.3 KiB a frame). */
const BUFFER_BYTES = 512 * 1024 * 1024;

const SCENARIOS = [
  { name: 'collect', actions: ['collect i, total'], framesPerHit: 1 },
  { name: 'while-stepping 2', actions: ['collect i', 'while-stepping 2', 'collect $regs', 'end'], framesPerHit: 3 },
];

function gdbSession(tools, port, program, commands) {
  const args = [
    ...tools.gdb.slice(1),
    '-q',
    '-batch',
    '-nx',
    '-ex',
    'set confirm off',
    '-ex',
    'set sysroot',
    '-ex',
    `target remote 127.0.0.1:${port}`,
    '-x',
    commands,
    program,
  ];
  return new Promise((resolve, reject) => {
    execFile(tools.gdb[0], args, { env: { ...process.env, ...tools.env }, timeout: 600_000, maxBuffer: 1 << 24 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stdout}${stderr}`)) : resolve(stdout + stderr),
    );
  });
}

async function run(kind, tools, program, hits, scenario, dir) {
  const commands = path.join(dir, 'session.gdb');
  fs.writeFileSync(
    commands,
    [
      'break main',
      'continue',
      `set trace-buffer-size ${BUFFER_BYTES}`,
      'trace traced',
      'actions',
      ...scenario.actions,
      'end',
      'break done',
      'tstart',
      'continue',
      'tstop',
      'tstatus',
      '',
    ].join('\n'),
  );
  const server = await startGdbServer(kind, cli, [program, String(hits)], tools);
  try {
    const out = await gdbSession(tools, server.port, program, commands);
    const frames = /Collected (\d+) trace frames/.exec(out);
    const took = /Trace started at [\d.]+ secs, stopped ([\d.]+) secs later/.exec(out);
    if (!frames || !took) throw new Error(`${kind}: no trace status in\n${out}`);
    if (Number(frames[1]) !== hits * scenario.framesPerHit) throw new Error(`${kind}: ${frames[1]} frames, not ${hits * scenario.framesPerHit}`);
    return Number(took[1]);
  } finally {
    server.proc.kill('SIGKILL');
  }
}

async function main(args) {
  const tools = gdbTools(args);
  const option = (name, fallback) => {
    const i = args.indexOf(name);
    return i < 0 ? fallback : Number(args[i + 1]);
  };
  const hits = option('--hits', 20000);
  const runs = option('--runs', 3);
  const program = compile('trace-target', ['-g']);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gdbsock-trace-bench-'));
  try {
    process.stdout.write(`gdbsock-trace (${tools.label}): ${hits} tracepoint hits, seconds from tstart to tstop as tstatus reports, medians of ${runs}\n`);
    process.stdout.write(`${'scenario'.padEnd(18)} ${'gdbserver'.padStart(10)} ${'gdbsock'.padStart(10)} ${'ratio'.padStart(7)}\n`);
    for (const scenario of SCENARIOS) {
      const of = { gdbserver: [], gdbsock: [] };
      for (let i = 0; i < runs; i++) for (const kind of ['gdbserver', 'gdbsock']) of[kind].push(await run(kind, tools, program, hits, scenario, dir));
      const [theirs, ours] = [median(of.gdbserver), median(of.gdbsock)];
      process.stdout.write(
        `${scenario.name.padEnd(18)} ${theirs.toFixed(3).padStart(10)} ${ours.toFixed(3).padStart(10)} ${(ours / theirs).toFixed(2).padStart(7)}\n`,
      );
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

module.exports = { main };
