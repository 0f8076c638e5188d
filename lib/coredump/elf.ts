/**
 * ELF64 numbers and struct sizes for core files (include/uapi/linux/elf.h,
 * the System V gABI, and fs/binfmt_elf.c for what Linux puts in a core).
 */
export const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]); // "\x7fELF"

export const ElfClass = { ELF64: 2 } as const;
export const ElfData = { LSB: 1 } as const;
export const ElfType = { EXEC: 2, DYN: 3, CORE: 4 } as const;
export const Machine = { X86_64: 62, AARCH64: 183 } as const;
export const EV_CURRENT = 1;

export const EHDR_SIZE = 64;
export const PHDR_SIZE = 56;
export const SHDR_SIZE = 64;

/** e_phnum says "look in section header 0's sh_info" (gABI, "Extended numbering"). */
export const PN_XNUM = 0xffff;

export const PType = { NULL: 0, LOAD: 1, DYNAMIC: 2, INTERP: 3, NOTE: 4, PHDR: 6 } as const;
export const PFlag = { X: 1, W: 2, R: 4 } as const;

/** Note types a Linux core carries (include/uapi/linux/elf.h). */
export const NoteType = {
  PRSTATUS: 1,
  PRFPREG: 2,
  PRPSINFO: 3,
  AUXV: 6,
  SIGINFO: 0x53494749, // "SIGI"
  FILE: 0x46494c45, // "FILE"
  X86_XSTATE: 0x202,
  X86_SHSTK: 0x204,
  ARM_TLS: 0x401,
  ARM_HW_BREAK: 0x402,
  ARM_HW_WATCH: 0x403,
  ARM_SYSTEM_CALL: 0x404,
  ARM_SVE: 0x405,
  ARM_PAC_MASK: 0x406,
  ARM_TAGGED_ADDR_CTRL: 0x409,
  ARM_PAC_ENABLED_KEYS: 0x40a,
} as const;

/** NT_GNU_BUILD_ID in a "GNU" note of an executable or library. */
export const NT_GNU_BUILD_ID = 3;

/**
 * The kernel names a note "CORE" when its type is one of the historic SVR4
 * ones and "LINUX" otherwise (fs/binfmt_elf.c, fill_thread_core_info).
 */
export function noteName(type: number): 'CORE' | 'LINUX' {
  const core: number[] = [NoteType.PRSTATUS, NoteType.PRFPREG, NoteType.PRPSINFO, NoteType.AUXV, NoteType.SIGINFO, NoteType.FILE];
  return core.includes(type) ? 'CORE' : 'LINUX';
}

/** The kernel aligns core data to ELF_EXEC_PAGESIZE; 4 KiB on both supported arches' default configs. */
export const CORE_PAGE_SIZE = 4096;

export function machineName(machine: number): string {
  if (machine === Machine.X86_64) return 'x86_64';
  if (machine === Machine.AARCH64) return 'aarch64';
  return `machine ${machine}`;
}
