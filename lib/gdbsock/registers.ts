/**
 * gdb's view of a thread's registers: the order and sizes of the `g` packet,
 * the register numbers of `p`/`P`, and the target description (target.xml)
 * that tells gdb both. Built from the kernel's regsets, so live and core
 * targets share it: NT_PRSTATUS words, the FXSAVE image and the XSAVE image,
 * whose components sit where the thread's XsaveLayout says (the CPU's own
 * offsets for a live thread, the core's note for a core).
 */
import { XSTATE_BV_OFFSET, Xfeature, type XsaveLayout, componentOf, standardXsaveLayout } from '../ptrace/arch/xsave';

/**
 * Whether XSTATE_BV marks `feature` as in use (not in its initial state).
 * Every x86 state component is numbered below 32, so the low word holds its
 * bit: a number test, where a BigInt one costs microseconds until V8 optimizes
 * it, for each of the hundred-odd registers a G writes.
 */
function inUse(xstate: Buffer, feature: number): boolean {
  return ((xstate.readUInt32LE(XSTATE_BV_OFFSET) >>> feature) & 1) === 1;
}

/** Which of a thread's regsets a register lives in. */
export type Regset = 'gpr' | 'fxsave' | 'xstate';

export interface Regsets {
  /** General registers by user_regs_struct name. */
  gpr: Record<string, bigint>;
  /** 512-byte FXSAVE image (NT_PRFPREG). */
  fxsave: Buffer;
  /** XSAVE image (NT_X86_XSTATE), when the CPU has one. */
  xstate?: Buffer;
}

/** Where a register's bytes live in the kernel's regsets. */
export type RegisterSource =
  /** A word of user_regs_struct (the value is the word, or its low 32 bits). */
  | { kind: 'gpr' }
  /** Bytes copied as they are from the FXSAVE image (st0-7, xmm0-15). */
  | { kind: 'fxsave'; offset: number }
  /** An x87 or SSE control register, converted to and from its FXSAVE field. */
  | { kind: 'fpu-control' }
  /** Bytes at `offset` within an XSAVE state component, wherever the layout puts it. */
  | { kind: 'xstate'; feature: number; offset: number };

export interface RegisterDef {
  name: string;
  /** Size in bytes on the wire. */
  size: number;
  /** tdesc type name. */
  type: string;
  feature: string;
  group?: string;
  source: RegisterSource;
}

export interface RegisterLayout {
  readonly arch: string;
  readonly registers: readonly RegisterDef[];
  /**
   * Registers sent in every stop reply. gdbserver sends the frame pointer,
   * stack pointer and pc, and gdb then asks for the rest with `g` at nearly
   * every stop (to print a frame's arguments, say); sending every general
   * register saves that round trip and costs a few hundred bytes.
   */
  readonly expedited: readonly number[];
  /**
   * Registers sent when a step (or range step) ends: only the frame pointer,
   * stack pointer and pc, as gdbserver sends. gdb does not ask for the rest
   * between steps, so a full set would be bytes to build and parse for nothing.
   */
  readonly expeditedAfterStep: readonly number[];
  readonly pcRegno: number;
  /** Total size of a `g` reply in bytes. */
  readonly gSize: number;
  /** Where each register starts in a `g` block (the sizes of those before it), and gSize last. */
  readonly offsets: readonly number[];
  /** The bytes of one register. */
  encode(regsets: Regsets, regno: number): Buffer;
  /** Every register, the `g` reply's bytes. */
  encodeAll(regsets: Regsets): Buffer;
  /** Writes one register's bytes at out[at]. */
  encodeInto(regsets: Regsets, regno: number, out: Buffer, at: number): void;
  /** Writes one register into the regsets; says which regset changed. */
  decode(regsets: Regsets, regno: number, value: Buffer): Regset;
  /** target.xml and the feature documents it includes, by annex name. */
  readonly xml: ReadonlyMap<string, string>;
}

const GPR64 = ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'];
const SEGMENTS = ['cs', 'ss', 'ds', 'es', 'fs', 'gs'];
/** Registers that are plain words of user_regs_struct (the value is the word, or its low 32 bits). */
const GPR_WORDS = new Set([...GPR64, 'rip', 'eflags', ...SEGMENTS]);
const X87_CONTROL = ['fctrl', 'fstat', 'ftag', 'fiseg', 'fioff', 'foseg', 'fooff', 'fop'];

/** FXSAVE offsets (Intel SDM vol. 1, table 10-2, 64-bit format). */
const FX = { fcw: 0, fsw: 2, ftw: 4, fop: 6, fip: 8, fcs: 12, fdp: 16, fds: 20, mxcsr: 24, st: 32, xmm: 160 };

