'use strict';
// npm run bench -- lldb [--runs N] [--gdb16]
// LLDB (Debian's lldb-19) reading 64 MiB of a process's memory
// (`memory read --binary`) through gdbserver and through gdbsock, each attached
// to a fresh copy of the program, alternating runs; timed inside LLDB, so
// start-up and attach are not counted. Prints the medians and the ratio
// gdbsock/gdbserver. --gdb16: the anchor is Debian 13's gdbserver 16.3 (gdb-tools.js).
const { execFile, execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { compile } = require('./compile');
const { compareRuns, header, startGdbServer } = require('./gdb-servers');
const { gdbTools } = require('./gdb-tools');

const root = path.join(__dirname, '..', '..');
const cli = path.join(root, 'dist', 'gdbsock', 'cli.js');
const MEGABYTES = 64;

/** The program, started and waiting in pause() with its buffer filled: its pid and the buffer's address. */
async function startProgram(binary) {
  const proc = spawn(binary, [String(MEGABYTES)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: proc.stdout });
  const said = [];
  for await (const line of lines) {
    said.push(line);
    const m = /^buffer (0x[0-9a-f]+) (\d+)$/.exec(line);
    if (m) return { proc, address: m[1], size: Number(m[2]) };
  }
  throw new Error(`the program said: ${said.join('\n')}`);
}

function runLldb(binary, port, address, size, outfile) {
  const commands = [
    'settings set auto-confirm true',
    `gdb-remote 127.0.0.1:${port}`,
    'script import time; t0 = time.time()',
    `memory read --force --binary --outfile ${outfile} ${address} ${address}+${size}`,
    "script print('SCENARIO_SECONDS %.4f' % (time.time() - t0))",
    'process detach',
  ];
  const args = ['-b', '-x', binary, ...commands.flatMap((c) => ['-o', c])];
  return new Promise((resolve) => {
    execFile('lldb-19', args, { timeout: 300000, encoding: 'utf8' }, (_err, stdout, stderr) => resolve(stdout + stderr));
  });
}

async function oneRun(tools, kind, binary, work) {
  const program = await startProgram(binary);
  try {
    const server = await startGdbServer(kind, cli, [String(program.proc.pid)], tools, { attach: true });
    const outfile = path.join(work, `${kind}.bin`);
    const out = await runLldb(binary, server.port, program.address, program.size, outfile);
    const timer = setTimeout(() => server.proc.kill('SIGKILL'), 10000);
    await server.exited;
    clearTimeout(timer);
    const m = /^SCENARIO_SECONDS ([\d.]+)$/m.exec(out);
    const read = fs.existsSync(outfile) ? fs.statSync(outfile).size : 0;
    if (!m || read !== program.size) {
      process.stderr.write(
        `--- ${kind}: LLDB read ${read} bytes; it said:\n${out.split('\n').slice(-8).join('\n')}\n--- server said:\n${server.log().slice(-500)}\n`,
      );
      return undefined;
    }
    return { seconds: Number(m[1]), cpu: server.cpu() };
  } finally {
    program.proc.kill('SIGKILL');
  }
}

exports.main = async function main(args) {
  execFileSync('sh', ['-c', 'command -v lldb-19'], { stdio: 'ignore' });
  const tools = gdbTools(args);
  let runs = 3;
  const i = args.indexOf('--runs');
  if (i >= 0) runs = Number(args[i + 1]);
  const binary = compile('bigbuffer', [], path.join(root, 'test', 'fixtures', 'bigbuffer.c'));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'lldb-bench-'));
  const runsOf = { gdbserver: [], gdbsock: [] };
  for (let r = 0; r < runs; r++) {
    for (const kind of ['gdbserver', 'gdbsock']) {
      const run = await oneRun(tools, kind, binary, work);
      if (run !== undefined) runsOf[kind].push(run);
    }
  }
  fs.rmSync(work, { recursive: true, force: true });
  const { row, cells } = compareRuns(runsOf);
  console.log(`LLDB 19, ${MEGABYTES} MiB memory read; gdbserver: ${tools.label}; medians of ${runs}; cpu: the server's, from listening to exit`);
  console.log(header());
  console.log(cells);
  return row;
};
