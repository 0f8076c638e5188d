'use strict';
// npm run bench -- bridge [--iterations N] [--megabytes M] [--rounds R]
// The ptrace bridge from JS against the same operations made by a C program,
// on one running target, alternating C and JS rounds; prints medians and ratios.
const { execFileSync, spawn } = require('node:child_process');
const { once } = require('node:events');
const readline = require('node:readline');
const { compile, median } = require('./compile');
const { Tracee } = require('../../dist');
const { tracer } = require('../../dist/ptrace/tracer');

function option(args, name, fallback) {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

// Started through sh as a grandchild: libuv's waitpid() on its own children
// would also swallow their ptrace stops (see README, "one rule").
async function startTarget(binary, megabytes) {
  const sh = spawn('/bin/sh', ['-c', '"$@" &', 'sh', binary, String(megabytes)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = await once(readline.createInterface({ input: sh.stdout }), 'line');
  const [, pid, address] = line.split(' ');
  return { pid: Number(pid), address: BigInt(`0x${address}`), kill: () => process.kill(Number(pid), 'SIGKILL') };
}

function measureC(binary, target, megabytes, iterations) {
  const out = execFileSync(binary, [String(target.pid), target.address.toString(16), String(megabytes), String(iterations)], {
    encoding: 'utf8',
  });
  const values = Object.fromEntries(
    out
      .trim()
      .split('\n')
      .map((l) => l.split(' '))
      .map(([k, v]) => [k, Number(v)]),
  );
  return {
    'step-roundtrip': values['step-roundtrip'],
    getregs: values.getregs,
    read8: values.read8,
    bulk: values['bulk-read-ns'],
  };
}

async function timeEach(iterations, fn) {
  const t = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    t.push(Number(process.hrtime.bigint() - t0));
  }
  return median(t);
}

function timeEachSync(iterations, fn) {
  const t = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    t.push(Number(process.hrtime.bigint() - t0));
  }
  return median(t);
}

async function measureJs(target, megabytes, iterations) {
  const tracee = await Tracee.attach(target.pid);
  const thread = tracee.leader;
  const result = {};
  result['step-roundtrip'] = await timeEach(iterations, () => {
    thread.step();
    return thread.nextEvent();
  });
  // The same round trip with the stop awaited on the JS thread (tracer.settle), as gdbsock waits for gdb's stops.
  result['step-settled'] = await timeEach(iterations, () => {
    const next = thread.nextEvent();
    const before = thread.events;
    thread.step();
    tracer.settle(10, () => thread.events !== before);
    return next;
  });
  result.getregs = timeEachSync(iterations, () => thread.getRegistersRaw());
  result['getregs-typed'] = timeEachSync(iterations, () => thread.getRegisters());
  result.read8 = timeEachSync(iterations, () => tracee.memory.read(target.address, 8));
  const bytes = megabytes << 20;
  const big = Buffer.alloc(bytes);
  result.bulk = timeEachSync(7, () => {
    if (tracee.memory.readInto(target.address, big) !== bytes) throw new Error('short bulk read');
  });
  result['bulk-async'] = await timeEach(7, async () => {
    if ((await tracee.memory.readIntoAsync(target.address, big)) !== bytes) throw new Error('short bulk read');
  });
  await tracee.detach();
  return result;
}

exports.main = async function main(args) {
  const iterations = option(args, '--iterations', 5000);
  const megabytes = option(args, '--megabytes', 64);
  const rounds = option(args, '--rounds', 3);
  const target = await startTarget(compile('bridge-target'), megabytes);
  const cBinary = compile('bridge');
  const c = [];
  const js = [];
  try {
    for (let r = 0; r < rounds; r++) {
      c.push(measureC(cBinary, target, megabytes, iterations));
      js.push(await measureJs(target, megabytes, iterations));
    }
  } finally {
    target.kill();
  }
  const med = (list, key) => median(list.map((m) => m[key]));
  const mbps = (ns) => (megabytes / (ns / 1e9)).toFixed(0);
  const rows = [
    ['stop->event->continue (single-step)', med(c, 'step-roundtrip'), med(js, 'step-roundtrip'), 'us', 2],
    ['  the same, settled on the JS thread', med(c, 'step-roundtrip'), med(js, 'step-settled'), 'us', 2],
    ['GETREGS (raw)', med(c, 'getregs'), med(js, 'getregs'), 'us', undefined],
    ['GETREGS (typed object)', med(c, 'getregs'), med(js, 'getregs-typed'), 'us', undefined],
    ['8-byte memory read', med(c, 'read8'), med(js, 'read8'), 'us', undefined],
    [`${megabytes} MiB read (sync)`, med(c, 'bulk'), med(js, 'bulk'), 'MB/s', 1.2],
    [`${megabytes} MiB read (thread pool)`, med(c, 'bulk'), med(js, 'bulk-async'), 'MB/s', 1.2],
  ];
  console.log(`bridge benchmark: ${iterations} iterations x ${rounds} rounds, medians (C = same ops from a C program)`);
  console.log(`${'operation'.padEnd(38)} ${'C'.padStart(12)} ${'hostkit JS'.padStart(12)} ${'ratio'.padStart(7)}  goal`);
  for (const [name, cNs, jsNs, unit, goal] of rows) {
    const fmt = (ns) => (unit === 'us' ? `${(ns / 1000).toFixed(2)} us` : `${mbps(ns)} MB/s`);
    const ratio = (jsNs / cNs).toFixed(2);
    console.log(`${name.padEnd(38)} ${fmt(cNs).padStart(12)} ${fmt(jsNs).padStart(12)} ${ratio.padStart(7)}  ${goal ? `<= ${goal}x` : ''}`);
  }
};