/** gdb's feature names ("Standard Target Features", i386 features in the GDB manual). */
const FEATURE = {
  core: 'org.gnu.gdb.i386.core',
  sse: 'org.gnu.gdb.i386.sse',
  linux: 'org.gnu.gdb.i386.linux',
  segments: 'org.gnu.gdb.i386.segments',
  avx: 'org.gnu.gdb.i386.avx',
  mpx: 'org.gnu.gdb.i386.mpx',
  avx512: 'org.gnu.gdb.i386.avx512',
  pkeys: 'org.gnu.gdb.i386.pkeys',
} as const;

const has = (xsave: XsaveLayout | null, ...features: number[]) => features.every((f) => xsave && componentOf(xsave, f));

/**
 * gdb's x86-64 registers for a thread whose XSAVE image has `xsave`'s
 * components, in gdbserver's order: the features present decide the
 * registers, so a register the CPU lacks is never described.
 */
function x86_64Registers(xsave: XsaveLayout | null): RegisterDef[] {
  const gpr: RegisterSource = { kind: 'gpr' };
  const control: RegisterSource = { kind: 'fpu-control' };
  const xs = (feature: number, offset: number): RegisterSource => ({ kind: 'xstate', feature, offset });
  const defs: RegisterDef[] = [];
  for (const name of GPR64) {
    const type = name === 'rbp' || name === 'rsp' ? 'data_ptr' : 'int64';
    defs.push({ name, size: 8, type, feature: FEATURE.core, source: gpr });
  }
  defs.push({ name: 'rip', size: 8, type: 'code_ptr', feature: FEATURE.core, source: gpr });
  defs.push({ name: 'eflags', size: 4, type: 'i386_eflags', feature: FEATURE.core, source: gpr });
  for (const name of SEGMENTS) defs.push({ name, size: 4, type: 'int32', feature: FEATURE.core, source: gpr });
  for (let i = 0; i < 8; i++)
    defs.push({ name: `st${i}`, size: 10, type: 'i387_ext', feature: FEATURE.core, source: { kind: 'fxsave', offset: FX.st + i * 16 } });
  for (const name of X87_CONTROL) defs.push({ name, size: 4, type: 'int', feature: FEATURE.core, group: 'float', source: control });
  for (let i = 0; i < 16; i++)
    defs.push({ name: `xmm${i}`, size: 16, type: 'vec128', feature: FEATURE.sse, source: { kind: 'fxsave', offset: FX.xmm + i * 16 } });
  defs.push({ name: 'mxcsr', size: 4, type: 'i386_mxcsr', feature: FEATURE.sse, group: 'vector', source: control });
  defs.push({ name: 'orig_rax', size: 8, type: 'int', feature: FEATURE.linux, group: 'system', source: gpr });
  defs.push({ name: 'fs_base', size: 8, type: 'int', feature: FEATURE.segments, source: gpr });
  defs.push({ name: 'gs_base', size: 8, type: 'int', feature: FEATURE.segments, source: gpr });
  if (has(xsave, Xfeature.AVX)) {
    for (let i = 0; i < 16; i++) defs.push({ name: `ymm${i}h`, size: 16, type: 'uint128', feature: FEATURE.avx, source: xs(Xfeature.AVX, i * 16) });
  }
  if (has(xsave, Xfeature.BNDREGS, Xfeature.BNDCSR)) {
    // BNDREGS: bnd0-3 as {lower, upper} pairs of 64 bits; BNDCSR: BNDCFGU then BNDSTATUS (SDM vol. 1, 13.5.4).
    for (let i = 0; i < 4; i++) defs.push({ name: `bnd${i}raw`, size: 16, type: 'br128', feature: FEATURE.mpx, source: xs(Xfeature.BNDREGS, i * 16) });
    defs.push({ name: 'bndcfgu', size: 8, type: 'uint64', feature: FEATURE.mpx, source: xs(Xfeature.BNDCSR, 0) });
    defs.push({ name: 'bndstatus', size: 8, type: 'uint64', feature: FEATURE.mpx, source: xs(Xfeature.BNDCSR, 8) });
  }
  if (has(xsave, Xfeature.AVX, Xfeature.OPMASK, Xfeature.ZMM_HI256, Xfeature.HI16_ZMM)) {
    // Hi16_ZMM holds zmm16-31 whole, 64 bytes each: gdb splits each into xmm, ymm's upper half and zmm's upper half.
    for (let i = 0; i < 16; i++) defs.push({ name: `xmm${i + 16}`, size: 16, type: 'vec128', feature: FEATURE.avx512, source: xs(Xfeature.HI16_ZMM, i * 64) });
    for (let i = 0; i < 16; i++)
      defs.push({ name: `ymm${i + 16}h`, size: 16, type: 'uint128', feature: FEATURE.avx512, source: xs(Xfeature.HI16_ZMM, i * 64 + 16) });
    for (let i = 0; i < 8; i++) defs.push({ name: `k${i}`, size: 8, type: 'uint64', feature: FEATURE.avx512, source: xs(Xfeature.OPMASK, i * 8) });
    for (let i = 0; i < 16; i++) defs.push({ name: `zmm${i}h`, size: 32, type: 'v2ui128', feature: FEATURE.avx512, source: xs(Xfeature.ZMM_HI256, i * 32) });
    for (let i = 0; i < 16; i++)
      defs.push({ name: `zmm${i + 16}h`, size: 32, type: 'v2ui128', feature: FEATURE.avx512, source: xs(Xfeature.HI16_ZMM, i * 64 + 32) });
  }
  if (has(xsave, Xfeature.PKRU)) defs.push({ name: 'pkru', size: 4, type: 'uint32', feature: FEATURE.pkeys, source: xs(Xfeature.PKRU, 0) });
  return defs;
}

