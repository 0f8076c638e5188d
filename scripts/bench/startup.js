'use strict';
// npm run bench -- startup [--runs N] [PROGRAM]
// Start-up of gdbsock against gdbserver, with the same command line
// (`--once 127.0.0.1:0 PROGRAM`): from spawn to "Listening on port" on stderr,
// alternating the two, medians and the ratio. Each server is then stopped.
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { median } = require('./compile');

const CLI = path.join(__dirname, '..', '..', 'dist', 'gdbsock', 'cli.js');

function option(args, name, fallback) {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

/** CPU seconds (user + system) a process has used so far: proc(5), /proc/PID/stat fields 14 and 15. */
function cpuSeconds(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/** Seconds from spawn to "Listening on port", wall and CPU (the CPU is less shaken by a busy machine). */
function timeToListening(command, args) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let text = '';
    let seconds;
    child.stderr.on('data', (d) => {
      text += d;
      if (seconds === undefined && /Listening on port/.test(text)) {
        seconds = { wall: Number(process.hrtime.bigint() - started) / 1e9, cpu: cpuSeconds(child.pid) };
        child.kill('SIGTERM');
      }
    });
    child.on('exit', () => (seconds === undefined ? reject(new Error(`${command} exited: ${text}`)) : resolve(seconds)));
  });
}

async function main(args) {
  const runs = option(args, '--runs', 11);
  const program = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--runs')[0] ?? '/bin/true';
  const cli = process.env.GDBSOCK_CLI ?? CLI; // another build, for a before/after
  const times = { gdbserver: [], gdbsock: [] };
  for (let i = 0; i < runs; i++) {
    times.gdbserver.push(await timeToListening('gdbserver', ['--once', '127.0.0.1:0', program]));
    times.gdbsock.push(await timeToListening(process.execPath, [cli, '--once', '127.0.0.1:0', program]));
  }
  process.stdout.write(`start-up to "Listening on port", ${program}, medians of ${runs} (ms):\n          gdbserver  gdbsock  ratio\n`);
  for (const kind of ['wall', 'cpu']) {
    const a = median(times.gdbserver.map((t) => t[kind]));
    const b = median(times.gdbsock.map((t) => t[kind]));
    process.stdout.write(
      `  ${kind.padEnd(6)} ${(a * 1000).toFixed(1).padStart(9)} ${(b * 1000).toFixed(1).padStart(8)} ${(a > 0 ? (b / a).toFixed(2) : '-').padStart(6)}\n`,
    );
  }
}

module.exports = { main };
