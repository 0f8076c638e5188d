/**
 * The only module that touches native code: the hostkit addon (loaded with
 * node-gyp-build, which prefers a local build and falls back to a prebuild)
 * and libc through koffi for plain calls that need no C of ours.
 */
import path from 'node:path';
import { SystemError, type SystemErrorInfo } from './errors';

/**
 * The raw binding. Every function throws SystemError (with the failed
 * syscall's name, and the pid, tid, fd or path where known) when a system call
 * fails, and TypeError or RangeError for a bad argument. Outcomes a caller
 * expects often are values, not exceptions, and each comment below names
 * them: waitpid's null, reap's -1 status, waitReady's 0 and -1, stepRange's
 * strings, cpuid's and xgetbv's null, readSoon's, takeInterrupt's and writeSome's -errno
 * (gdb's socket: a quiet or gone peer is an answer there), and setForeground's and
 * foreground's -errno (-ENOTTY: no controlling terminal there, which is common). See native/shims.h.
 */
export interface Addon {
  setErrorFactory(make: (errno: number, syscall: string, info: SystemErrorInfo) => Error): void;
  ptrace(request: number, tid: number, addr: number | bigint, data: number | bigint): number;
  ptraceBuffer(request: number, tid: number, addr: number | bigint, buffer: Buffer): number;
  ptraceRegset(get: boolean, tid: number, noteType: number, buffer: Buffer): number;
  /** The wait status, or null when the tid has nothing to report (WNOHANG). */
  waitpid(tid: number, flags: number): number | null;
  /** One WNOHANG|__WALL pass over `tids`: (tid, status) pairs into `out`, status -1 for a vanished tid. */
  reap(tids: Int32Array, out: Int32Array): number;
  /** Sleeps until fd (-1: none) is readable, or writable if asked: 1; timeout: 0; a signal handler ran (SIGCHLD): -1. */
  waitReady(fd: number, timeoutMs: number, writable: boolean): number;
  /** Reads fd once it has data, spinning spinUs then sleeping, up to timeoutMs: bytes, 0 at its end, -errno (-EAGAIN: nothing came). */
  /** With yieldToLoop, -EAGAIN as soon as the event loop has something to handle (a SIGCHLD), too. */
  readSoon(fd: number, buffer: Buffer, spinUs: number, timeoutMs: number, yieldToLoop: boolean): number;
  /** 1 when the next byte on socket fd was gdb's Ctrl-C (0x03), now read; 0 if it is another or none; -errno (-ENOTSOCK: a pipe). */
  takeInterrupt(fd: number): number;
  /** One write(2): bytes taken or -errno (-EAGAIN: full). */
  writeSome(fd: number, buffer: Buffer, offset: number, length: number): number;
  /** `$`, prefix (a byte, or -1 for none), data[offset, offset + length) escaped, `#` and checksum into `out` (2 * length + 5 bytes); the frame's length. */
  frameBinary(data: Buffer, offset: number, length: number, prefix: number, out: Buffer): number;
  /** `$`, data[offset, offset + length) in lower-case hex, `#` and checksum into `out` (2 * length + 5 bytes); the frame's length. */
  frameHex(data: Buffer, offset: number, length: number, out: Buffer): number;
  /** Makes pgrp the foreground group of terminal fd (SIGTTOU blocked meanwhile): the previous one, or -errno (-ENOTTY: not our terminal). */
  setForeground(fd: number, pgrp: number): number;
  /** The foreground group of terminal fd, or -errno (-ENOTTY: fd is not our controlling terminal). */
  foreground(fd: number): number;
  /** Our process group (getpgrp(2) cannot fail). */
  processGroup(): number;
  /** tgkill(2): `signal` to thread `tid` of process `pid`. */
  tgkill(pid: number, tid: number, signal: number): void;
  /** ioctl(2) whose argument is a buffer the kernel reads and fills; its result. The error names `ioctl(name)`. */
  ioctlBuffer(fd: number, request: number, buffer: Buffer, name: string): number;
  /** CPUID: [eax, ebx, ecx, edx], or null when the CPU has no such leaf or is not x86. */
  cpuid(leaf: number, subleaf: number): Uint32Array | null;
  /** hostkit doctor (native/probe.c): PTRACE_SET_SYSCALL_INFO tried on a child of ours; rc 0 or -errno, and the call it concerns. */
  probeSetSyscallInfo(): { rc: number; syscall: string };
  /** rc 1: the debug registers fire for a tracee; 0: they are taken and never fire; -errno: not asked. */
  probeDebugRegisters(): { rc: number; syscall: string };
  /** seccomp(SECCOMP_GET_ACTION_AVAIL): 0, or -errno (-EOPNOTSUPP: no such action). */
  probeSeccompAction(action: number): number;
  /** seccomp(SECCOMP_GET_NOTIF_SIZES): [notif, resp, data] sizes, or -errno. */
  probeSeccompNotifSizes(): [number, number, number] | number;
  /** hostkit measure (native/measure.c): one sample of n operations of a MeasureKind; mean ns per operation. */
  measure(kind: number, n: number, filter: Buffer | null): number;
  /** A MAP_SHARED mapping of fd (native/futex.c), unmapped when the ArrayBuffer is collected. */
  mapShared(fd: number, length: number): ArrayBuffer;
  /** FUTEX_WAIT (shared) on the 4-byte word at offset: 0 woken, 1 it was not `expected`, -ETIMEDOUT, -EINTR. */
  futexWait(buffer: ArrayBuffer, offset: number, expected: number, timeoutMs: number): number;
  /** FUTEX_WAKE (shared): how many waiters were woken. */
  futexWake(buffer: ArrayBuffer, offset: number, count: number): number;
  /** XGETBV(0): XCR0, the state components the OS enabled; null where XSAVE is off or not x86. */
  xgetbv(index: 0): bigint | null;
  /**
   * Single-steps while the pc (at byte pcOffset of NT_PRSTATUS) stays in [start, end) and off `avoid`,
   * polling for each step for up to spinUs, for up to budgetUs in all. Returns the wait status of the
   * stop that ended it, or 'running' if the thread was left stepping, 'vanished' if it is gone (ECHILD),
   * 'left' if a plain step (SIGTRAP, no event, si_code `stepCode`: lib/ptrace/siginfo.ts's
   * PLAIN_STEP_CODE) took it out of the range (its general regset is then in `regs`), 'watched' if a
   * plain step changed a watched slot or touched an access slot of `watch` (registers in `regs`),
   * 'undecoded' if it stopped before an instruction `insns` lacks (see watchedAccess). A failed ptrace
   * or waitpid throws.
   */
  stepRange(
    tid: number,
    signal: number,
    start: bigint,
    end: bigint,
    avoid: BigUint64Array,
    pcOffset: number,
    spinUs: number,
    budgetUs: number,
    regs: Buffer,
    stepCode: number,
    /** Watchpoints emulated by stepping (SteppedWatchpoints.words: native/shims.h, HK_WATCH_WORDS), or none. */
    watch?: BigUint64Array,
    /** The instructions stepping has decoded, for the access slots (InstructionTable.words), or none. */
    insns?: BigUint64Array,
  ): number | StepOutcome;
  /**
   * The access slots of `watch` the instruction at the pc of `regs` (NT_PRSTATUS) touches when stepped
   * from there, as bits; -1 if `insns` lacks that instruction (its pc is then in the word
   * HK_WATCH_UNDECODED of `watch`).
   */
  watchedAccess(tid: number, regs: Buffer, pcOffset: number, watch: BigUint64Array, insns: BigUint64Array): number;
  vmRead(pid: number, address: bigint, buffer: Buffer, offset: number, length: number): number;
  vmReadAsync(pid: number, address: bigint, buffer: Buffer, offset: number, length: number, callback: (err: Error | null, bytes?: number) => void): void;
  vmWrite(pid: number, address: bigint, buffer: Buffer, offset: number, length: number): number;
  pread(fd: number, buffer: Buffer, offset: number, length: number, position: bigint): number;
  pwrite(fd: number, buffer: Buffer, offset: number, length: number, position: bigint): number;
  /** Whether stopped thread `tid` has `signal` on its own queue (PTRACE_PEEKSIGINFO), unblocked (PTRACE_GETSIGMASK). */
  signalWaiting(tid: number, signal: number): boolean;
  /** Starts (once) a process named `name` that shares this one's memory, holds no file and ends after this one: its pid. */
  holdAddressSpace(name: string): number;
  launch(
    file: string | Buffer,
    argv: (string | Buffer)[],
    envp: string[],
    cwd: string | null,
    stdio: (number | null)[],
    options: number,
    newProcessGroup: boolean,
    noRandomization?: boolean,
  ): number;
  sigchldStart(callback: () => void): void;
  sigchldRef(keepAlive: boolean): void;
  /**
   * A TCP socket listening on `host` (resolved by getaddrinfo: its first
   * address) and `port` (0: any): [fd, the port bound]. A name that does not
   * resolve is an outcome, not an exception: the code Node's dns would give
   * ('ENOTFOUND', 'EAI_AGAIN', ...).
   */
  listenInet(host: string, port: number): [number, number] | string;
  /** A unix socket listening on `path`: its fd. */
  listenPath(path: string): number;
  /** A connection from listening socket fd (non-blocking, TCP_NODELAY), or -EAGAIN when none waits. */
  accept(fd: number): number;
  /** Calls `callback` on the JS thread whenever fd is readable, until unwatch(fd); keeps Node alive meanwhile. */
  watchReadable(fd: number, callback: () => void): void;
  unwatch(fd: number): void;
  // hostkit/forkexec (native/forkexec_binding.cc).
  /** PR_SET_NO_NEW_PRIVS, then the filter: the listener fd with SECCOMP_FILTER_FLAG_NEW_LISTENER, else 0. */
  seccompInstall(filter: Buffer, flags: number): number;
  /** The Landlock ABI version; throws (landlock_create_ruleset) where Landlock is missing or off. */
  landlockAbi(): number;
  /** A ruleset fd allowing exec beneath each path; a failure names the path. */
  landlockExecRuleset(paths: string[]): number;
  supervisorStart(
    listener: number,
    pidfd: number,
    firstExecPid: number,
    denyErrno: number,
    signal: number,
    keepAlive: boolean,
    onNote: () => void,
    /** Where exec-family calls keep their path and argv: lib/forkexec/syscalls.ts, execCallTable(). */
    execCalls: Uint32Array,
  ): SupervisorHandle;
  /** The caller is done with the supervisor: it and its handle are freed once its thread has ended. */
  supervisorClose(handle: SupervisorHandle): void;
  /** The notes queued so far (none once closed). */
  supervisorDrain(handle: SupervisorHandle): { notes: SupervisorNote[]; dropped: number };
  forkexecSpawn(
    path: string,
    argv: string[],
    envp: string[],
    filter: Buffer,
    landlockFd: number,
    /** >= 0: the child execs this open file (execveat, AT_EMPTY_PATH) instead of `path`. */
    execFd?: number,
  ): { pid: number; listener: number; pidfd: number; statusFd: number };
  /** Waits for the child's exec: returns once it happened, throws (naming the child's failed step) if it did not. */
  forkexecSpawnResult(statusFd: number, path: string, pid: number): void;
  // hostkit/veriexec (native/veriexec_binding.cc): a thread reading a fanotify group; events of ownPids are allowed there.
  /** Starts the reader; onBatch gets (mask, fd, pid, 0) quadruples; with a channel fd, each event's fd is noted there first. */
  /** cacheSlots > 0: allows given with a rememberMask are answered on the reader thread when the same file state comes again. */
  fanotifyReaderStart(group: number, channel: number, ownPids: number[], onBatch: (batch: Int32Array) => void, cacheSlots?: number): FanotifyReaderHandle;
  /**
   * Writes the response for an event fd (noting it done on the channel) and closes the fd: 0, or -errno (-ENOENT: not pending).
   * With rememberMask (the event's FAN_OPEN_EXEC_PERM or FAN_OPEN_PERM) and FAN_ALLOW, the file's state is remembered first.
   */
  fanotifyRespond(reader: FanotifyReaderHandle, fd: number, response: number, rememberMask?: number): number;
  /** Drops the remembered allows. */
  fanotifyReaderForget(reader: FanotifyReaderHandle): void;
  fanotifyReaderState(reader: FanotifyReaderHandle): FanotifyReaderState;
  /** Ends the reader thread (idempotent); responses can still be written afterwards. */
  fanotifyReaderStop(reader: FanotifyReaderHandle): FanotifyReaderState;
  /** Tells the supervisor on the channel that this decider leaves on purpose. */
  fanotifyChannelBye(reader: FanotifyReaderHandle): void;
  /** A connected, blocking AF_UNIX stream socket (close-on-exec). */
  unixConnect(path: string): number;
  // hostkit/veriexec's verifying filesystem (native/fuse_binding.cc, native/fuse.c). Expected failures are -errno; a failed mount throws.
  /** Opens /dev/fuse and mounts it: the fd. Throws SystemError naming open(/dev/fuse) or mount. */
  fuseMount(mountpoint: string, source: string, fstype: string, flags: number, options: string): number;
  /** umount2(2): 0 or -errno (-EINVAL: not a mount point, -ENOENT: no such path). */
  fuseUnmount(mountpoint: string, flags: number): number;
  /** openat2 beneath dirfd, no symbolic links, no "..": fd or -errno (-ELOOP: a link on the way, -EXDEV: outside). */
  fuseOpenBeneath(dirfd: number, path: string, flags: number): number;
  /** A link's target (found as fuseOpenBeneath finds it) or -errno. */
  fuseReadlinkBeneath(dirfd: number, path: string): Buffer | number;
  /** One write(2) of a reply: bytes or -errno (-ENOENT: the kernel no longer waits for it). */
  fuseWrite(fd: number, buffer: Buffer): number;
  /** The same on libuv's pool, for notifications. */
  fuseWriteAsync(fd: number, buffer: Buffer, callback: (result: number) => void): void;
  /** A thread reading requests: onRequest(request, 0) for each, then onRequest(null, 0 | -errno) once at its end. */
  fuseReaderStart(fd: number, bufferSize: number, onRequest: (request: Buffer | null, err: number) => void): FuseReaderHandle;
  fuseReaderStop(handle: FuseReaderHandle): void;
  fuseReaderRef(handle: FuseReaderHandle, keepAlive: boolean): void;
  /** After the end only: joins the thread. */
  fuseReaderFree(handle: FuseReaderHandle): void;
}

