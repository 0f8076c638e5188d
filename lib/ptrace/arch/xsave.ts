/**
 * Where each XSAVE state component sits in an NT_X86_XSTATE image (the
 * ptrace regset and the core note share the format: the standard,
 * non-compacted XSAVE layout, Intel SDM vol. 1, 13.4).
 *
 * The legacy area (x87, SSE: bytes 0-511) and the XSAVE header (512-575)
 * are fixed. Every component from AVX up sits where the CPU says, in CPUID
 * leaf 0xD, and CPUs disagree: Intel's parts with AVX-512 put the opmask at
 * 0x440 after MPX's two components, AMD's Zen 4 (no MPX) at 0x340; PKRU is
 * at 0xa80 on Intel and 0x980 on a Zen 3 without AVX-512. So a layout is
 * always read from somewhere (CPUID for the live host, the kernel's
 * NT_X86_XSAVE_LAYOUT note for a core) and only assumed, as Intel's, where
 * nothing says otherwise. This module is pure; lib/ptrace/cpu.ts asks the
 * host's CPU.
 */

/** XSAVE state-component numbers (the bit in XCR0 and XSTATE_BV) hostkit decodes. */
export const Xfeature = {
  X87: 0,
  SSE: 1,
  AVX: 2,
  BNDREGS: 3,
  BNDCSR: 4,
  OPMASK: 5,
  ZMM_HI256: 6,
  HI16_ZMM: 7,
  PKRU: 9,
} as const;

export interface XsaveComponent {
  readonly feature: number;
  readonly offset: number;
  readonly size: number;
}

export interface XsaveLayout {
  /** The user state components the image holds: XCR0 as the kernel reports it. */
  readonly xcr0: bigint;
  /** Components from AVX up that are in xcr0, by feature number, in offset order. */
  readonly components: readonly XsaveComponent[];
  /** Bytes of the whole image: the end of its last component (at least the legacy area and header). */
  readonly size: number;
  /** Who said so: the CPU (CPUID leaf 0xD), a core's NT_X86_XSAVE_LAYOUT note, or Intel's offsets by assumption. */
  readonly source: 'cpuid' | 'note' | 'standard';
}

/** Legacy area and XSAVE header: the first component from AVX up starts here. */
export const XSAVE_LEGACY_AND_HEADER = 576;
/** XSTATE_BV, the header's first word: a clear bit means the component is in its initial state (zeros here). */
export const XSTATE_BV_OFFSET = 512;
/** x87 and SSE: the legacy area, always present. */
const X87_AND_SSE = 0b11n;
/** XCR0 in the software-reserved bytes of the FXSAVE area (arch/x86/include/asm/user.h, USER_XSTATE_XCR0_WORD). */
export const XCR0_OFFSET = 464;
/** The core note the kernel writes since 6.7 (arch/x86/kernel/fpu/xstate.c): {type, size, offset, flags} u32s per component. */
export const NT_X86_XSAVE_LAYOUT = 0x205;

/**
 * Intel's offsets, which every Intel CPU to date reports in CPUID leaf 0xD.
 * Used only for a core that has no NT_X86_XSAVE_LAYOUT note (kernels before
 * 6.7 and gdb's gcore before 14 write none); gdb 13 assumes these for every
 * CPU, which is why snapshots are written in them (lib/coredump/snapshot.ts).
 */
const INTEL_OFFSETS: ReadonlyMap<number, { offset: number; size: number }> = new Map([
  [Xfeature.AVX, { offset: 576, size: 256 }],
  [Xfeature.BNDREGS, { offset: 960, size: 64 }],
  [Xfeature.BNDCSR, { offset: 1024, size: 64 }],
  [Xfeature.OPMASK, { offset: 1088, size: 64 }],
  [Xfeature.ZMM_HI256, { offset: 1152, size: 512 }],
  [Xfeature.HI16_ZMM, { offset: 1664, size: 1024 }],
  [Xfeature.PKRU, { offset: 2688, size: 8 }],
]);

/**
 * A component hostkit decodes must have its architectural size (the same on
 * every CPU; only offsets move): one that does not, in a crafted or corrupt
 * core, is left out rather than read past its end.
 */
function plausible(c: XsaveComponent): boolean {
  const known = INTEL_OFFSETS.get(c.feature);
  return c.offset >= XSAVE_LEGACY_AND_HEADER && (known === undefined || c.size === known.size);
}

