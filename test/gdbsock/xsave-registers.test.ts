/**
 * Extended registers on this CPU, checked against the values the program
 * loaded (the ground truth; gdbserver and gdb 13 are wrong wherever the
 * CPU's XSAVE layout is not Intel's, so neither is the oracle here):
 * through gdbsock attached and launched, after gdb writes one (the program
 * prints what it then holds), in a hostkit snapshot read by gdb and by
 * openCore, and in a core the kernel wrote, served by `gdbsock --core`.
 *
 * The fixture loads AVX-512 and PKRU only where the CPU has them; the
 * description gdb gets must then have exactly those registers. The AVX-512
 * and MPX paths are also checked on any CPU with cores rewritten into a Zen 4
 * and an Intel layout (the last tests), served to a real gdb.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { type Core, Machine, encodeNote, openCore, snapshot, writeCore } from '../../lib/coredump';
import { hostXsaveLayout } from '../../lib/ptrace';
import {
  NT_X86_XSAVE_LAYOUT,
  XCR0_OFFSET,
  XSTATE_BV_OFFSET,
  Xfeature,
  type XsaveLayout,
  encodeXsaveLayoutNote,
  xsaveLayoutFromNote,
} from '../../lib/ptrace/arch/xsave';
import { fixture, kernelCoreOf, startDetached } from '../helpers';
import { cleanEnv, gdbMajor, requireTool, runGdb, startGdbsock } from './gdb';

requireTool('gdb');

const CLI = path.join(__dirname, '..', '..', 'dist', 'gdbsock', 'cli.js');
const binary = fixture('xsave-patterns');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xsave-test-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Qword q of vector register i, as the fixture loads it. */
const pattern = (i: number, q: number) => 0x5a00000000000000n | (BigInt(i) << 40n) | (BigInt(q) << 32n) | 0xc0de0000n | (BigInt(i) << 8n) | BigInt(q);
const kValue = (i: number) => BigInt(0xab00 | (i * 0x11));
const PKRU = 0x12345670n;
const hex = (v: bigint) => `0x${v.toString(16)}`;
const qwords = (i: number, from: number, count: number) => `{${Array.from({ length: count }, (_, q) => hex(pattern(i, from + q))).join(', ')}}`;

const cpu = hostXsaveLayout();
const has = (f: number) => cpu?.components.some((c) => c.feature === f) ?? false;
const avx = has(Xfeature.AVX);
const avx512 = has(Xfeature.OPMASK) && has(Xfeature.ZMM_HI256) && has(Xfeature.HI16_ZMM);
const pkru = has(Xfeature.PKRU);

interface Check {
  command: string;
  expect: string;
}

/** What gdb must print for the registers the fixture loaded, and for those this CPU lacks. */
function checks(features: { avx: boolean; avx512: boolean; pkru: boolean }): Check[] {
  const out: Check[] = [
    { command: 'p/x $xmm3.v2_int64', expect: qwords(3, 0, 2) },
    { command: 'p/x $xmm15.v2_int64', expect: qwords(15, 0, 2) },
    { command: 'p $st0', expect: '1234.5' },
  ];
  if (features.avx) out.push({ command: 'p/x $ymm5.v4_int64', expect: qwords(5, 0, 4) }, { command: 'p/x $ymm15.v4_int64', expect: qwords(15, 0, 4) });
  if (features.avx512) {
    out.push(
      { command: 'p/x $zmm31.v8_int64', expect: qwords(31, 0, 8) },
      { command: 'p/x $zmm5.v8_int64', expect: qwords(5, 0, 8) },
      { command: 'p/x $zmm16.v8_int64', expect: qwords(16, 0, 8) },
      { command: 'p/x $ymm17.v4_int64', expect: qwords(17, 0, 4) },
      { command: 'p/x $xmm20.v2_int64', expect: qwords(20, 0, 2) },
      { command: 'p/x $k1', expect: hex(kValue(1)) },
      { command: 'p/x $k7', expect: hex(kValue(7)) },
    );
  } else {
    // Not described, so gdb knows no such register: a convenience variable, void.
    out.push({ command: 'p $zmm0', expect: 'void' }, { command: 'p $k1', expect: 'void' }, { command: 'p $xmm16', expect: 'void' });
  }
  out.push(features.pkru ? { command: 'p/x $pkru', expect: hex(PKRU) } : { command: 'p $pkru', expect: 'void' });
  if (!features.avx) out.push({ command: 'p $ymm0', expect: 'void' });
  return out;
}

