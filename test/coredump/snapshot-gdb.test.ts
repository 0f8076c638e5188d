/**
 * The proof: gdb prints the same for a hostkit snapshot as for gdb's own
 * gcore of the same process, and hostkit's reader sees the same threads,
 * registers, files and memory in both.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { openCore, snapshot, type Core, type CoreThread } from '../../lib/coredump';
import { hostXsaveLayout } from '../../lib/ptrace';
import { Xfeature } from '../../lib/ptrace/arch/xsave';
import { fixture, startDetached } from '../helpers';
import { gdbPlaces } from '../xsave';
import { gcore, gdbOnCore, normalise, requireGdb, tempDir } from './gdb';

requireGdb();

const COMMON = ['info threads', 'thread apply all bt', 'info registers', 'info sharedlibrary', 'x/s message', 'x/4gx numbers', 'x/s heap_message'];

interface Case {
  name: string;
  binary: string;
  args: string[];
  commands: string[];
  expect: RegExp[];
}

const cases: Case[] = [
  { name: 'single-threaded', binary: 'core-target', args: ['single'], commands: COMMON, expect: [/wait_here/, /hostkit core fixture/, /a string on the heap/] },
  {
    name: '8 threads in different functions',
    binary: 'core-target',
    args: ['threads'],
    commands: COMMON,
    expect: [/level_0/, /level_7/, /Thread 9 /],
  },
  { name: 'PIE', binary: 'core-pie', args: ['single'], commands: COMMON, expect: [/wait_here/, /hostkit core fixture/] },
  {
    name: 'deleted mapping',
    binary: 'core-target',
    args: ['deleted'],
    commands: [...COMMON, 'x/s deleted_shared', 'x/s deleted_private', 'x/c deleted_private+4096'],
    expect: [/contents of a deleted file/, /120 'x'/],
  },
];

/**
 * gdb rebuilds FXSAVE images from its register cache: it leaves MXCSR_MASK
 * (bytes 28..31) zero. Those bytes are the only ones allowed to differ.
 */
function comparableFp(raw: Buffer | undefined): string | undefined {
  if (!raw) return undefined;
  const copy = Buffer.from(raw.subarray(0, 512));
  copy.fill(0, 28, 32);
  return copy.toString('hex');
}

/**
 * The extended registers, decoded by name from each core's own layout (the
 * images' bytes may legitimately sit elsewhere: gdb 14+'s gcore keeps the
 * CPU's offsets, hostkit writes Intel's). gcore is the oracle only for
 * components gdb places right: gdb 13 assumes Intel's offsets, so where this
 * CPU puts a component elsewhere (PKRU on AMD, AVX-512 on Zen 4) and gcore's
 * core has no NT_X86_XSAVE_LAYOUT note to say so, its values are wrong and
 * test/gdbsock/xsave-registers.test.ts checks ours against the values the
 * program loaded instead.
 */
function vectors(th: CoreThread, trusted: (feature: number) => boolean): string {
  const v = th.vectors;
  if (!v) return 'none';
  const hex = (b: Buffer) => b.toString('hex');
  const parts = [`xmm ${v.xmm.slice(0, 16).map(hex)}`];
  if (trusted(Xfeature.AVX)) parts.push(`ymm ${v.ymm.slice(0, 16).map(hex)}`);
  if (trusted(Xfeature.OPMASK) && trusted(Xfeature.ZMM_HI256) && trusted(Xfeature.HI16_ZMM)) parts.push(`zmm ${v.zmm.map(hex)} k ${v.k}`);
  if (trusted(Xfeature.PKRU)) parts.push(`pkru ${v.pkru}`);
  return parts.join(' ');
}

/** Components whose place in gcore's core is known: gdb, which wrote it, reads this CPU's layout right for them. */
function placedRight(): (feature: number) => boolean {
  const cpu = hostXsaveLayout()!;
  return (feature) => gdbPlaces(cpu, feature);
}

/**
 * gdb's `info registers` without the rows of XSAVE components gcore got
 * wrong on this CPU (see vectors()): gdb 13 on a Zen 4 without MPX reads
 * k0..k7 from Intel's offset, where this CPU keeps other state, and gcore's
 * core then holds those wrong values (zeros, seen here) while ours holds what
 * the program had. test/gdbsock/xsave-registers.test.ts is their oracle.
 */
