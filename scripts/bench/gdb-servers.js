'use strict';
// The two servers the gdb benchmarks compare, started the same way: gdbserver
// (`tools.gdbserver`, see gdb-tools.js) or gdbsock (`cli`, a built cli.js)
// serving `argv` once on a free loopback port.
const { spawn } = require('node:child_process');
const { once } = require('node:events');
const fs = require('node:fs');
const { connectRsp } = require('../rsp-client');
const { median } = require('./compile');
const { HOST } = require('./gdb-tools');

/** User and system CPU seconds `pid` has used so far, or undefined once it is gone (proc(5), USER_HZ 100). */
function cpuSeconds(pid) {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/**
 * Resolves when the server listens: its port, its process, when it exits,
 * what it printed, and cpu(): the CPU seconds it spent from listening to its
 * exit (sampled every 10 ms; its start-up is not counted).
 */
/** With `attach`, argv is a pid to attach to (gdbserver's command line, which gdbsock takes too). */
async function startGdbServer(kind, cli, argv, tools = HOST, { attach = false } = {}) {
  const [file, ...args] =
    kind === 'gdbserver'
      ? [...tools.gdbserver, '--once', ...(attach ? ['--attach'] : []), '127.0.0.1:0', ...argv]
      : [process.execPath, cli, '--once', '--listen', '127.0.0.1:0', ...(attach ? [] : ['--']), ...argv];
  const proc = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(proc, 'exit');
  let text = '';
  const port = await new Promise((resolve, reject) => {
    const look = (d) => {
      text += d.toString();
      const m = /Listening on port (\d+)/.exec(text) || /target extended-remote 127\.0\.0\.1:(\d+)/.exec(text);
      if (m) resolve(Number(m[1]));
    };
    proc.stdout.on('data', look);
    proc.stderr.on('data', look);
    exited.then(() => reject(new Error(`${kind} exited: ${text}`)));
  });
  const atListen = cpuSeconds(proc.pid) ?? 0;
  let last = atListen;
  const sampler = setInterval(() => {
    last = cpuSeconds(proc.pid) ?? last;
  }, 10);
  exited.then(() => clearInterval(sampler));
  return { port, exited, proc, log: () => text, cpu: () => last - atListen };
}

/** The columns both gdb-server benchmarks print for their runs ({seconds, cpu} each, per kind). */
const COLUMNS = ['gdbserver_s', 'gdbsock_s', 'ratio', 'gdbserver_cpu', 'gdbsock_cpu'];

/** Medians of each kind's runs, the ratio of times, and the row's cells padded as COLUMNS. */
function compareRuns(runsOf) {
  const of = (kind, key) => (runsOf[kind].length ? median(runsOf[kind].map((run) => run[key])) : undefined);
  const row = {
    gdbserver: of('gdbserver', 'seconds'),
    gdbsock: of('gdbsock', 'seconds'),
    gdbserverCpu: of('gdbserver', 'cpu'),
    gdbsockCpu: of('gdbsock', 'cpu'),
  };
  row.ratio = row.gdbserver && row.gdbsock ? (row.gdbsock / row.gdbserver).toFixed(2) : 'FAIL';
  const values = [row.gdbserver, row.gdbsock, row.ratio, row.gdbserverCpu, row.gdbsockCpu];
  const cells = values.map((v) => String(typeof v === 'number' ? v.toFixed(4) : (v ?? 'FAIL')).padStart(13)).join(' ');
  return { row, cells };
}

const header = () => COLUMNS.map((h) => h.padStart(13)).join(' ');

/**
 * A server started as startGdbServer does, and a bare RSP client (rsp-client.js)
 * past gdb's opening: qSupported, no-ack mode, `?`. Resolves with both.
 */
async function openRspSession(kind, cli, argv, tools = HOST) {
  const server = await startGdbServer(kind, cli, argv, tools);
  const client = await connectRsp(server.port);
  await client.ask('qSupported:multiprocess+;swbreak+;hwbreak+');
  await client.ask('QStartNoAckMode');
  await client.ask('?');
  return { server, client };
}

module.exports = { startGdbServer, openRspSession, compareRuns, header };
