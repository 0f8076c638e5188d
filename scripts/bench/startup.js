'use strict';
// npm run bench -- startup [--runs N] [PROGRAM]
// Start-up of gdbsock against gdbserver, as gdb's testsuite pays it at every
// restart: the same command line (`:PORT PROGRAM`), from spawn to the port
// accepting a connection, alternating the two, medians and the ratio. gdbsock
// is started as its installed bin (package.json's, through its #! line), so
// Node's own start-up is counted. Each server is then stopped.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { median } = require('./compile');

const root = path.join(__dirname, '..', '..');
const BIN = path.join(root, require(path.join(root, 'package.json')).bin.gdbsock);

function option(args, name, fallback) {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

/**
 * CPU seconds a process's threads have run so far, to the nanosecond: the first
 * field of each /proc/PID/task/TID/schedstat (Documentation/scheduler/sched-stats.rst).
 */
function cpuSeconds(pid) {
  let ns = 0;
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    ns += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
  }
  return ns / 1e9;
}

/** A loopback port nobody listens on now. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once a connection to 127.0.0.1:port is accepted, trying every millisecond. */
function whenAccepting(port, child) {
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null || child.signalCode !== null) return reject(new Error('the server exited before accepting'));
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => setTimeout(attempt, 1));
    };
    attempt();
  });
}

/** SIGKILL to the process group `leader` started (spawn's `detached`), if any of it is left. */
function killGroup(leader) {
  try {
    process.kill(-leader, 'SIGKILL');
  } catch (err) {
    if (err.code !== 'ESRCH') throw err;
  }
}

/** Seconds from spawn to the port accepting, wall and CPU (the CPU is less shaken by a busy machine). */
async function timeToAccepting(command, args, port) {
  let stderr = '';
  const started = process.hrtime.bigint();
  // A process group of its own, killed whole at the end: gdbserver forks short-lived children to probe
  // ptrace's features, and one caught stopped when its parent dies would stay stopped.
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  try {
    await whenAccepting(port, child);
  } catch (err) {
    killGroup(child.pid);
    await exited;
    throw new Error(`${command} ${args.join(' ')}: ${err.message}\n${stderr}`);
  }
  const seconds = { wall: Number(process.hrtime.bigint() - started) / 1e9, cpu: cpuSeconds(child.pid) };
  killGroup(child.pid);
  await exited;
  return seconds;
}

async function main(args) {
  const runs = option(args, '--runs', 20);
  const program = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--runs')[0] ?? '/bin/true';
  const bin = process.env.GDBSOCK_BIN ?? BIN; // another build, for a before/after
  const times = { gdbserver: [], gdbsock: [] };
  for (let i = 0; i < runs; i++) {
    let port = await freePort();
    times.gdbserver.push(await timeToAccepting('gdbserver', [`:${port}`, program], port));
    port = await freePort();
    times.gdbsock.push(await timeToAccepting(bin, [`:${port}`, program], port));
  }
  process.stdout.write(`start-up to the port accepting, ${program}, medians of ${runs} (ms):\n          gdbserver  gdbsock  ratio\n`);
  for (const kind of ['wall', 'cpu']) {
    const a = median(times.gdbserver.map((t) => t[kind]));
    const b = median(times.gdbsock.map((t) => t[kind]));
    process.stdout.write(
      `  ${kind.padEnd(6)} ${(a * 1000).toFixed(1).padStart(9)} ${(b * 1000).toFixed(1).padStart(8)} ${(a > 0 ? (b / a).toFixed(2) : '-').padStart(6)}\n`,
    );
  }
}

module.exports = { main };
