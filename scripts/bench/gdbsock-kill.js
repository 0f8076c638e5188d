'use strict';
// npm run bench -- gdbsock-kill [--rounds N] [--gdb16]
// A `kill -9` of the server, timed from the kill to the client's end of file:
// how long gdb's connection stays open, able to take a packet the dying
// server will never read (gdb then gets a reset, not an end of file:
// gdb.server/server-kill.exp). A bare RSP client connects to gdbserver and
// to gdbsock in turn, each serving a program sleeping 10 ms at a time,
// exchanges gdb's opening packets, and SIGKILLs the server. Prints each
// server's median, 90th percentile and worst in milliseconds, and the ratio
// of medians.
const { once } = require('node:events');
const path = require('node:path');
const { compile, median, percentile } = require('./compile');
const { openRspSession } = require('./gdb-servers');
const { gdbTools } = require('./gdb-tools');

const cli = process.env.GDBSOCK_CLI || path.join(__dirname, '..', '..', 'dist', 'gdbsock', 'cli.js');

async function killOnce(kind, program, tools) {
  const { server, client: c } = await openRspSession(kind, cli, [program], tools);
  await c.ask('g');
  const ended = once(c.socket, 'end');
  const killed = process.hrtime.bigint();
  server.proc.kill('SIGKILL');
  await ended;
  const ms = Number(process.hrtime.bigint() - killed) / 1e6;
  c.socket.destroy();
  await server.exited;
  return ms;
}

async function main(args) {
  const tools = gdbTools(args);
  const i = args.indexOf('--rounds');
  const count = i < 0 ? 20 : Number(args[i + 1]);
  const program = compile('interrupt-target');
  const of = { gdbserver: [], gdbsock: [] };
  // Alternate, so both meet the same load.
  for (let round = 0; round < count; round++) for (const kind of ['gdbserver', 'gdbsock']) of[kind].push(await killOnce(kind, program, tools));
  process.stdout.write(`gdbsock-kill (${tools.label}): ${count} kills each, milliseconds from SIGKILL to the client's end of file\n`);
  process.stdout.write(`${'server'.padEnd(10)} ${'median'.padStart(8)} ${'p90'.padStart(8)} ${'max'.padStart(8)}\n`);
  for (const kind of ['gdbserver', 'gdbsock']) {
    const t = of[kind];
    const cells = [median(t), percentile(t, 0.9), Math.max(...t)].map((v) => v.toFixed(3).padStart(8));
    process.stdout.write(`${kind.padEnd(10)} ${cells.join(' ')}\n`);
  }
  process.stdout.write(`ratio gdbsock/gdbserver: median ${(median(of.gdbsock) / median(of.gdbserver)).toFixed(2)}\n`);
}

module.exports = { main };