function withoutMisplacedRegisters(output: string, trusted: (feature: number) => boolean): string {
  const dropped: RegExp[] = [];
  if (!trusted(Xfeature.OPMASK)) dropped.push(/^k[0-7] /);
  if (!trusted(Xfeature.PKRU)) dropped.push(/^pkru /);
  if (dropped.length === 0) return output;
  return output
    .split('\n')
    .filter((line) => !dropped.some((re) => re.test(line)))
    .join('\n');
}

/**
 * gdb's output with the threads in one order. Which thread a core lists after
 * the first is the writer's choice, and gdb numbers threads in that order:
 * gcore 13 writes ascending tids, gcore 16 the leader and then descending
 * tids, hostkit ascending. So "[New LWP]" lines, "info threads" rows and
 * "thread apply all bt" blocks are sorted by LWP and lose gdb's number; what
 * each thread shows is still compared line for line.
 */
function threadOrderFree(output: string): string {
  const lines = output.split('\n');
  const lwp = (line: string) => Number(/LWP (\d+)/.exec(line)?.[1]);
  const byLwp = (a: string, b: string) => lwp(a) - lwp(b);
  const out: string[] = [];
  for (let i = 0; i < lines.length; ) {
    const run = (test: (l: string) => boolean) => {
      const taken: string[] = [];
      while (i < lines.length && test(lines[i]!)) taken.push(lines[i++]!);
      return taken;
    };
    if (/^\[New LWP \d+\]$/.test(lines[i]!)) {
      out.push(...run((l) => /^\[New LWP \d+\]$/.test(l)).sort(byLwp));
    } else if (/^[* ] +\d+ +Thread 0x[0-9a-f]+ \(LWP \d+\)/.test(lines[i]!)) {
      const rows = run((l) => /^[* ] +\d+ +Thread 0x[0-9a-f]+ \(LWP \d+\)/.test(l));
      out.push(...rows.map((l) => l.replace(/^([* ]) +\d+ +/, '$1 - ')).sort(byLwp));
    } else if (/^Thread \d+ \(Thread 0x[0-9a-f]+ \(LWP \d+\)\):$/.test(lines[i]!)) {
      const blocks: string[][] = [];
      while (i < lines.length && /^Thread \d+ \(Thread 0x[0-9a-f]+ \(LWP \d+\)\):$/.test(lines[i]!)) {
        const header = lines[i++]!.replace(/^Thread \d+ /, 'Thread - ');
        const body = run((l) => /^(#\d+ |Backtrace stopped|$)/.test(l));
        while (body.length && body[body.length - 1] === '') body.pop();
        blocks.push([header, ...body, '']);
      }
      blocks.sort((a, b) => byLwp(a[0]!, b[0]!));
      out.push(...blocks.flat());
    } else {
      out.push(lines[i++]!);
    }
  }
  return out.join('\n');
}

/**
 * Each thread's struct rseq: glibc 2.35+ registers it at the thread pointer
 * plus __rseq_offset (ld.so's symbol, set at startup: +2336 on glibc 2.36,
 * inside the descriptor; -192 on 2.41, below it), __rseq_size bytes (at least
 * sizeof(struct rseq), 32). The kernel rewrites its cpu fields whenever a
 * thread migrates, so two cores taken one after the other may differ there.
 * The symbol is read from the process's own ld.so and its value from the
 * process's memory in the core; no rseq symbol means glibc registers none.
 */
function rseqAreas(core: Core): (readonly [bigint, bigint])[] {
  for (const file of core.files) {
    if (file.offset !== 0n || !/\.so(\.|$)/.test(file.path)) continue;
    const nm = spawnSync('nm', ['-D', '--defined-only', file.path], { encoding: 'utf8' });
    const value = (name: string) => {
      const m = new RegExp(`^([0-9a-f]+) [A-Za-z] ${name}(@|$)`, 'm').exec(nm.stdout ?? '');
      // glibc's ld.so and libc link at 0: the mapping of offset 0 is the load base.
      return m ? file.start + BigInt(`0x${m[1]}`) : undefined;
    };
    const offsetAt = value('__rseq_offset');
    const sizeAt = value('__rseq_size');
    if (offsetAt === undefined || sizeAt === undefined) continue;
    const offset = core.memory.read(offsetAt, 8).readBigInt64LE(0);
    const size = BigInt(Math.max(core.memory.read(sizeAt, 4).readUInt32LE(0), 32));
    return core.threads.map((th) => [th.registers.fs_base! + offset, th.registers.fs_base! + offset + size] as const);
  }
  return [];
}

/** The reader's threads, the first (the current one) first and the others by tid: see threadOrderFree. */
function threadOrder<T extends { tid: number }>(threads: readonly T[]): T[] {
  return [threads[0]!, ...threads.slice(1).sort((a, b) => a.tid - b.tid)];
}

/** What the reader sees, in a form two cores of the same process must share (as strings: small diffs). */
function summary(core: Core, trusted: (feature: number) => boolean) {
  const hex = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `0x${x.toString(16)}` : x));
  return {
    threads: threadOrder(core.threads).map(
      (th) => `${th.tid} ${hex(th.registers)} fp ${comparableFp(th.fpRegisters)} xstate legacy ${comparableFp(th.xstate)} ${vectors(th, trusted)}`,
    ),
    auxv: core.auxv?.entries,
    files: core.files.map(hex),
    pid: core.pid,
    buildIds: core.buildIds().map(hex),
  };
}

