'use strict';
// npm run bench -- startup [--runs N] [--before BIN] [PROGRAM]
// Start-up of gdbsock against gdbserver, as gdb's testsuite pays it at every
// restart: the same command line (`:PORT PROGRAM`), from spawn to the port
// accepting a connection, alternating the two, medians and the ratio. gdbsock
// is started as its installed bin (package.json's, through its #! line), so
// Node's own start-up is counted; a bare Node listening on a port is timed
// too, as the floor of any server written for Node. Each is then stopped.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { median } = require('./compile');

const root = path.join(__dirname, '..', '..');
const BIN = path.join(root, require(path.join(root, 'package.json')).bin.gdbsock);

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
async function timeToAccepting([command, args, env], port) {
  let stderr = '';
  const started = process.hrtime.bigint();
  // A process group of its own, killed whole at the end: gdbserver forks short-lived children to probe
  // ptrace's features, and one caught stopped when its parent dies would stay stopped.
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true, ...(env ? { env } : {}) });
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

function option(args, name) {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

async function main(args) {
  const runs = Number(option(args, '--runs') ?? 20);
  const before = option(args, '--before'); // another build's bin, e.g. one kept from before a change: a third column
  const program = args.filter((a, i) => !a.startsWith('--') && !['--runs', '--before'].includes(args[i - 1]))[0] ?? '/bin/true';
  // The floor of any Node server: Node starting and listening, nothing else, in the environment
  // the bins give Node: without NODE_EXTRA_CA_CERTS, which they set aside (scripts/bundle-bins.js).
  const nodeEnv = { ...process.env };
  delete nodeEnv.NODE_EXTRA_CA_CERTS;
  const nodeFloor = (port) => [process.execPath, ['-e', `require('net').createServer().listen(${port}, '127.0.0.1')`], nodeEnv];
  const servers = [
    { name: 'gdbserver', run: (port) => ['gdbserver', [`:${port}`, program]] },
    { name: 'node', run: nodeFloor },
    ...(before ? [{ name: 'before', run: (port) => [path.resolve(before), [`:${port}`, program]] }] : []),
    { name: 'gdbsock', run: (port) => [BIN, [`:${port}`, program]] },
  ];
  const times = servers.map(() => []);
  for (let i = 0; i < runs; i++) {
    for (const [k, server] of servers.entries()) {
      const port = await freePort();
      times[k].push(await timeToAccepting(server.run(port), port));
    }
  }
  const columns = servers.map((s) => s.name.padStart(10)).join('');
  process.stdout.write(`start-up to the port accepting, ${program}, medians of ${runs} (ms), ratio gdbsock/gdbserver:\n        ${columns}   ratio\n`);
  for (const kind of ['wall', 'cpu']) {
    const medians = times.map((t) => median(t.map((x) => x[kind])) * 1000);
    const ratio = medians[0] > 0 ? (medians.at(-1) / medians[0]).toFixed(2) : '-';
    process.stdout.write(`  ${kind.padEnd(6)}${medians.map((m) => m.toFixed(1).padStart(10)).join('')} ${ratio.padStart(7)}\n`);
  }
}

module.exports = { main };
