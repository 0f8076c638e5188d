'use strict';
// The two servers the gdb benchmarks compare, started the same way: gdbserver
// (`tools.gdbserver`, see gdb-tools.js) or gdbsock (`cli`, a built cli.js)
// serving `argv` once on a free loopback port.
const { spawn } = require('node:child_process');
const { once } = require('node:events');
const { HOST } = require('./gdb-tools');

/** Resolves when the server listens: its port, its process, when it exits, what it printed. */
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
  return { port, exited, proc, log: () => text };
}

module.exports = { startGdbServer };