const HERE = checks({ avx, avx512, pkru });

/** Runs `checks` as gdb commands between markers and compares each printed value. */
function assertPrinted(t: Test, output: string, list: Check[], oracle: string): void {
  for (const { command, expect } of list) {
    const marker = `@@@ ${command}\n`;
    const at = output.indexOf(marker);
    const line =
      at < 0
        ? undefined
        : output
            .slice(at + marker.length)
            .split('\n')[0]!
            .replace(/^\$\d+ = /, '');
    t.equal(line, expect, `${command} (${oracle})`);
  }
}
const withMarkers = (list: Check[]) => list.flatMap(({ command }) => [`echo @@@ ${command}\\n`, command]);

/** The fixture's own report, after it ran on: "v7 q0 q1 ...", "k1 ab11", "pkru 12345670" by name. */
async function programSays(nextLine: () => Promise<string>): Promise<Map<string, string>> {
  const said = new Map<string, string>();
  for (let line = await nextLine(); line !== 'done'; line = await nextLine()) {
    const space = line.indexOf(' ');
    said.set(line.slice(0, space), line.slice(space + 1));
  }
  return said;
}

t.test('the fixture and hostkit agree on what this CPU has', async (t) => {
  const target = await startDetached(binary, ['spin']);
  t.teardown(target.kill);
  const expected = ['features', ...(avx ? ['avx'] : []), ...(avx512 ? ['avx512'] : []), ...(pkru ? ['pkru'] : [])].join(' ');
  t.equal(await target.nextLine(), expected, 'CPUID and XGETBV in the fixture say what hostXsaveLayout says');
  t.ok(cpu, 'this x86-64 CPU has XSAVE');
  t.equal(cpu!.source, 'cpuid');
  t.comment(
    `XCR0 ${hex(cpu!.xcr0)}: ${cpu!.components.map((c) => `${c.feature}@${hex(BigInt(c.offset))}`).join(' ')}${avx512 ? '' : ' (no AVX-512 here: its registers are checked absent, and present through the rewritten cores below)'}`,
  );
});

t.test('attached: gdb prints what the program loaded, and a register gdb writes is what the program then holds', async (t) => {
  const target = await loaded();
  t.teardown(target.kill);
  const server = await startGdbsock(['--once', String(target.pid)]);
  t.teardown(server.stop);
  const write = avx512
    ? 'set $zmm7.v8_int64[7] = 0x1122334455667788'
    : avx
      ? 'set $ymm7.v4_int64[3] = 0x1122334455667788'
      : 'set $xmm7.v2_int64[1] = 0x1122334455667788';
  const writes = [write, ...(avx512 ? ['set $k3 = 0x5aa5'] : []), ...(pkru ? ['set $pkru = 0x55555550'] : []), 'set var go = 1', 'detach'];
  const out = await runGdb(`target extended-remote ${server.target}`, [...withMarkers(HERE), ...writes], { file: binary });
  assertPrinted(t, out, HERE, 'oracle: the values the program loaded');
  const said = await programSays(target.nextLine);
  const vector = said.get('v7')!.split(' ');
  t.equal(vector[vector.length - 1], '1122334455667788', `${write}: the program holds it`);
  t.equal(vector[0], pattern(7, 0).toString(16), 'the rest of the register is untouched');
  t.equal(said.get('v8'), Array.from({ length: vector.length }, (_, q) => pattern(8, q).toString(16)).join(' '), 'other registers are untouched');
  if (avx512) t.equal(said.get('k3'), '5aa5', 'set $k3: the program holds it');
  if (pkru) t.equal(said.get('pkru'), '55555550', 'set $pkru: the program holds it');
  t.equal(said.get('st0'), '1234.5');
});

