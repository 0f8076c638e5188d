/**
 * XSAVE layouts: read from this CPU (checked against /proc/cpuinfo and the
 * kernel's own regset size), from CPUID tables of other CPUs (Zen 4, Intel
 * Skylake-SP, as their CPUID leaf 0xD reports them), from and to the core
 * note, and images moved between layouts without losing a register.
 */
import fs from 'node:fs';
import t from 'tap';
import { CoreFormatError } from '../../lib/coredump/errors';
import { coreXsaveLayout } from '../../lib/coredump/xsave-layout';
import { x86_64Layout } from '../../lib/gdbsock/registers';
import { Tracee, hostXsaveLayout } from '../../lib/ptrace';
import {
  NT_X86_XSAVE_LAYOUT,
  XCR0_OFFSET,
  XSTATE_BV_OFFSET,
  Xfeature,
  cpuidXsaveLayout,
  decodeVectorRegisters,
  encodeXsaveLayoutNote,
  relayoutXstate,
  standardXsaveLayout,
  xsaveLayoutFromNote,
} from '../../lib/ptrace/arch/xsave';
import { fixture } from '../helpers';

const AVX512_PKRU = 0x2e7n; // x87, SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM, PKRU

/** CPUID leaf 0xD subleaves 2..9 as [eax size, ebx offset, ecx, edx]. */
const ZEN4: Record<number, number[]> = {
  2: [256, 576, 0, 0],
  5: [64, 0x340, 0, 0],
  6: [512, 0x380, 0, 0],
  7: [1024, 0x580, 0, 0],
  9: [8, 0x980, 0, 0],
  11: [16, 0, 1, 0],
};
const SKYLAKE_SP: Record<number, number[]> = {
  2: [256, 576, 0, 0],
  3: [64, 960, 0, 0],
  4: [64, 1024, 0, 0],
  5: [64, 1088, 0, 0],
  6: [512, 1152, 0, 0],
  7: [1024, 1664, 0, 0],
  9: [8, 2688, 0, 0],
};
const cpuid = (table: Record<number, number[]>) => (i: number) => table[i] ?? [0, 0, 0, 0];
const places = (l: { components: readonly { feature: number; offset: number; size: number }[] }) => l.components.map((c) => [c.feature, c.offset, c.size]);

t.test('this CPU: the layout matches /proc/cpuinfo and the kernel regset', async (t) => {
  const layout = hostXsaveLayout();
  const flags = new Set(/^flags\s*:(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))![1]!.trim().split(/\s+/));
  t.ok(layout, 'XSAVE is on');
  const has = (f: number) => layout!.components.some((c) => c.feature === f);
  t.equal(has(Xfeature.AVX), flags.has('avx'), 'AVX as cpuinfo says');
  t.equal(has(Xfeature.OPMASK) && has(Xfeature.ZMM_HI256) && has(Xfeature.HI16_ZMM), flags.has('avx512f'), 'AVX-512 as cpuinfo says');
  t.equal(has(Xfeature.PKRU), flags.has('ospke'), 'PKRU as cpuinfo says (enabled by the OS)');
  t.equal(has(Xfeature.BNDREGS), flags.has('mpx'), 'MPX as cpuinfo says');
  // The kernel's NT_X86_XSTATE is exactly this long, and says the same XCR0.
  const tracee = Tracee.launch(fixture('exitcode'), ['0'], { stdio: ['inherit', 2, 'inherit'] });
  t.teardown(() => tracee.state === 'traced' && tracee.kill());
  const image = tracee.leader!.getXstate();
  t.equal(image.length, layout!.size, `the kernel's image is ${image.length} bytes, as CPUID says`);
  t.equal(image.readBigUInt64LE(XCR0_OFFSET), layout!.xcr0, "the image's XCR0 word is XGETBV's");
  tracee.kill();
});

t.test('layouts from other CPUs’ CPUID: Zen 4 moves AVX-512 and PKRU, supervisor components are left out', async (t) => {
  const zen4 = cpuidXsaveLayout(AVX512_PKRU | (1n << 11n), cpuid(ZEN4));
  t.same(places(zen4), [
    [2, 576, 256],
    [5, 0x340, 64],
    [6, 0x380, 512],
    [7, 0x580, 1024],
    [9, 0x980, 8],
  ]);
  t.equal(zen4.size, 0x988);
  const intel = cpuidXsaveLayout(AVX512_PKRU | 0x18n, cpuid(SKYLAKE_SP));
  t.same(places(intel), places(standardXsaveLayout(AVX512_PKRU | 0x18n)), "Skylake-SP's CPUID gives Intel's standard offsets");
  t.equal(intel.size, 2696);
  t.same(
    places(standardXsaveLayout(0x207n)),
    [
      [2, 576, 256],
      [9, 2688, 8],
    ],
    'standard: only what XCR0 enables',
  );
});