function layoutOf(xcr0: bigint, components: XsaveComponent[], source: XsaveLayout['source']): XsaveLayout {
  const inXcr0 = components
    .filter((c) => c.feature >= Xfeature.AVX && c.feature < 64 && (xcr0 >> BigInt(c.feature)) & 1n && plausible(c))
    .sort((a, b) => a.offset - b.offset);
  const size = inXcr0.reduce((end, c) => Math.max(end, c.offset + c.size), XSAVE_LEGACY_AND_HEADER);
  return { xcr0, components: inXcr0, size, source };
}

/** Intel's layout for the components in xcr0 that hostkit knows (the others cannot be placed without being told). */
export function standardXsaveLayout(xcr0: bigint): XsaveLayout {
  const known = [...INTEL_OFFSETS].map(([feature, c]) => ({ feature, ...c }));
  return layoutOf(xcr0, known, 'standard');
}

/** A layout from CPUID leaf 0xD's subleaves: `subleaf(i)` is [eax = size, ebx = offset, ecx, edx]. */
export function cpuidXsaveLayout(xcr0: bigint, subleaf: (i: number) => ArrayLike<number> | null): XsaveLayout {
  const components: XsaveComponent[] = [];
  for (let feature = Xfeature.AVX; feature < 64; feature++) {
    if (!((xcr0 >> BigInt(feature)) & 1n)) continue;
    const regs = subleaf(feature);
    // ECX bit 0 marks a supervisor component (IA32_XSS): never in a user image.
    if (!regs || regs[0] === 0 || regs[2]! & 1) continue;
    components.push({ feature, size: regs[0]!, offset: regs[1]! });
  }
  return layoutOf(xcr0, components, 'cpuid');
}

/** The kernel's NT_X86_XSAVE_LAYOUT note: `{u32 type, size, offset, flags}` per component (struct x86_xfeat_component). */
export function xsaveLayoutFromNote(desc: Buffer, xcr0: bigint): XsaveLayout {
  if (desc.length % 16 !== 0) throw new RangeError(`NT_X86_XSAVE_LAYOUT of ${desc.length} bytes is not whole 16-byte entries`);
  const components: XsaveComponent[] = [];
  for (let at = 0; at < desc.length; at += 16) {
    components.push({ feature: desc.readUInt32LE(at), size: desc.readUInt32LE(at + 4), offset: desc.readUInt32LE(at + 8) });
  }
  return layoutOf(xcr0, components, 'note');
}

/** The NT_X86_XSAVE_LAYOUT payload describing `layout`, as the kernel writes it (flags 0). */
export function encodeXsaveLayoutNote(layout: XsaveLayout): Buffer {
  const desc = Buffer.alloc(layout.components.length * 16);
  layout.components.forEach((c, i) => {
    desc.writeUInt32LE(c.feature, i * 16);
    desc.writeUInt32LE(c.size, i * 16 + 4);
    desc.writeUInt32LE(c.offset, i * 16 + 8);
  });
  return desc;
}

/** XCR0 as the kernel stored it in the image's software-reserved bytes; 0 when the image is too short to say. */
export function xcr0Of(xstate: Buffer): bigint {
  return xstate.length >= XCR0_OFFSET + 8 ? xstate.readBigUInt64LE(XCR0_OFFSET) : 0n;
}

export function componentOf(layout: XsaveLayout, feature: number): XsaveComponent | undefined {
  return layout.components.find((c) => c.feature === feature);
}

/**
 * The bytes of one component of `xstate`, or undefined when it is in its
 * initial state (its XSTATE_BV bit clear: the CPU kept no bytes for it, and
 * its value is all zeros for every component decoded here) or the image
 * lacks it.
 */
export function componentBytes(xstate: Buffer, layout: XsaveLayout, feature: number): Buffer | undefined {
  const c = componentOf(layout, feature);
  if (!c || xstate.length < c.offset + c.size || xstate.length < XSTATE_BV_OFFSET + 8) return undefined;
  if (!((xstate.readBigUInt64LE(XSTATE_BV_OFFSET) >> BigInt(feature)) & 1n)) return undefined;
  return xstate.subarray(c.offset, c.offset + c.size);
}

/**
 * `xstate` moved from one layout to another: the legacy area and header as
 * they are, each component of `to` copied from where `from` has it (zeros,
 * with its XSTATE_BV bit cleared, where `from` lacks it), and the image as
 * long as `to` says.
 */
