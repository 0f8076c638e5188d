'use strict';
// npm run bench -- gdbsock-watch [--runs N] [--hits N] [--gdb16]
// gdb's `watch` on a variable the program changes at every call of tick()
// (../shared/bench/gdb/target.c), continued N times (200), through gdbserver
// and through gdbsock, alternating runs in one process; prints the medians
// and the ratio gdbsock/gdbserver. Each side uses the fastest watchpoint that
// works on this host: where the debug registers fire, both use them; where
// they do not (a PVM guest), gdbserver's hardware watchpoints never stop the
// program, so its side is gdb's software watchpoints (`set
// can-use-hw-watchpoints 0`: gdb single-steps the program over the protocol),
// and gdbsock's is its own emulation (stepping in native code, one round trip
// per hit).
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { compareRuns, header } = require('./gdb-servers');
const { gdbTools } = require('./gdb-tools');
const { buildTarget, need, oneRun } = require('./gdbsock');

/** Whether this host's debug registers fire (the build's probe: lib/ptrace/debug-registers-fire.ts). */
function debugRegistersFire() {
  const { probeDebugRegisters } = require('../../dist/ptrace');
  return probeDebugRegisters();
}

function script(hits, software) {
  return [
    'break tick',
    'continue',
    'delete',
    ...(software ? ['set can-use-hw-watchpoints 0'] : []),
    'watch counter',
    'python import time; t0 = time.time()',
    `python [gdb.execute("continue", to_string=True) for _ in range(${hits})]`,
    'python print("SCENARIO_SECONDS %.4f" % (time.time() - t0))',
    'print counter',
    '',
  ].join('\n');
}

exports.main = async function main(args) {
  const tools = gdbTools(args);
  if (tools.gdb[0] === 'gdb') need('gdb', 'gdb');
  if (tools.gdbserver[0] === 'gdbserver') need('gdbserver', 'gdbserver');
  const option = (name, fallback) => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : fallback;
  };
  const runs = option('--runs', 3);
  const hits = option('--hits', 200);
  const probe = debugRegistersFire();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gdbsock-watch-'));
  const binary = buildTarget(work);
  const scripts = { gdbserver: path.join(work, 'gdbserver.gdb'), gdbsock: path.join(work, 'gdbsock.gdb') };
  fs.writeFileSync(scripts.gdbserver, script(hits, !probe.fire));
  fs.writeFileSync(scripts.gdbsock, script(hits, false));
  console.log(`gdb and gdbserver: ${tools.label}; debug registers ${probe.fire ? 'fire' : `do not fire (${probe.why})`}`);
  console.log(
    `gdbserver side: ${probe.fire ? 'hardware watchpoint' : "gdb's software watchpoint"}; gdbsock side: hardware watchpoint${probe.fire ? '' : ' (emulated by stepping)'}`,
  );
  console.log(`${'scenario'.padEnd(12)} ${header()}`);
  const runsOf = { gdbserver: [], gdbsock: [] };
  for (let r = 0; r < runs; r++) {
    for (const kind of ['gdbserver', 'gdbsock']) {
      // No buffer to fill (0 MiB): stepping through that loop would be all either side measured.
      const run = await oneRun(tools, kind, scripts[kind], binary, ['1000000', '0', '0']);
      if (run !== undefined) runsOf[kind].push(run);
    }
  }
  const { row, cells } = compareRuns(runsOf);
  console.log(`${`watch x${hits}`.padEnd(12)} ${cells}`);
  fs.rmSync(work, { recursive: true, force: true });
  return [{ scenario: 'watch', ...row }];
};
