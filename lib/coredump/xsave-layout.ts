/**
 * NT_X86_XSAVE_LAYOUT (0x205): where each extended XSAVE component sits in
 * the NT_X86_XSTATE image, so readers need not guess from the CPU. The
 * kernel appends it after all thread notes (arch/x86/kernel/fpu/xstate.c,
 * elf_coredump_extra_notes_write): one {type, size, offset, flags} of u32
 * per enabled user feature from AVX up.
 */
const NT_X86_XSAVE_LAYOUT = 0x205;

/** Offset of XCR0 in the software-reserved bytes of a ptrace/core XSAVE image (asm/user.h). */
const XCR0_OFFSET = 464;

/**
 * The non-compacted (standard) XSAVE format's offsets and sizes, as CPUID
 * leaf 0xD reports them (Intel SDM vol. 1, 13.4.3); AMD uses the same.
 */
const COMPONENTS: Record<number, { offset: number; size: number }> = {
  2: { offset: 576, size: 256 }, // AVX (YMM upper halves)
  3: { offset: 960, size: 64 }, // MPX bound registers
  4: { offset: 1024, size: 64 }, // MPX bound config and status
  5: { offset: 1088, size: 64 }, // AVX-512 opmask
  6: { offset: 1152, size: 512 }, // AVX-512 ZMM_Hi256
  7: { offset: 1664, size: 1024 }, // AVX-512 Hi16_ZMM
  9: { offset: 2688, size: 8 }, // PKRU
  17: { offset: 2752, size: 64 }, // AMX tile config
  18: { offset: 2816, size: 8192 }, // AMX tile data
};

export function xsaveLayoutNote(xstate: Buffer): { name: string; type: number; desc: Buffer } | undefined {
  if (xstate.length < XCR0_OFFSET + 8) return undefined;
  const xcr0 = xstate.readBigUInt64LE(XCR0_OFFSET);
  const entries: number[][] = [];
  for (const [bit, c] of Object.entries(COMPONENTS)) {
    if (((xcr0 >> BigInt(bit)) & 1n) === 0n || c.offset + c.size > xstate.length) continue;
    entries.push([Number(bit), c.size, c.offset, 0]);
  }
  if (entries.length === 0) return undefined;
  const desc = Buffer.alloc(entries.length * 16);
  entries.forEach((e, i) => e.forEach((v, j) => desc.writeUInt32LE(v, i * 16 + j * 4)));
  return { name: 'LINUX', type: NT_X86_XSAVE_LAYOUT, desc };
}