export function relayoutXstate(xstate: Buffer, from: XsaveLayout, to: XsaveLayout): Buffer {
  const out = Buffer.alloc(to.size);
  xstate.copy(out, 0, 0, Math.min(XSAVE_LEGACY_AND_HEADER, xstate.length));
  let xstateBv = out.readBigUInt64LE(XSTATE_BV_OFFSET);
  for (const c of to.components) {
    const source = componentOf(from, c.feature);
    if (source && source.size === c.size && xstate.length >= source.offset + source.size) {
      xstate.copy(out, c.offset, source.offset, source.offset + source.size);
    } else {
      xstateBv &= ~(1n << BigInt(c.feature));
    }
  }
  // A component the new layout cannot hold is dropped from XSTATE_BV and XCR0 as well as from the bytes:
  // gdb sizes the image from XCR0 and would call a shorter one too small.
  const kept = to.components.reduce((mask, c) => mask | (1n << BigInt(c.feature)), X87_AND_SSE);
  out.writeBigUInt64LE(xstateBv & kept, XSTATE_BV_OFFSET);
  out.writeBigUInt64LE(xcr0Of(xstate) & kept, XCR0_OFFSET);
  return out;
}

/** The vector, opmask and protection-key registers of an XSAVE image, by the names gdb gives them. */
export interface X86VectorRegisters {
  /** xmm0..xmm15 (and xmm16..xmm31 with AVX-512), 16 bytes each. */
  xmm: Buffer[];
  /** ymm0..ymm15 (..ymm31 with AVX-512), 32 bytes each, present with AVX. */
  ymm: Buffer[];
  /** zmm0..zmm31, 64 bytes each, present with AVX-512. */
  zmm: Buffer[];
  /** k0..k7, present with AVX-512. */
  k: bigint[];
  /** PKRU, present with protection keys. */
  pkru?: number;
}

/**
 * Decodes an XSAVE image in `layout`: the low 128 bits of ymm/zmm0-15 come
 * from the legacy area (xmm), the next 128 from AVX's component, the upper
 * 256 from ZMM_Hi256; zmm16-31 sit whole in Hi16_ZMM. A component in its
 * initial state reads as zeros.
 */
export function decodeVectorRegisters(xstate: Buffer, layout: XsaveLayout): X86VectorRegisters {
  const has = (f: number) => componentOf(layout, f) !== undefined;
  const bytes = (f: number) => componentBytes(xstate, layout, f) ?? Buffer.alloc(componentOf(layout, f)?.size ?? 0);
  const avx512 = has(Xfeature.OPMASK) && has(Xfeature.ZMM_HI256) && has(Xfeature.HI16_ZMM);
  const count = avx512 ? 32 : 16;
  const hi16 = avx512 ? bytes(Xfeature.HI16_ZMM) : undefined;
  const legacyXmm = (i: number) => Buffer.from(xstate.subarray(160 + i * 16, 176 + i * 16));
  const xmm = Array.from({ length: count }, (_, i) => (i < 16 ? legacyXmm(i) : Buffer.from(hi16!.subarray((i - 16) * 64, (i - 16) * 64 + 16))));
  const out: X86VectorRegisters = { xmm, ymm: [], zmm: [], k: [] };
  if (has(Xfeature.AVX)) {
    const ymmHigh = bytes(Xfeature.AVX);
    out.ymm = xmm.map((low, i) =>
      i < 16 ? Buffer.concat([low, ymmHigh.subarray(i * 16, i * 16 + 16)]) : Buffer.from(hi16!.subarray((i - 16) * 64, (i - 16) * 64 + 32)),
    );
  }
  if (avx512) {
    const zmmHigh = bytes(Xfeature.ZMM_HI256);
    out.zmm = out.ymm.map((low, i) =>
      i < 16 ? Buffer.concat([low, zmmHigh.subarray(i * 32, i * 32 + 32)]) : Buffer.from(hi16!.subarray((i - 16) * 64, (i - 16) * 64 + 64)),
    );
    const opmask = bytes(Xfeature.OPMASK);
    out.k = Array.from({ length: 8 }, (_, i) => opmask.readBigUInt64LE(i * 8));
  }
  if (has(Xfeature.PKRU)) out.pkru = bytes(Xfeature.PKRU).readUInt32LE(0);
  return out;
}