t.test('launched: gdb prints what the program loaded at its int3', async (t) => {
  const server = await startGdbsock(['--once', '--', binary, 'trap']);
  t.teardown(server.stop);
  const out = await runGdb(`target extended-remote ${server.target}`, ['continue', ...withMarkers(HERE), 'kill'], { file: binary });
  t.match(out, /SIGTRAP/, 'stopped at the int3');
  assertPrinted(t, out, HERE, 'oracle: the values the program loaded');
});

t.test('a hostkit snapshot: gdb and openCore read what the program loaded', async (t) => {
  const target = await loaded();
  t.teardown(target.kill);
  const file = path.join(dir, 'snapshot.core');
  await snapshot(target.pid, file);
  const out = await gdbOn([binary, file], withMarkers(HERE));
  t.notMatch(out, /too small|Unexpected size|unavailable/, 'gdb reads every thread without an xstate warning');
  assertPrinted(t, out, HERE, 'gdb on the snapshot; oracle: the values the program loaded');
  const served = await gdbOn(['-ex', `target remote | ${process.execPath} ${CLI} --stdio --core ${file} 2>/dev/null`, binary], withMarkers(HERE));
  assertPrinted(t, served, HERE, 'gdbsock --core on the snapshot');
  const core = openCore(file);
  t.teardown(() => core.close());
  t.equal(core.xsaveLayout?.source, 'note', 'the snapshot says where its components are');
  assertVectors(t, core);
});

t.test('a core the kernel wrote: gdbsock --core serves what the program loaded, whatever gdb reads by itself', async (t) => {
  const file = await kernelCore();
  const core = openCore(file);
  t.teardown(() => core.close());
  t.equal(core.xsaveLayout?.source, 'note', "the kernel's NT_X86_XSAVE_LAYOUT note is read");
  assertVectors(t, core);
  const served = await gdbOn(['-ex', `target remote | ${process.execPath} ${CLI} --stdio --core ${file} 2>/dev/null`, binary], withMarkers(HERE));
  t.notMatch(served, /too small|unavailable/);
  assertPrinted(t, served, HERE, "gdbsock --core on the kernel's core; oracle: the values the program loaded");
});

// The rewritten cores: the kernel's core of the fixture, with every thread's
// image moved into another CPU's layout (with AVX-512 loaded with the same
// patterns) and a layout note that says so. gdb 13 cannot read these itself
// (it assumes Intel's offsets); through gdbsock it must print the patterns.

const ALL = checks({ avx: true, avx512: true, pkru: true });

/** Zen 4 (AVX-512, no MPX), offsets as the kernel's note reports them there. */
const ZEN4: [number, number, number][] = [
  [Xfeature.AVX, 576, 256],
  [Xfeature.OPMASK, 0x340, 64],
  [Xfeature.ZMM_HI256, 0x380, 512],
  [Xfeature.HI16_ZMM, 0x580, 1024],
  [Xfeature.PKRU, 0x980, 8],
];
/** Intel with MPX and AVX-512 (Skylake-SP): the standard offsets. */
const INTEL_MPX: [number, number, number][] = [
  [Xfeature.AVX, 576, 256],
  [Xfeature.BNDREGS, 960, 64],
  [Xfeature.BNDCSR, 1024, 64],
  [Xfeature.OPMASK, 1088, 64],
  [Xfeature.ZMM_HI256, 1152, 512],
  [Xfeature.HI16_ZMM, 1664, 1024],
  [Xfeature.PKRU, 2688, 8],
];