/** An opaque FUSE request reader (native/fuse_binding.cc). */
export type FuseReaderHandle = { readonly __fuseReader: unique symbol };

/** What ended stepRange other than a stop: see Addon.stepRange. */
export type StepOutcome = 'running' | 'vanished' | 'left' | 'watched' | 'undecoded';

/** An opaque fanotify reader thread (native/veriexec_fanotify.c). */
export type FanotifyReaderHandle = { readonly __fanotifyReader: unique symbol };
/** Whether the reader runs, how many events of its own pids it allowed, and why it stopped early (errno 0: it did not). */
export interface FanotifyReaderState {
  running: boolean;
  ownEvents: number;
  /** Events answered from the remembered allows, on the reader thread. */
  cacheHits: number;
  errno: number;
  syscall: string | null;
}

/** An opaque supervisor (native/forkexec_supervisor.c). */
export type SupervisorHandle = { readonly __supervisor: unique symbol };

/** One note from a supervisor: a syscall it answered (kind 0), the child's exit (1), or its end (2). */
export interface SupervisorNote {
  kind: number;
  tid: number;
  /** The caller's process (0: unknown). */
  pid: number;
  arch: number;
  nr: number;
  args: bigint[];
  allowed: boolean;
  status: number;
  path?: Buffer;
  argv?: Buffer;
  truncated: boolean;
}

