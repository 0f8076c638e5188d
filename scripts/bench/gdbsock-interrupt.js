'use strict';
// npm run bench -- gdbsock-interrupt [--rounds N] [--after MS] [--gdb16]
// gdb's Ctrl-C, timed from the 0x03 leaving the client to the stop reply
// arriving: a bare RSP client over loopback TCP (TCP_NODELAY, as gdb) sends
// vCont;c, then 0x03 MS milliseconds later (default 2: inside the window in
// which gdbsock waits for a stop on its JS thread; 0: on the client's next
// turn, as gdb.base/bg-execution-repeat.exp's `interrupt` follows its
// `continue&`, about 0.1 ms; 100: through gdbsock's event loop), to gdbserver and to
// gdbsock in turn, round after round, on a program sleeping 10 ms at a time
// (gdb.base/bg-execution-repeat.c's loop). Prints each server's median, 90th
// percentile and worst in milliseconds, and the ratios of medians.
const path = require('node:path');
const { compile, median, percentile } = require('./compile');
const { openRspSession } = require('./gdb-servers');
const { gdbTools } = require('./gdb-tools');

const cli = process.env.GDBSOCK_CLI || path.join(__dirname, '..', '..', 'dist', 'gdbsock', 'cli.js');

async function rounds(kind, program, tools, count, afterMs) {
  const { server, client: c } = await openRspSession(kind, cli, [program], tools);
  const times = [];
  for (let i = 0; i < count; i++) {
    const stop = c.next();
    c.send('vCont;c');
    await new Promise((r) => (afterMs === 0 ? setImmediate(r) : setTimeout(r, afterMs)));
    const sent = process.hrtime.bigint();
    c.interrupt();
    const { body, at } = await stop;
    if (!body.startsWith('T02')) throw new Error(`${kind}: the stop for a Ctrl-C was ${body.slice(0, 20)}`);
    times.push(Number(at - sent) / 1e6);
  }
  c.send('vKill;0');
  c.socket.destroy();
  server.proc.kill('SIGKILL');
  return times;
}

async function main(args) {
  const tools = gdbTools(args);
  const option = (name, fallback) => {
    const i = args.indexOf(name);
    return i < 0 ? fallback : Number(args[i + 1]);
  };
  const count = option('--rounds', 50);
  const afterMs = option('--after', 2);
  const program = compile('interrupt-target');
  const of = { gdbserver: [], gdbsock: [] };
  // Alternate in batches, so both meet the same load.
  for (let batch = 0; batch < 5; batch++) {
    for (const kind of ['gdbserver', 'gdbsock']) of[kind].push(...(await rounds(kind, program, tools, Math.ceil(count / 5), afterMs)));
  }
  process.stdout.write(`gdbsock-interrupt (${tools.label}): ${of.gdbsock.length} Ctrl-Cs each, ${afterMs} ms after vCont;c, milliseconds to the stop reply\n`);
  process.stdout.write(`${'server'.padEnd(10)} ${'median'.padStart(8)} ${'p90'.padStart(8)} ${'max'.padStart(8)}\n`);
  for (const kind of ['gdbserver', 'gdbsock']) {
    const t = of[kind];
    process.stdout.write(
      `${kind.padEnd(10)} ${median(t).toFixed(3).padStart(8)} ${percentile(t, 0.9).toFixed(3).padStart(8)} ${Math.max(...t)
        .toFixed(3)
        .padStart(8)}\n`,
    );
  }
  process.stdout.write(
    `ratio gdbsock/gdbserver: median ${(median(of.gdbsock) / median(of.gdbserver)).toFixed(2)}, p90 ${(percentile(of.gdbsock, 0.9) / percentile(of.gdbserver, 0.9)).toFixed(2)}\n`,
  );
}

module.exports = { main };