t.test('the NT_X86_XSAVE_LAYOUT note: encoded as the kernel does, read back, bad input refused or ignored', async (t) => {
  const zen4 = cpuidXsaveLayout(AVX512_PKRU, cpuid(ZEN4));
  const desc = encodeXsaveLayoutNote(zen4);
  t.equal(desc.length, 5 * 16);
  t.same(
    [desc.readUInt32LE(16), desc.readUInt32LE(20), desc.readUInt32LE(24), desc.readUInt32LE(28)],
    [5, 64, 0x340, 0],
    'opmask entry: {type, size, offset, flags}',
  );
  t.same(places(xsaveLayoutFromNote(desc, AVX512_PKRU)), places(zen4));
  const image = Buffer.alloc(0x988);
  image.writeBigUInt64LE(AVX512_PKRU, XCR0_OFFSET);
  const note = (d: Buffer) => ({ name: 'LINUX', type: NT_X86_XSAVE_LAYOUT, desc: d, offset: 1234 });
  t.same(places(coreXsaveLayout([note(desc)], image)!), places(zen4), "a core's layout comes from its note");
  t.equal(coreXsaveLayout([], image)!.source, 'standard', 'no note: Intel offsets, said so');
  t.equal(coreXsaveLayout([], undefined), null, 'no image: no layout');
  t.throws(() => coreXsaveLayout([note(desc.subarray(0, 20))], image), CoreFormatError, 'a note of broken entries is a format error');
  const wrongSize = Buffer.from(desc);
  wrongSize.writeUInt32LE(4, 20); // opmask claiming 4 bytes
  wrongSize.writeUInt32LE(100, 8); // AVX inside the legacy area
  t.same(
    places(xsaveLayoutFromNote(wrongSize, AVX512_PKRU)).map(([f]) => f),
    [6, 7, 9],
    'entries with impossible sizes or offsets are left out, not read past',
  );
});

t.test('images moved between layouts keep every register; what the target cannot hold is dropped from XSTATE_BV and XCR0', async (t) => {
  const zen4 = cpuidXsaveLayout(AVX512_PKRU, cpuid(ZEN4));
  const standard = standardXsaveLayout(AVX512_PKRU);
  const image = Buffer.alloc(zen4.size);
  for (let i = 0; i < image.length; i++) image[i] = (i * 7) & 0xff;
  image.writeBigUInt64LE(AVX512_PKRU, XCR0_OFFSET);
  image.writeBigUInt64LE(AVX512_PKRU, XSTATE_BV_OFFSET);
  const moved = relayoutXstate(image, zen4, standard);
  t.equal(moved.length, 2696);
  t.same(decodeVectorRegisters(moved, standard), decodeVectorRegisters(image, zen4), 'the same registers in both layouts');
  t.same(relayoutXstate(moved, standard, zen4), image, 'and back, byte for byte');
  const avxOnly = standardXsaveLayout(0x7n);
  const narrowed = relayoutXstate(image, zen4, avxOnly);
  t.equal(narrowed.length, 832);
  t.equal(narrowed.readBigUInt64LE(XCR0_OFFSET), 0x7n);
  t.equal(narrowed.readBigUInt64LE(XSTATE_BV_OFFSET), 0x7n);

  // A component in its initial state reads as zeros, whatever bytes sit there.
  const init = Buffer.from(image);
  init.writeBigUInt64LE(AVX512_PKRU & ~(1n << 7n), XSTATE_BV_OFFSET);
  const v = decodeVectorRegisters(init, zen4);
  t.same(v.zmm[20], Buffer.alloc(64), 'Hi16_ZMM in its initial state: zmm16-31 are zero');
  t.notSame(v.zmm[3], Buffer.alloc(64));
});

t.test("gdbsock's description follows the layout: AVX-512 and PKRU only where present, at the layout's offsets", async (t) => {
  const zen4 = cpuidXsaveLayout(AVX512_PKRU, cpuid(ZEN4));
  const full = x86_64Layout(zen4);
  const xml = full.xml.get('target.xml')!;
  for (const feature of ['avx', 'avx512', 'pkeys']) t.match(xml, `<feature name="org.gnu.gdb.i386.${feature}">`);
  t.notMatch(xml, 'org.gnu.gdb.i386.mpx', 'no MPX on Zen 4');
  const names = full.registers.map((r) => r.name);
  t.ok(['zmm31h', 'k7', 'xmm31', 'ymm16h', 'pkru'].every((n) => names.includes(n)));
  const avxOnly = x86_64Layout(cpuidXsaveLayout(0x7n, cpuid(ZEN4)));
  t.notMatch(avxOnly.xml.get('target.xml')!, /avx512|pkeys|zmm|<reg name="k0"/, 'an AVX-only CPU describes no AVX-512 or PKRU register');
  t.equal(
    x86_64Layout(null).registers.some((r) => r.name === 'ymm0h'),
    false,
    'no XSAVE image: no AVX',
  );
  t.equal(x86_64Layout(zen4), full, 'one layout object per distinct XSAVE layout');

  // k3 written through the layout lands at Zen 4's opmask offset and sets its XSTATE_BV bit.
  const image = Buffer.alloc(zen4.size);
  image.writeBigUInt64LE(AVX512_PKRU, XCR0_OFFSET);
  const regsets = { gpr: {}, fxsave: Buffer.alloc(512), xstate: image };
  const k3 = names.indexOf('k3');
  t.equal(full.decode(regsets, k3, Buffer.from('a55a000000000000', 'hex')), 'xstate');
  t.equal(image.readBigUInt64LE(0x340 + 24), 0x5aa5n);
  t.equal(image.readBigUInt64LE(XSTATE_BV_OFFSET), 1n << 5n);
  t.same(full.encode(regsets, k3), Buffer.from('a55a000000000000', 'hex'));
  t.same(full.encode(regsets, names.indexOf('zmm3h')), Buffer.alloc(32), 'ZMM_Hi256 still in its initial state: zeros');
});