function loadAddon(): Addon {
  // dist/native.js and lib/native.ts both sit one level below the package root.
  const root = path.join(__dirname, '..');
  const binding = localBuild(root) ?? ((require('node-gyp-build') as (dir: string) => unknown)(root) as Addon);
  binding.setErrorFactory((errno, syscall, info) => new SystemError(errno, syscall, info));
  return binding;
}

/**
 * node-gyp-build's first choice, without loading node-gyp-build (a few
 * milliseconds of every command's start-up): the local build, unless its
 * variables point elsewhere (HOSTKIT_PREBUILD, PREBUILDS_ONLY). Undefined
 * when there is none; a build that is there but fails to load throws, as it
 * would through node-gyp-build.
 */
function localBuild(root: string): Addon | undefined {
  if (process.env.HOSTKIT_PREBUILD !== undefined || process.env.PREBUILDS_ONLY) return undefined;
  try {
    return require(path.join(root, 'build', 'Release', 'hostkit.node')) as Addon;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') return undefined;
    throw err;
  }
}

/**
 * The addon, loaded on first use (as better-sqlite3 does): the protocol
 * layers and the core reader import this module but never call native code,
 * and they load and run where the addon was not built. Until then `addon` is
 * a stand-in whose first property read loads the binding and puts it in its
 * place; the compiled call sites read the export each time (`native_1.addon`),
 * so every later call goes straight to the binding.
 */
