'use strict';
// The two servers the gdb benchmarks compare, started the same way: gdbserver
// or gdbsock (`cli`, a built cli.js) serving `argv` once on a free loopback port.
const { spawn } = require('node:child_process');
const { once } = require('node:events');

/** Resolves when the server listens: its port, its process, when it exits, what it printed. */
async function startGdbServer(kind, cli, argv) {
  const args = kind === 'gdbserver' ? ['--once', '127.0.0.1:0', ...argv] : [cli, '--once', '--listen', '127.0.0.1:0', '--', ...argv];
  const proc = spawn(kind === 'gdbserver' ? 'gdbserver' : process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
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
  return { port, exited, proc, log: () => text };
}

module.exports = { startGdbServer };
