'use strict';
// npm run bench -- gdbsock-nonstop [--runs N]
// gdb 13.1 in non-stop mode against gdbserver and against gdbsock, alternating
// runs: 64 threads, one after another, each stopping at a breakpoint whose
// commands resume it in the background (continue&), as in gdb's own
// gdb.threads/multi-create-ns-info-thr.exp. Timed from `continue -a&` to the
// 64th hit, as gdb prints it; prints the medians and the ratio gdbsock/gdbserver.
const { execFileSync, spawn } = require('node:child_process');
const { once } = require('node:events');
const path = require('node:path');
const { compile, median } = require('./compile');
const { startGdbServer } = require('./gdb-servers');

/** GDBSOCK_CLI: another build's cli.js, to compare two versions against the same anchor. */
const cli = process.env.GDBSOCK_CLI || path.join(__dirname, '..', '..', 'dist', 'gdbsock', 'cli.js');
const HITS = 64;

/** Milliseconds from `continue -a&` to the last hit gdb reports, or undefined if gdb never got there. */
async function oneRun(kind, binary) {
  const server = await startGdbServer(kind, cli, [binary]);
  const gdb = spawn('gdb', ['-q', '-nx', binary], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let started = 0;
  const done = new Promise((resolve) => {
    gdb.stdout.on('data', (d) => {
      out += d;
      if (out.includes('(gdb) READY') && !started) {
        started = performance.now();
        gdb.stdin.write('continue -a&\n');
      }
      if (started && (out.match(/hit Breakpoint 2, hit/g) ?? []).length >= HITS) resolve(performance.now() - started);
    });
    gdb.once('exit', () => resolve(undefined));
    setTimeout(() => resolve(undefined), 60000);
  });
  gdb.stdin.write(
    [
      'set pagination off',
      'set confirm off',
      'set non-stop on',
      `target remote 127.0.0.1:${server.port}`,
      'break main',
      'continue',
      'break hit',
      'commands',
      'continue&',
      'end',
      'echo READY\\n',
      '',
    ].join('\n'),
  );
  const ms = await done;
  gdb.stdin.end('kill\nquit\n');
  await once(gdb, 'exit');
  server.proc.kill('SIGKILL');
  if (ms === undefined) process.stderr.write(`--- ${kind}: no ${HITS} hits; gdb said:\n${out.split('\n').slice(-6).join('\n')}\n`);
  return ms;
}

exports.main = async function main(args) {
  execFileSync('sh', ['-c', 'command -v gdb && command -v gdbserver'], { stdio: 'ignore' });
  const i = args.indexOf('--runs');
  const runs = i >= 0 ? Number(args[i + 1]) : 5;
  const binary = compile('nonstop-target', ['-g', '-O1', '-pthread']);
  const times = { gdbserver: [], gdbsock: [] };
  for (let r = 0; r < runs; r++) {
    for (const kind of ['gdbserver', 'gdbsock']) {
      const ms = await oneRun(kind, binary);
      if (ms !== undefined) times[kind].push(ms);
    }
  }
  const a = times.gdbserver.length ? median(times.gdbserver) : undefined;
  const b = times.gdbsock.length ? median(times.gdbsock) : undefined;
  console.log(`${'scenario'.padEnd(16)} ${'gdbserver_ms'.padStart(12)} ${'gdbsock_ms'.padStart(12)} ${'ratio'.padStart(8)}`);
  console.log(
    `${`nonstop-${HITS}-hits`.padEnd(16)} ${String(a?.toFixed(1) ?? 'FAIL').padStart(12)} ${String(b?.toFixed(1) ?? 'FAIL').padStart(12)} ${(a && b ? (b / a).toFixed(2) : 'FAIL').padStart(8)}`,
  );
};