export let addon: Addon = new Proxy({} as Addon, {
  get(_target, name) {
    addon = loadAddon();
    return addon[name as keyof Addon];
  },
});

/** libc calls made through koffi, each throwing SystemError on failure. */
export interface Libc {
  kill(pid: number, signal: number): void;
  pidfdOpen(pid: number): number;
  /** pidfd_getfd(2): a copy of another process's fd (needs ptrace access to it). */
  pidfdGetfd(pidfd: number, fd: number): number;
  prctl(option: number, arg2?: number, arg3?: number, arg4?: number, arg5?: number): number;
  getrlimit(pid: number, resource: number): { soft: bigint; hard: bigint };
  setrlimit(pid: number, resource: number, limit: { soft: bigint; hard: bigint }): void;
  /** fcntl(2) with an int argument (F_SETPIPE_SZ, F_GETFL, F_SETFL ...); returns its result. */
  fcntl(fd: number, cmd: number, arg?: number): number;
  /** getsockopt(2) of an int option; returns its value. */
  getsockoptInt(fd: number, level: number, option: number, name: string): number;
  /** fanotify_init(2): the group's fd. */
  fanotifyInit(flags: number, eventFlags: number): number;
  /** fanotify_mark(2) on a path (relative to the cwd). */
  fanotifyMark(fd: number, flags: number, mask: bigint, path: string): void;
  /**
   * A listening AF_UNIX stream socket bound to `path` (close-on-exec), made
   * outside libuv so nothing in this process accepts on it: for handing to a
   * child that does.
   */
  listenUnix(path: string, backlog: number): number;
  close(fd: number): void;
  /** flock(2): LOCK_EX 2, LOCK_NB 4, LOCK_UN 8. */
  flock(fd: number, operation: number): void;
}