for (const [name, components] of [
  ['Zen 4', ZEN4],
  ['Intel with MPX', INTEL_MPX],
] as const) {
  t.test(`a core in ${name}'s layout: gdb through gdbsock --core prints the patterns`, async (t) => {
    const file = await rewrittenCore(t, await kernelCore(), components);
    const core = openCore(file);
    t.teardown(() => core.close());
    t.same(
      core.xsaveLayout?.components.map((c) => [c.feature, c.offset, c.size]),
      components,
      'read back at the offsets written',
    );
    t.equal(core.threads[0]!.vectors!.zmm[31]!.readBigUInt64LE(56), pattern(31, 7), 'openCore: zmm31');
    t.equal(core.threads[0]!.vectors!.k[1], kValue(1), 'openCore: k1');
    const mpx =
      components === INTEL_MPX
        ? [
            { command: 'p/x $bnd1raw', expect: '{lbound = 0x1000, ubound_raw = 0xffffffffffffdfff}' },
            { command: 'p/x $bndcfgu', expect: '0x7001' },
          ]
        : [];
    const served = await gdbOn(['-ex', `target remote | ${process.execPath} ${CLI} --stdio --core ${file} 2>/dev/null`, binary], withMarkers([...ALL, ...mpx]));
    t.notMatch(served, /too small|unavailable/);
    assertPrinted(t, served, [...ALL, ...mpx], 'gdbsock --core; oracle: the patterns written');
    if (gdbMajor() >= 14) {
      // gdb 14+ reads the note itself: a second opinion on what hostkit wrote.
      assertPrinted(t, await gdbOn([binary, file], withMarkers(ALL)), ALL, `gdb ${gdbMajor()} on the core itself`);
    }
  });
}

/** The fixture in spin mode, once it says its registers are loaded. */
async function loaded() {
  const target = await startDetached(binary, ['spin']);
  for (let line = await target.nextLine(); line !== 'loaded'; line = await target.nextLine()) {
    if (!line.startsWith('features')) throw new Error(`the fixture said '${line}' before 'loaded'`);
  }
  return target;
}

function gdbOn(args: string[], commands: string[]): Promise<string> {
  const all = ['-nx', '-batch', '-ex', 'set width 0', '-ex', 'set height 0', ...args, ...commands.flatMap((c) => ['-ex', c])];
  return new Promise((resolve, reject) => {
    execFile('/bin/sh', ['-c', 'exec gdb "$@" 2>&1', 'sh', ...all], { encoding: 'utf8', timeout: 60_000, env: cleanEnv() }, (err, stdout) => {
      if (err && (err as { killed?: boolean }).killed) reject(new Error(`gdb timed out:\n${stdout}`));
      else resolve(stdout);
    });
  });
}

/** openCore's decoded registers against the patterns. */
function assertVectors(t: Test, core: Core): void {
  const v = core.threads[0]!.vectors!;
  t.equal(v.xmm[3]!.readBigUInt64LE(8), pattern(3, 1), 'openCore: xmm3');
  if (avx) t.equal(v.ymm[15]!.readBigUInt64LE(24), pattern(15, 3), 'openCore: ymm15');
  if (avx512) {
    t.equal(v.zmm[31]!.readBigUInt64LE(56), pattern(31, 7), 'openCore: zmm31');
    t.equal(v.zmm[5]!.readBigUInt64LE(40), pattern(5, 5), 'openCore: zmm5');
    t.equal(v.k[1], kValue(1), 'openCore: k1');
  } else {
    t.same([v.zmm.length, v.k.length], [0, 0], 'openCore: no zmm or k on this CPU');
  }
  t.equal(v.pkru === undefined ? undefined : BigInt(v.pkru), pkru ? PKRU : undefined, 'openCore: pkru');
}

let kernelCoreFile: Promise<string> | undefined;

/** The kernel's core of the fixture, stopped by its ud2 with every pattern loaded (written once per run). */
function kernelCore(): Promise<string> {
  kernelCoreFile ??= kernelCoreOf(binary, ['crash'], 'SIGILL', path.join(dir, 'kernel')).then((k) => k.core);
  return kernelCoreFile;
}

