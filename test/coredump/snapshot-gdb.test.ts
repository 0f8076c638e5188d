/**
 * The proof: gdb prints the same for a hostkit snapshot as for gdb's own
 * gcore of the same process, and hostkit's reader sees the same threads,
 * registers, files and memory in both.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { openCore, snapshot, type Core } from '../../lib/coredump';
import { hostXsaveLayout } from '../../lib/ptrace';
import { Xfeature, standardXsaveLayout } from '../../lib/ptrace/arch/xsave';
import { fixture, startDetached } from '../helpers';
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
function vectors(core: Core, trusted: (feature: number) => boolean) {
  return core.threads.map((th) => {
    const v = th.vectors;
    if (!v) return 'none';
    const hex = (b: Buffer) => b.toString('hex');
    const parts = [`xmm ${v.xmm.slice(0, 16).map(hex)}`];
    if (trusted(Xfeature.AVX)) parts.push(`ymm ${v.ymm.slice(0, 16).map(hex)}`);
    if (trusted(Xfeature.OPMASK) && trusted(Xfeature.ZMM_HI256) && trusted(Xfeature.HI16_ZMM)) parts.push(`zmm ${v.zmm.map(hex)} k ${v.k}`);
    if (trusted(Xfeature.PKRU)) parts.push(`pkru ${v.pkru}`);
    return parts.join(' ');
  });
}

/** Components whose place in gcore's core is known: it says (a layout note), or this CPU uses Intel's offset. */
function placedRight(gcoreCore: Core): (feature: number) => boolean {
  if (gcoreCore.xsaveLayout?.source === 'note') return () => true;
  const cpu = hostXsaveLayout();
  const intel = standardXsaveLayout(cpu?.xcr0 ?? 0n);
  return (feature) => {
    const a = cpu?.components.find((c) => c.feature === feature);
    const b = intel.components.find((c) => c.feature === feature);
    return a !== undefined && b !== undefined && a.offset === b.offset;
  };
}

/** What the reader sees, in a form two cores of the same process must share (as strings: small diffs). */
function summary(core: Core, trusted: (feature: number) => boolean) {
  const hex = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `0x${x.toString(16)}` : x));
  const vector = vectors(core, trusted);
  return {
    threads: core.threads.map((th, i) => `${th.tid} ${hex(th.registers)} fp ${comparableFp(th.fpRegisters)} xstate legacy ${comparableFp(th.xstate)} ${vector[i]}`),
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
    t.equal(normalise(gdbOurs), normalise(gdbTheirs), 'gdb output is the same');

    const a = openCore(theirs);
    const b = openCore(ours);
    t.teardown(() => (a.close(), b.close()));
    const trusted = placedRight(a);
    const sa = summary(a, trusted);
    const sb = summary(b, trusted);
    t.same(sb.threads, sa.threads, 'same threads, registers and FP state');
    t.equal(JSON.stringify(sb.auxv, (_k, x) => (typeof x === 'bigint' ? String(x) : x)), JSON.stringify(sa.auxv, (_k, x) => (typeof x === 'bigint' ? String(x) : x)), 'same auxiliary vector');
    t.same(sb.files, sa.files, 'same NT_FILE ranges and offsets (gcore counts in bytes, the kernel in pages)');
    t.same(sb.buildIds, sa.buildIds, 'same build-ids from the captured ELF headers');
    // Every byte our core holds that gcore's also holds is the same, except in
    // the thread descriptors (struct pthread at fs_base): gdb's libthread_db
    // flips their report_events flags while it is attached.
    const descriptors = b.threads.map((th) => [th.registers.fs_base!, th.registers.fs_base! + 0x1000n] as const);
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
