'use strict';
// npm run bench -- remote [--triples N] [--batch B] [--runs R]
// 3000 mmap+mprotect+munmap triples (9000 system calls) made in a traced process:
//  (a) one injected call per ptrace round trip (Tracee.remote().syscall, as gdb's `call`
//      or compel's single path do it);
//  (b) through the stub, one stop per batch of B calls (default 64);
//  (c) parked on a futex in the shared page, no ptrace stop at all, batches of B;
//  (d) the same calls made natively inside a process (the floor).
// Medians of R runs (default 3), each run doing all ways in turn.
const { execFileSync } = require('node:child_process');
const { compile, median } = require('./compile');
const { Tracee } = require('../../dist/ptrace');

function option(args, name, fallback) {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

const PAGE = 4096n;
const BASE = 0x5b0000000000n;
const PROT_RW = 3;
const PROT_R = 1;
const MAP_FLAGS = 0x100022; // MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE

function triples(n) {
  const calls = [];
  for (let i = 0n; i < BigInt(n); i++) {
    const at = BASE + i * PAGE;
    calls.push(
      { call: 'mmap', args: [at, PAGE, PROT_RW, MAP_FLAGS, -1, 0] },
      { call: 'mprotect', args: [at, PAGE, PROT_R] },
      { call: 'munmap', args: [at, PAGE] },
    );
  }
  return calls;
}

function check(results, calls) {
  results.forEach((r, i) => {
    const wanted = calls[i].call === 'mmap' ? calls[i].args[0] : 0n;
    if (r !== wanted) throw new Error(`${calls[i].call} #${i} gave ${r}, not ${wanted}`);
  });
}

async function singles(remote, calls) {
  const start = process.hrtime.bigint();
  const results = [];
  for (const c of calls) results.push(await remote.syscall(c.call, c.args));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  check(results, calls);
  return seconds;
}

async function batched(remote, calls, size) {
  const stub = await remote.installStub();
  try {
    const start = process.hrtime.bigint();
    const results = [];
    for (let i = 0; i < calls.length; i += size) {
      for (const r of await stub.batch(calls.slice(i, i + size))) results.push(r.value);
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    check(results, calls);
    return seconds;
  } finally {
    await stub.cure();
  }
}

async function parked(remote, calls, size) {
  const stub = await remote.installStub();
  try {
    const handle = await stub.park();
    try {
      const start = process.hrtime.bigint();
      const results = [];
      for (let i = 0; i < calls.length; i += size) {
        for (const r of await handle.batch(calls.slice(i, i + size))) results.push(r.value);
      }
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      check(results, calls);
      return seconds;
    } finally {
      await handle.unpark();
    }
  } finally {
    await stub.cure();
  }
}

exports.main = async function main(args) {
  const n = option(args, '--triples', 3000);
  const size = option(args, '--batch', 64);
  const runs = option(args, '--runs', 3);
  const binary = compile('remote-target');
  const calls = triples(n);
  const times = { a: [], b: [], c: [], d: [] };
  for (let run = 0; run < runs; run++) {
    const tracee = Tracee.launch(binary, ['wait']);
    await tracee.leader.stopped(); // the exec stop: calls are made from there
    const remote = tracee.remote();
    times.a.push(await singles(remote, calls));
    times.b.push(await batched(remote, calls, size));
    times.c.push(await parked(remote, calls, size));
    tracee.kill();
    await tracee.ended();
    times.d.push(Number(execFileSync(binary, ['native', String(n), `0x${BASE.toString(16)}`], { encoding: 'utf8' })));
  }
  const a = median(times.a);
  const b = median(times.b);
  const c = median(times.c);
  const d = median(times.d);
  const rows = [
    ['(a) one injected call per ptrace round trip', a],
    [`(b) stub, one stop per batch of ${size}`, b],
    [`(c) stub parked on a futex, batches of ${size}, no stop`, c],
    ['(d) native, inside the process', d],
  ];
  process.stdout.write(`${n} mmap+mprotect+munmap triples (${3 * n} system calls), medians of ${runs} runs\n`);
  process.stdout.write(`${'way'.padEnd(52)} ${'seconds'.padStart(9)} ${'µs/call'.padStart(9)} ${'vs (d)'.padStart(8)}\n`);
  for (const [label, s] of rows) {
    process.stdout.write(`${label.padEnd(52)} ${s.toFixed(4).padStart(9)} ${((s / (3 * n)) * 1e6).toFixed(2).padStart(9)} ${(s / d).toFixed(1).padStart(8)}\n`);
  }
  process.stdout.write(`(a)/(b) = ${(a / b).toFixed(1)} (goal: at least 20); (c)/(d) = ${(c / d).toFixed(1)} (goal: at most 3)\n`);
};
