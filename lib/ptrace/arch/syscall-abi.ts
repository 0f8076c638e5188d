/**
 * How a thread makes a system call, per architecture: which registers hold
 * the number, the arguments and the result, the instruction, and the numbers
 * of the calls hostkit makes in other processes (arch/x86/entry/syscalls/
 * syscall_64.tbl). aarch64 is kept apart and not filled in yet.
 */

export interface SyscallAbi {
  readonly nr: string;
  readonly args: readonly string[];
  readonly result: string;
  /**
   * The register that says "this thread is in a system call" to the kernel's
   * restart logic (orig_rax): -1 there means an interrupted call is not
   * restarted when the thread resumes (arch/x86/kernel/signal.c).
   */
  readonly inSyscall: string;
  /** The system call instruction; the pc is this far past it after the call. */
  readonly instruction: Buffer;
  readonly numbers: Readonly<Record<string, number>>;
}

export const x86_64Syscalls: SyscallAbi = {
  nr: 'rax',
  args: ['rdi', 'rsi', 'rdx', 'r10', 'r8', 'r9'],
  result: 'rax',
  inSyscall: 'orig_rax',
  instruction: Buffer.from([0x0f, 0x05]),
  numbers: {
    read: 0,
    write: 1,
    open: 2,
    close: 3,
    fstat: 5,
    lseek: 8,
    mmap: 9,
    mprotect: 10,
    munmap: 11,
    brk: 12,
    rt_sigaction: 13,
    rt_sigprocmask: 14,
    ioctl: 16,
    pread64: 17,
    pwrite64: 18,
    madvise: 28,
    dup: 32,
    dup2: 33,
    nanosleep: 35,
    getpid: 39,
    kill: 62,
    fcntl: 72,
    fsync: 74,
    ftruncate: 77,
    getcwd: 79,
    getppid: 110,
    prctl: 157,
    gettid: 186,
    tgkill: 234,
    openat: 257,
    dup3: 292,
    memfd_create: 319,
    close_range: 436,
  },
};

/** The ABI of an architecture, or undefined where hostkit does not make remote calls yet. */
export function syscallAbi(arch: string): SyscallAbi | undefined {
  return arch === 'x86_64' ? x86_64Syscalls : undefined;
}
