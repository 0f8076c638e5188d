/** struct ptrace_syscall_info (include/uapi/linux/ptrace.h), from PTRACE_GET_SYSCALL_INFO. */
export type SyscallInfo =
  | { op: 'entry'; arch: number; pc: bigint; sp: bigint; nr: number; args: bigint[] }
  | { op: 'exit'; arch: number; pc: bigint; sp: bigint; rval: bigint; isError: boolean }
  | { op: 'seccomp'; arch: number; pc: bigint; sp: bigint; nr: number; args: bigint[]; retData: number }
  | { op: 'none'; arch: number; pc: bigint; sp: bigint };

/** op, pad, arch, pc, sp, then the union: nr + 6 args + ret_data is the largest member. */
export const SYSCALL_INFO_SIZE = 88;

const OPS = ['none', 'entry', 'exit', 'seccomp'] as const;

export function decodeSyscallInfo(raw: Buffer): SyscallInfo {
  const head = {
    arch: raw.readUInt32LE(4),
    pc: raw.readBigUInt64LE(8),
    sp: raw.readBigUInt64LE(16),
  };
  const op = OPS[raw.readUInt8(0)] ?? 'none';
  const args = () => Array.from({ length: 6 }, (_, i) => raw.readBigUInt64LE(32 + i * 8));
  switch (op) {
    case 'entry':
      return { op, ...head, nr: Number(raw.readBigUInt64LE(24)), args: args() };
    case 'exit':
      return { op, ...head, rval: raw.readBigInt64LE(24), isError: raw.readUInt8(32) !== 0 };
    case 'seccomp':
      return { op, ...head, nr: Number(raw.readBigUInt64LE(24)), args: args(), retData: raw.readUInt32LE(80) };
    default:
      return { op: 'none', ...head };
  }
}