let libcCache: Libc | undefined;

/** Loaded on first use: most programs that import hostkit never need it. */
export function libc(): Libc {
  libcCache ??= loadLibc();
  return libcCache;
}

function loadLibc(): Libc {
  const koffi = require('koffi') as typeof import('koffi');
  const lib = koffi.load('libc.so.6');
  koffi.struct('hostkit_rlimit', { cur: 'uint64_t', max: 'uint64_t' }); // named in prlimit's prototype
  const fn = {
    kill: lib.func('int kill(int pid, int sig)'),
    pidfdOpen: lib.func('int pidfd_open(int pid, unsigned int flags)'),
    pidfdGetfd: lib.func('int pidfd_getfd(int pidfd, int targetfd, unsigned int flags)'),
    prctl: lib.func('int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)'),
    prlimit: lib.func('int prlimit(int pid, int resource, const hostkit_rlimit *lim, _Out_ hostkit_rlimit *old)'),
    fcntl: lib.func('int fcntl(int fd, int cmd, int arg)'),
    getsockopt: lib.func('int getsockopt(int fd, int level, int optname, _Out_ int *optval, _Inout_ uint32_t *optlen)'),
    fanotifyInit: lib.func('int fanotify_init(unsigned int flags, unsigned int event_f_flags)'),
    fanotifyMark: lib.func('int fanotify_mark(int fd, unsigned int flags, uint64_t mask, int dirfd, const char *path)'),
    socket: lib.func('int socket(int domain, int type, int protocol)'),
    bind: lib.func('int bind(int fd, const uint8_t *addr, uint32_t len)'),
    listen: lib.func('int listen(int fd, int backlog)'),
    close: lib.func('int close(int fd)'),
    flock: lib.func('int flock(int fd, int operation)'),
  };
  const check = (rc: number, syscall: string, info: SystemErrorInfo): number => {
    if (rc < 0) throw new SystemError(koffi.errno(), syscall, info);
    return rc;
  };
  return {
    kill: (pid, signal) => void check(fn.kill(pid, signal), 'kill', { pid }),
    pidfdOpen: (pid) => check(fn.pidfdOpen(pid, 0), 'pidfd_open', { pid }),
    pidfdGetfd: (pidfd, fd) => check(fn.pidfdGetfd(pidfd, fd, 0), 'pidfd_getfd', { fd }),
    prctl: (option, a2 = 0, a3 = 0, a4 = 0, a5 = 0) => check(fn.prctl(option, a2, a3, a4, a5), 'prctl', {}),
    getrlimit(pid, resource) {
      const old = { cur: 0n, max: 0n };
      check(fn.prlimit(pid, resource, null, old), 'prlimit', { pid });
      return { soft: BigInt(old.cur), hard: BigInt(old.max) };
    },
    setrlimit(pid, resource, limit) {
      check(fn.prlimit(pid, resource, { cur: limit.soft, max: limit.hard }, null), 'prlimit', { pid });
    },
    fcntl: (fd, cmd, arg = 0) => check(fn.fcntl(fd, cmd, arg), 'fcntl', { fd }),
    getsockoptInt(fd, level, option, name) {
      const value = [0];
      check(fn.getsockopt(fd, level, option, value, [4]), `getsockopt(${name})`, { fd });
      return value[0]!;
    },
    fanotifyInit: (flags, eventFlags) => check(fn.fanotifyInit(flags, eventFlags), 'fanotify_init', {}),
    fanotifyMark(fd, flags, mask, path) {
      const AT_FDCWD = -100;
      check(fn.fanotifyMark(fd, flags, mask, AT_FDCWD, path), 'fanotify_mark', { fd, path });
    },
    listenUnix(path, backlog) {
      const AF_UNIX = 1;
      const SOCK_STREAM_CLOEXEC = 1 | 0o2000000;
      // struct sockaddr_un: sa_family_t, then a NUL-terminated path of at most 107 bytes.
      const name = Buffer.from(path);
      if (name.length > 107 || name.includes(0)) throw new RangeError(`socket path ${JSON.stringify(path)} is longer than 107 bytes or holds a NUL`);
      const addr = Buffer.alloc(2 + 108);
      addr.writeUInt16LE(AF_UNIX, 0);
      name.copy(addr, 2);
      const fd = check(fn.socket(AF_UNIX, SOCK_STREAM_CLOEXEC, 0), 'socket', { path });
      try {
        check(fn.bind(fd, addr, 2 + name.length + 1), 'bind', { path });
        check(fn.listen(fd, backlog), 'listen', { path });
      } catch (err) {
        fn.close(fd);
        throw err;
      }
      return fd;
    },
    close: (fd) => void check(fn.close(fd), 'close', { fd }),
    flock: (fd, operation) => void check(fn.flock(fd, operation), 'flock', { fd }),
  };
}
