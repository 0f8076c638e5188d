/** ptrace(2) numbers (include/uapi/linux/ptrace.h, arch/x86/include/uapi/asm/ptrace-abi.h). */
export const Request = {
  PEEKUSER: 3,
  POKEUSER: 6,
  CONT: 7,
  SINGLESTEP: 9,
  GETREGS: 12,
  SETREGS: 13,
  GETFPREGS: 14,
  SETFPREGS: 15,
  DETACH: 17,
  SYSCALL: 24,
  SETOPTIONS: 0x4200,
  GETEVENTMSG: 0x4201,
  GETSIGINFO: 0x4202,
  SETSIGINFO: 0x4203,
  SEIZE: 0x4206,
  INTERRUPT: 0x4207,
  LISTEN: 0x4208,
  GETSIGMASK: 0x420a,
  SETSIGMASK: 0x420b,
  GET_SYSCALL_INFO: 0x420e,
  /** Linux 6.16: rewrites a syscall stop's number, arguments or result. */
  SET_SYSCALL_INFO: 0x4212,
} as const;

export const Option = {
  TRACESYSGOOD: 1 << 0,
  TRACEFORK: 1 << 1,
  TRACEVFORK: 1 << 2,
  TRACECLONE: 1 << 3,
  TRACEEXEC: 1 << 4,
  TRACEVFORKDONE: 1 << 5,
  TRACEEXIT: 1 << 6,
  TRACESECCOMP: 1 << 7,
  EXITKILL: 1 << 20,
} as const;

export const PtraceEvent = {
  FORK: 1,
  VFORK: 2,
  CLONE: 3,
  EXEC: 4,
  VFORK_DONE: 5,
  EXIT: 6,
  SECCOMP: 7,
  STOP: 128,
} as const;

/** waitpid flags (include/uapi/linux/wait.h). */
export const Wait = {
  WNOHANG: 1,
  WALL: 0x40000000,
} as const;

/** Regset note types (include/uapi/linux/elf.h). */
export const NoteType = {
  PRSTATUS: 1,
  PRFPREG: 2,
  X86_XSTATE: 0x202,
  ARM_HW_BREAK: 0x402,
  ARM_HW_WATCH: 0x403,
} as const;

export const Signal = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGSYS: 31,
} as const;

/** The signals whose PTRACE_EVENT_STOP is a group-stop rather than an interrupt. */
export const STOP_SIGNALS: ReadonlySet<number> = new Set([Signal.SIGSTOP, Signal.SIGTSTP, Signal.SIGTTIN, Signal.SIGTTOU]);

/** Options every tracee gets: follow threads, see execs, and tell syscall stops from SIGTRAP. */
export const DEFAULT_OPTIONS = Option.TRACECLONE | Option.TRACEEXEC | Option.TRACESYSGOOD;