/** The full x87 tag word from FXSAVE's abridged one (SDM vol. 1, 10.5.1.1): 0 valid, 1 zero, 2 special, 3 empty. */
function fullTagWord(fx: Buffer): number {
  const abridged = fx[FX.ftw]!;
  const top = (fx.readUInt16LE(FX.fsw) >> 11) & 7;
  let tags = 0;
  for (let physical = 0; physical < 8; physical++) {
    let tag = 3;
    if (abridged & (1 << physical)) {
      const st = (physical - top + 8) % 8;
      const base = FX.st + st * 16;
      const exponent = fx.readUInt16LE(base + 8) & 0x7fff;
      const mantissa = fx.readBigUInt64LE(base);
      if (exponent === 0x7fff) tag = 2;
      else if (exponent === 0) tag = mantissa === 0n ? 1 : 2;
      else tag = mantissa >> 63n ? 0 : 2;
    }
    tags |= tag << (physical * 2);
  }
  return tags;
}

function abridgedTag(full: number): number {
  let out = 0;
  for (let i = 0; i < 8; i++) if (((full >> (i * 2)) & 3) !== 3) out |= 1 << i;
  return out;
}

function buildLayout(xsave: XsaveLayout | null): RegisterLayout {
  const registers = x86_64Registers(xsave);
  const index = new Map(registers.map((r, i) => [r.name, i]));
  const at = (name: string) => index.get(name)!;
  /** Each xstate register's byte offset in the image, resolved once from the layout. */
  const imageOffset = registers.map((r) => (r.source.kind === 'xstate' ? componentOf(xsave!, r.source.feature)!.offset + r.source.offset : -1));

  function encode(rs: Regsets, regno: number): Buffer {
    const def = registers[regno];
    if (!def) throw new RangeError(`no register ${regno}`);
    const out = Buffer.alloc(def.size);
    encodeInto(rs, regno, out, 0);
    return out;
  }

  /** Writes register `regno`'s wire bytes at out[at]: straight from the regsets, nothing allocated. */
  function encodeInto(rs: Regsets, regno: number, out: Buffer, at: number): void {
    const def = registers[regno]!;
    const fx = rs.fxsave;
    const source = def.source;
    if (source.kind === 'fxsave') {
      fx.copy(out, at, source.offset, source.offset + def.size);
      return;
    }
    if (source.kind === 'xstate') {
      // A component in its initial state (XSTATE_BV bit clear) has no bytes of its own: zeros.
      const xs = rs.xstate;
      const from = imageOffset[regno]!;
      if (!xs || xs.length < from + def.size || !inUse(xs, source.feature)) out.fill(0, at, at + def.size);
      else xs.copy(out, at, from, from + def.size);
      return;
    }
    switch (def.name) {
      case 'fctrl':
        return void out.writeUInt32LE(fx.readUInt16LE(FX.fcw), at);
      case 'fstat':
        return void out.writeUInt32LE(fx.readUInt16LE(FX.fsw), at);
      case 'ftag':
        return void out.writeUInt32LE(fullTagWord(fx), at);
      case 'fiseg':
        return void out.writeUInt32LE(fx.readUInt16LE(FX.fcs), at);
      case 'fioff':
        return void out.writeUInt32LE(fx.readUInt32LE(FX.fip), at);
      case 'foseg':
        return void out.writeUInt32LE(fx.readUInt16LE(FX.fds), at);
      case 'fooff':
        return void out.writeUInt32LE(fx.readUInt32LE(FX.fdp), at);
      case 'fop':
        return void out.writeUInt32LE(fx.readUInt16LE(FX.fop) & 0x7ff, at);
      case 'mxcsr':
        return void out.writeUInt32LE(fx.readUInt32LE(FX.mxcsr), at);
    }
    const value = rs.gpr[def.name] ?? 0n;
    if (def.size === 4) out.writeUInt32LE(Number(BigInt.asUintN(32, value)), at);
    else out.writeBigUInt64LE(BigInt.asUintN(64, value), at);
  }

  function decode(rs: Regsets, regno: number, value: Buffer): Regset {
    const def = registers[regno];
    if (!def) throw new RangeError(`no register ${regno}`);
    if (value.length !== def.size) throw new RangeError(`register ${def.name} is ${def.size} bytes, got ${value.length}`);
    const fx = rs.fxsave;
    const source = def.source;
    if (source.kind === 'fxsave') {
      value.copy(fx, source.offset);
      return 'fxsave';
    }
    if (source.kind === 'xstate') {
      const xs = rs.xstate;
      const to = imageOffset[regno]!;
      if (!xs || xs.length < to + def.size) throw new RangeError(`this thread's XSAVE image has no room for ${def.name}`);
      // Leaving the initial state: the component's other bytes must read as its initial value, zeros.
      if (!inUse(xs, source.feature)) {
        const c = componentOf(xsave!, source.feature)!;
        xs.fill(0, c.offset, c.offset + c.size);
        xs.writeUInt32LE((xs.readUInt32LE(XSTATE_BV_OFFSET) | (1 << source.feature)) >>> 0, XSTATE_BV_OFFSET);
      }
      value.copy(xs, to);
      return 'xstate';
    }
    const v32 = value.length === 4 ? value.readUInt32LE(0) : 0;
    switch (def.name) {
      case 'fctrl':
        fx.writeUInt16LE(v32 & 0xffff, FX.fcw);
        return 'fxsave';
      case 'fstat':
        fx.writeUInt16LE(v32 & 0xffff, FX.fsw);
        return 'fxsave';
      case 'ftag':
        fx[FX.ftw] = abridgedTag(v32);
        return 'fxsave';
      case 'fiseg':
        fx.writeUInt16LE(v32 & 0xffff, FX.fcs);
        return 'fxsave';
      case 'fioff':
        fx.writeUInt32LE(v32, FX.fip);
        return 'fxsave';
      case 'foseg':
        fx.writeUInt16LE(v32 & 0xffff, FX.fds);
        return 'fxsave';
      case 'fooff':
        fx.writeUInt32LE(v32, FX.fdp);
        return 'fxsave';
      case 'fop':
        fx.writeUInt16LE(v32 & 0x7ff, FX.fop);
        return 'fxsave';
      case 'mxcsr':
        fx.writeUInt32LE(v32, FX.mxcsr);
        return 'fxsave';
    }
    rs.gpr[def.name] = value.length === 4 ? BigInt(v32) : value.readBigUInt64LE(0);
    return 'gpr';
  }

  const offsets = [0];
  for (const r of registers) offsets.push(offsets[offsets.length - 1]! + r.size);
  const gSize = offsets[registers.length]!;
  let xml: Map<string, string> | undefined;

  /** One buffer written in place: gdb asks for this at most stops. */
  function encodeAll(rs: Regsets): Buffer {
    const out = Buffer.allocUnsafe(gSize);
    for (let i = 0; i < registers.length; i++) encodeInto(rs, i, out, offsets[i]!);
    return out;
  }

  return {
    arch: 'i386:x86-64',
    registers,
    encodeAll,
    expedited: registers.flatMap((r, i) => (GPR_WORDS.has(r.name) || r.name === 'orig_rax' || r.name.endsWith('_base') ? [i] : [])),
    expeditedAfterStep: [at('rbp'), at('rsp'), at('rip')],
    pcRegno: at('rip'),
    gSize,
    offsets,
    encode,
    encodeInto,
    decode,
    // Written when gdb first asks (qXfer:features): no start-up time spent on it.
    get xml() {
      xml ??= describe(registers);
      return xml;
    },
  };
}