/**
 * The core with each thread's NT_X86_XSTATE rebuilt in `components`' layout:
 * the legacy area (x87, SSE) kept, AVX-512 and PKRU loaded with the
 * fixture's patterns, MPX with bnd1 = [0x1000, 0x2000] and BNDCFGU 0x7001,
 * and an NT_X86_XSAVE_LAYOUT note for the new layout. Memory is copied.
 */
async function rewrittenCore(t: Test, source: string, components: [number, number, number][]): Promise<string> {
  const original = openCore(source);
  try {
    const xcr0 = components.reduce((m, [f]) => m | (1n << BigInt(f)), 0b11n);
    const layoutDesc = Buffer.alloc(components.length * 16);
    components.forEach(([f, offset, size], i) => {
      layoutDesc.writeUInt32LE(f, i * 16);
      layoutDesc.writeUInt32LE(size, i * 16 + 4);
      layoutDesc.writeUInt32LE(offset, i * 16 + 8);
    });
    const layout: XsaveLayout = xsaveLayoutFromNote(layoutDesc, xcr0);
    t.same(encodeXsaveLayoutNote(layout), layoutDesc, 'the layout note encodes back to itself');
    const at = (f: number) => layout.components.find((c) => c.feature === f)!.offset;
    const notes: Buffer[] = [];
    for (const note of original.notes) {
      if (note.name === 'LINUX' && note.type === NT_X86_XSAVE_LAYOUT) continue;
      if (note.name !== 'LINUX' || note.type !== 0x202) {
        notes.push(encodeNote(note.name, note.type, note.desc));
        continue;
      }
      const image = Buffer.alloc(layout.size);
      note.desc.copy(image, 0, 0, 512);
      image.writeBigUInt64LE(xcr0, XCR0_OFFSET);
      image.writeBigUInt64LE(xcr0, XSTATE_BV_OFFSET);
      for (let i = 0; i < 16; i++) {
        for (let q = 0; q < 2; q++) image.writeBigUInt64LE(pattern(i, q), 160 + i * 16 + q * 8);
        for (let q = 0; q < 2; q++) image.writeBigUInt64LE(pattern(i, 2 + q), at(Xfeature.AVX) + i * 16 + q * 8);
        for (let q = 0; q < 4; q++) image.writeBigUInt64LE(pattern(i, 4 + q), at(Xfeature.ZMM_HI256) + i * 32 + q * 8);
        for (let q = 0; q < 8; q++) image.writeBigUInt64LE(pattern(16 + i, q), at(Xfeature.HI16_ZMM) + i * 64 + q * 8);
      }
      for (let i = 0; i < 8; i++) image.writeBigUInt64LE(kValue(i), at(Xfeature.OPMASK) + i * 8);
      image.writeUInt32LE(Number(PKRU), at(Xfeature.PKRU));
      if (layout.components.some((c) => c.feature === Xfeature.BNDREGS)) {
        // bnd1: lower bound, then the upper bound as the CPU keeps it (one's complement).
        image.writeBigUInt64LE(0x1000n, at(Xfeature.BNDREGS) + 16);
        image.writeBigUInt64LE(~0x2000n & 0xffffffffffffffffn, at(Xfeature.BNDREGS) + 24);
        image.writeBigUInt64LE(0x7001n, at(Xfeature.BNDCSR));
      }
      notes.push(encodeNote('LINUX', 0x202, image));
    }
    notes.push(encodeNote('LINUX', NT_X86_XSAVE_LAYOUT, layoutDesc));
    const segments = original.memory.segments.map((s) => ({
      vaddr: s.vaddr,
      memsz: s.memsz,
      flags: s.flags,
      data: s.filesz > 0 ? original.memory.read(s.vaddr, s.filesz) : Buffer.alloc(0),
    }));
    const file = path.join(dir, `rewritten-${components.length}.core`);
    await writeCore(file, Machine.X86_64, Buffer.concat(notes), segments);
    return file;
  } finally {
    original.close();
  }
}