for (const c of cases) {
  t.test(`gdb prints the same for hostkit's snapshot and gcore: ${c.name}`, async (t) => {
    const binary = fixture(c.binary);
    const target = await startDetached(binary, c.args);
    t.teardown(target.kill);
    const dir = tempDir();
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    const theirs = gcore(target.pid, dir);
    const ours = path.join(dir, 'hostkit.core');
    const result = await snapshot(target.pid, ours);
    t.equal(result.threads, c.args[0] === 'threads' ? 9 : 1);

    const gdbTheirs = gdbOnCore(binary, theirs, c.commands);
    const gdbOurs = gdbOnCore(binary, ours, c.commands);
    for (const e of c.expect) t.match(gdbOurs, e, `gdb finds ${e} in our core`);
    t.notMatch(gdbOurs, /Cannot access memory|not in the core|warning: .*truncated/i, 'no memory gdb needs is missing');
    const trusted = placedRight();
    const comparable = (output: string) => threadOrderFree(withoutMisplacedRegisters(normalise(output), trusted));
    t.equal(comparable(gdbOurs), comparable(gdbTheirs), 'gdb output is the same');

    const a = openCore(theirs);
    const b = openCore(ours);
    t.teardown(() => {
      a.close();
      b.close();
    });
    const sa = summary(a, trusted);
    const sb = summary(b, trusted);
    t.same(sb.threads, sa.threads, 'same threads, registers and FP state');
    t.equal(
      JSON.stringify(sb.auxv, (_k, x) => (typeof x === 'bigint' ? String(x) : x)),
      JSON.stringify(sa.auxv, (_k, x) => (typeof x === 'bigint' ? String(x) : x)),
      'same auxiliary vector',
    );
    t.same(sb.files, sa.files, 'same NT_FILE ranges and offsets (gcore counts in bytes, the kernel in pages)');
    t.same(sb.buildIds, sa.buildIds, 'same build-ids from the captured ELF headers');
    // Every byte our core holds that gcore's also holds is the same, except in
    // the thread descriptors (struct pthread at fs_base): gdb's libthread_db
    // flips their report_events flags while it is attached; and in each
    // thread's rseq area, wherever glibc put it.
    const rseq = rseqAreas(b);
    t.equal(rseq.length, b.threads.length, "each thread's rseq area found through __rseq_offset (glibc 2.35+)");
    const descriptors = [...b.threads.map((th) => [th.registers.fs_base!, th.registers.fs_base! + 0x1000n] as const), ...rseq];
    const inDescriptor = (a: bigint) => descriptors.some(([lo, hi]) => a >= lo && a < hi);
    let compared = 0;
    for (const seg of b.memory.segments) {
      if (seg.filesz === 0) continue;
      const theirsBytes = a.memory.readAvailable(seg.vaddr, seg.filesz);
      if (theirsBytes.length === 0) continue;
      const oursBytes = b.memory.read(seg.vaddr, theirsBytes.length);
      compared += theirsBytes.length;
      if (oursBytes.equals(theirsBytes)) continue;
      for (let i = 0; i < oursBytes.length; i++) {
        const at = seg.vaddr + BigInt(i);
        if (oursBytes[i] !== theirsBytes[i] && !inDescriptor(at)) {
          t.fail(`memory at 0x${at.toString(16)} differs: ${oursBytes[i]} in ours, ${theirsBytes[i]} in gcore's`);
          break;
        }
      }
    }
    t.ok(compared > 100_000, `compared ${compared} bytes of memory`);
  });
}