/** Feature documents per the GDB manual, "Target Descriptions" and "Standard Target Features". */
/** The 128-bit vector union of xmm registers; types are per feature, so every feature with xmm registers defines it. */
const VEC128 = `  <vector id="v8bf16" type="bfloat16" count="8"/>
  <vector id="v8h" type="ieee_half" count="8"/>
  <vector id="v4f" type="ieee_single" count="4"/>
  <vector id="v2d" type="ieee_double" count="2"/>
  <vector id="v16i8" type="int8" count="16"/>
  <vector id="v8i16" type="int16" count="8"/>
  <vector id="v4i32" type="int32" count="4"/>
  <vector id="v2i64" type="int64" count="2"/>
  <union id="vec128">
    <field name="v8_bfloat16" type="v8bf16"/>
    <field name="v8_half" type="v8h"/>
    <field name="v4_float" type="v4f"/>
    <field name="v2_double" type="v2d"/>
    <field name="v16_int8" type="v16i8"/>
    <field name="v8_int16" type="v8i16"/>
    <field name="v4_int32" type="v4i32"/>
    <field name="v2_int64" type="v2i64"/>
    <field name="uint128" type="uint128"/>
  </union>
`;

function describe(registers: RegisterDef[]): Map<string, string> {
  const types: Record<string, string> = {
    'org.gnu.gdb.i386.core': `  <flags id="i386_eflags" size="4">
${['CF', '', 'PF', 'AF', 'ZF', 'SF', 'TF', 'IF', 'DF', 'OF', 'NT', 'RF', 'VM', 'AC', 'VIF', 'VIP', 'ID']
  .map((n, i) => ({ n, bit: [0, 1, 2, 4, 6, 7, 8, 9, 10, 11, 14, 16, 17, 18, 19, 20, 21][i]! }))
  .map(({ n, bit }) => `    <field name="${n}" start="${bit}" end="${bit}"/>`)
  .join('\n')}
  </flags>
`,
    'org.gnu.gdb.i386.sse': `${VEC128}  <flags id="i386_mxcsr" size="4">
${['IE', 'DE', 'ZE', 'OE', 'UE', 'PE', 'DAZ', 'IM', 'DM', 'ZM', 'OM', 'UM', 'PM', 'FZ']
  .map((n, i) => `    <field name="${n}" start="${i === 13 ? 15 : i}" end="${i === 13 ? 15 : i}"/>`)
  .join('\n')}
  </flags>
`,
    [FEATURE.mpx]: `  <struct id="br128">
    <field name="lbound" type="uint64"/>
    <field name="ubound_raw" type="uint64"/>
  </struct>
`,
    [FEATURE.avx512]: `${VEC128}  <vector id="v2ui128" type="uint128" count="2"/>
`,
  };
  // Features are inlined rather than xi:included: one document, fewer round trips.
  const features = [...new Set(registers.map((r) => r.feature))];
  let regnum = 0;
  const body = features.map((feature) => {
    const regs = registers
      .map((r, i) => ({ r, i }))
      .filter(({ r }) => r.feature === feature)
      .map(({ r, i }) => {
        const group = r.group ? ` group="${r.group}"` : '';
        const num = i === regnum ? '' : ` regnum="${i}"`;
        regnum = i + 1;
        return `    <reg name="${r.name}" bitsize="${r.size * 8}" type="${r.type}"${group}${num}/>`;
      });
    return `  <feature name="${feature}">\n${types[feature] ?? ''}${regs.join('\n')}\n  </feature>`;
  });
  const files = new Map<string, string>();
  files.set(
    'target.xml',
    `<?xml version="1.0"?>\n<!DOCTYPE target SYSTEM "gdb-target.dtd">\n<target>\n  <architecture>i386:x86-64</architecture>\n  <osabi>GNU/Linux</osabi>\n${body.join('\n')}\n</target>\n`,
  );
  return files;
}

const layouts = new Map<string, RegisterLayout>();

/** x87, SSE and AVX: what a target that reads no XSAVE image of a thread (the kernel target) describes. */
const AVX_ONLY = standardXsaveLayout(0b111n);

/**
 * The register layout gdb uses for an x86_64 Linux thread whose XSAVE image
 * is laid out as `xsave` says (null: the thread has none, so no AVX and up).
 * One layout per distinct XSAVE layout, shared by every target that has it.
 */
export function x86_64Layout(xsave: XsaveLayout | null = AVX_ONLY): RegisterLayout {
  const key = xsave ? `${xsave.xcr0}:${xsave.components.map((c) => `${c.feature}@${c.offset}+${c.size}`).join(',')}` : 'none';
  let layout = layouts.get(key);
  if (!layout) {
    layout = buildLayout(xsave);
    layouts.set(key, layout);
  }
  return layout;
}
