/**
 * The syscalls each family covers, per architecture (arch/x86/entry/syscalls/
 * syscall_64.tbl and syscall_32.tbl; include/uapi/asm-generic/unistd.h for aarch64),
 * and the AUDIT_ARCH_* values seccomp reports (linux/audit.h).
 */

export const AuditArch = {
  X86_64: 0xc000003e,
  I386: 0x40000003,
  AARCH64: 0xc00000b7,
} as const;

/** x32 syscalls are x86_64 numbers with this bit set (arch/x86/include/uapi/asm/unistd.h). */
export const X32_SYSCALL_BIT = 0x40000000;

/** CLONE_THREAD (linux/sched.h): the only kind of clone a fork lock lets through. */
export const CLONE_THREAD = 0x00010000;

export type Family = 'fork' | 'exec' | 'ptrace';

export interface ArchTable {
  name: string;
  audit: number;
  /** x86_64 only: numbers with X32_SYSCALL_BIT must be refused. */
  hasX32: boolean;
  /** Process creation other than clone; clone and clone3 are handled apart. */
  fork: number[];
  clone: number;
  clone3: number;
  /** execve, then execveat. */
  exec: number[];
  ptrace: number[];
  names: Record<number, string>;
}

const x86_64: ArchTable = {
  name: 'x86_64',
  audit: AuditArch.X86_64,
  hasX32: true,
  fork: [57, 58], // fork, vfork
  clone: 56,
  clone3: 435,
  exec: [59, 322], // execve, execveat
  ptrace: [101, 310, 311], // ptrace, process_vm_readv, process_vm_writev
  names: {
    56: 'clone',
    57: 'fork',
    58: 'vfork',
    59: 'execve',
    101: 'ptrace',
    310: 'process_vm_readv',
    311: 'process_vm_writev',
    322: 'execveat',
    435: 'clone3',
  },
};

const aarch64: ArchTable = {
  name: 'aarch64',
  audit: AuditArch.AARCH64,
  hasX32: false,
  fork: [], // only clone and clone3 exist
  clone: 220,
  clone3: 435,
  exec: [221, 281],
  ptrace: [117, 270, 271],
  names: { 117: 'ptrace', 220: 'clone', 221: 'execve', 270: 'process_vm_readv', 271: 'process_vm_writev', 281: 'execveat', 435: 'clone3' },
};

/** Names for the i386 calls a report may show (int 0x80 on x86_64). */
const i386Names: Record<number, string> = {
  2: 'fork',
  11: 'execve',
  26: 'ptrace',
  120: 'clone',
  190: 'vfork',
  347: 'process_vm_readv',
  348: 'process_vm_writev',
  358: 'execveat',
  435: 'clone3',
};
const I386_EXECVE = 11;
const I386_EXECVEAT = 358;

/** x32 calls by their number without X32_SYSCALL_BIT (arch/x86/entry/syscalls/syscall_64.tbl). */
const x32Names: Record<number, string> = { 520: 'execve', 545: 'execveat', 521: 'ptrace', 539: 'process_vm_readv', 540: 'process_vm_writev' };
const X32_EXECVE = 520;
const X32_EXECVEAT = 545;

/**
 * Where each exec-family call keeps its path and argv (argument indexes), for
 * the supervisor's reports; `initial` marks the calls the launcher's own
 * first exec may be: its arch's native execve, or execveat when the program
 * is run from the descriptor veriexec checked (--verify). The supervisor in
 * native/forkexec_supervisor.c gets this table and knows no numbers itself.
 */
export interface ExecCall {
  audit: number;
  nr: number;
  pathArg: number;
  argvArg: number;
  initial: boolean;
}

export function execCalls(): ExecCall[] {
  const execve = (audit: number, nr: number, initial = false): ExecCall => ({ audit, nr, pathArg: 0, argvArg: 1, initial });
  const execveat = (audit: number, nr: number, initial = false): ExecCall => ({ audit, nr, pathArg: 1, argvArg: 2, initial });
  return [
    ...[x86_64, aarch64].flatMap((t) => [execve(t.audit, t.exec[0]!, true), execveat(t.audit, t.exec[1]!, true)]),
    execve(AuditArch.X86_64, X32_SYSCALL_BIT | X32_EXECVE),
    execveat(AuditArch.X86_64, X32_SYSCALL_BIT | X32_EXECVEAT),
    execve(AuditArch.I386, I386_EXECVE),
    execveat(AuditArch.I386, I386_EXECVEAT),
  ];
}

/** execCalls() as supervisorStart takes it: (audit, nr, pathArg, argvArg, initial) per call. */
export function execCallTable(): Uint32Array {
  return Uint32Array.from(execCalls().flatMap((c) => [c.audit, c.nr, c.pathArg, c.argvArg, c.initial ? 1 : 0]));
}

export function archTable(arch: string = process.arch): ArchTable {
  if (arch === 'x64' || arch === 'x86_64') return x86_64;
  if (arch === 'arm64' || arch === 'aarch64') return aarch64;
  throw new RangeError(`hostkit/forkexec has no syscall table for ${arch}`);
}

/** A readable name for (arch, nr) as seccomp reports them: 'execve', 'i386 execve', 'x32 execve', 'syscall 999'. */
export function syscallName(audit: number, nr: number): string {
  if (audit === AuditArch.X86_64 && nr >= X32_SYSCALL_BIT) {
    const base = nr & ~X32_SYSCALL_BIT;
    return `x32 ${x32Names[base] ?? x86_64.names[base] ?? `syscall ${base}`}`;
  }
  if (audit === x86_64.audit) return x86_64.names[nr] ?? `syscall ${nr}`;
  if (audit === aarch64.audit) return aarch64.names[nr] ?? `syscall ${nr}`;
  if (audit === AuditArch.I386) return `i386 ${i386Names[nr] ?? `syscall ${nr}`}`;
  return `arch 0x${audit.toString(16)} syscall ${nr}`;
}

export function archName(audit: number): string {
  if (audit === AuditArch.X86_64) return 'x86_64';
  if (audit === AuditArch.I386) return 'i386';
  if (audit === AuditArch.AARCH64) return 'aarch64';
  return `0x${audit.toString(16)}`;
}
