/* The C shims under the addon: one file per kernel facility, no policy.
 *
 * One error convention, across the C/JS line:
 * - C: every shim returns >= 0 on success and -errno on failure. A shim that
 *   makes more than one system call says which one failed: a `const char
 *   **failed` it sets to the call's name, or a stage enum with a *_stage_name().
 * - JS: the glue (addon.cc, forkexec_binding.cc) throws SystemError (lib/errors.ts,
 *   through errors.h) with code, errno, that syscall name, and the pid, tid,
 *   fd or path concerned. Nothing else comes back as an error value.
 * - An outcome a caller expects often is not an error and costs no exception:
 *   waitpid's "nothing yet" (null), a vanished tid (HK_VANISHED), a signal
 *   ending a wait, stepRange's 'running'/'vanished'/'left', cpuid's missing
 *   leaf (null), and on gdb's socket (io.c) readSoon's and writeSome's -errno
 *   numbers, because a quiet or gone peer is an answer there. Each function's
 *   comment in lib/native.ts says which. */
#ifndef HOSTKIT_SHIMS_H
#define HOSTKIT_SHIMS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ptrace.c */
long hk_ptrace(int request, pid_t tid, uint64_t addr, uint64_t data);
long hk_ptrace_buffer(int request, pid_t tid, uint64_t addr, void *buf);
long hk_ptrace_regset(int get, pid_t tid, int note_type, void *buf, size_t len);
/* 1 when signal `sig` waits on stopped thread tid's own queue and tid does not block it; 0 if not; -errno. */
int hk_signal_waiting(pid_t tid, int sig);

/* wait.c: waiting for tracees and for wake-ups. *status is set when a tid is returned; 0 means nothing to report. */
int hk_waitpid(pid_t tid, int flags, int *status);
/* A wait status no kernel produces: the tid is gone without one (ECHILD). */
#define HK_VANISHED (-1)
int hk_reap(const int32_t *tids, int count, int32_t *out, int max_pairs);
/* 1: fd readable, or writable if asked (or hung up); 0: timeout; -EINTR: a signal arrived.
 * fd < 0: signal or timeout only. A zero timeout yields the CPU first (one pass of a spin). */
int hk_wait_ready(int fd, int writable, int timeout_ms);
/* CLOCK_MONOTONIC in microseconds. */
int64_t hk_now_us(void);

/* io.c: socket I/O for gdbsock's connection. */
/* Bytes read once fd has some (spinning spin_us, then asleep, up to timeout_ms); 0 at end of stream;
 * -EAGAIN: none came, or wake_fd (>= 0: the event loop's descriptor) became readable first. */
long hk_read_soon(int fd, int wake_fd, void *buf, size_t len, int spin_us, int timeout_ms);
/* One write(2), retried on EINTR: bytes taken or -errno. */
long hk_write_some(int fd, const void *buf, size_t len);
/* 1 if the next byte on socket fd was gdb's Ctrl-C (0x03) and is now taken; 0 if it is another or none; -errno. */
int hk_take_interrupt(int fd);

/* listen.c: listening sockets (non-blocking, close-on-exec) and the connections taken off them.
 * hk_listen_inet resolves host (getaddrinfo: *gai_error is its code when *failed says so) and
 * listens on its first address, setting *bound_port; hk_listen_path listens on a unix socket.
 * hk_accept: a connection (TCP_NODELAY where it applies), -EAGAIN when none waits. */
int hk_listen_inet(const char *host, int port, int *bound_port, const char **failed, int *gai_error);
int hk_listen_path(const char *path, const char **failed);
int hk_accept(int fd);

/* rsp_frame.c: `$`, `prefix` (a byte, or none if < 0), `data` escaped, `#` and the checksum, into `out`,
 * which must hold HK_FRAME_BINARY_SPACE(len) bytes. Returns the frame's length. */
#define HK_FRAME_BINARY_SPACE(len) (2 * (size_t)(len) + 5)
size_t hk_frame_binary(const uint8_t *data, size_t len, int prefix, uint8_t *out);
/* `$`, `data` in lower-case hex, `#` and the checksum into `out` (HK_FRAME_BINARY_SPACE(len) bytes suffice). */
size_t hk_frame_hex(const uint8_t *data, size_t len, uint8_t *out);

/* terminal.c: the terminal's foreground group; the previous one, or -errno. */
long hk_set_foreground(int fd, pid_t pgrp);
/* terminal.c: the terminal's foreground group, or -errno (-ENOTTY: not our controlling terminal). */
long hk_foreground(int fd);

/* signal.c: tgkill(2); 0 or -errno. */
int hk_tgkill(pid_t pid, pid_t tid, int signal);

/* ioctl.c: ioctl(2) with a buffer argument; its result or -errno. */
long hk_ioctl_buffer(int fd, unsigned long request, void *buf);

/* step.c: single-steps `tid` (the first step delivering `signal`) while its pc,
 * at byte `pc_offset` of the NT_PRSTATUS regset, stays in [start, end) and off
 * `avoid`. Each step is waited for by polling, for at most `spin_us`; the loop
 * gives up after `budget_us`. A plain step is SIGTRAP, no event, si_code
 * `step_code`. Returns the wait status of the stop that ended
 * it (any stop but a plain step that stayed in range), HK_STEP_LEFT when that
 * stop is a plain step out of the range (its general regset is then in
 * `regs`, which must hold NT_PRSTATUS), HK_STEP_RUNNING when the thread was
 * left stepping (a slow step, or out of budget: the caller's reaper will see
 * its stop), HK_STEP_WATCHED (see `watch`), HK_STEP_VANISHED (ECHILD), or -errno. */
struct hk_step_range {
  pid_t tid;
  int signal;
  uint64_t start, end;
  const uint64_t *avoid;
  int navoid;
  size_t pc_offset;
  int64_t spin_us, budget_us;
  void *regs;
  size_t regs_size;
  int step_code; /* the si_code of a plain step: the rule's home is lib/ptrace/siginfo.ts */
  /* Write watchpoints emulated by stepping, or NULL: HK_WATCH_SLOTS triples of
   * [address, length (0: unused, else 1..8), the bytes last seen there (little-endian)].
   * A plain step after which a slot holds other bytes ends the loop with
   * HK_STEP_WATCHED (the registers in `regs`, as for HK_STEP_LEFT); the caller
   * finds which and keeps the new bytes. */
  uint64_t *watch;
  /* With access slots in `watch`: the instruction table (HK_INSN_WORDS words an
   * entry, `insn_entries` entries, a power of two), or NULL. */
  const uint64_t *insns;
  uint32_t insn_entries;
};
#define HK_WATCH_SLOTS 4
/* `watch` after the write triples: HK_WATCH_SLOTS access slots [address, length (0: unused)],
 * watched by the memory operands of each instruction before it is stepped (instructions
 * looked up in `insns`, decoded by the caller); then what the loop tells back: the
 * access slots the step that ended it touched (HK_STEP_WATCHED), or the step it left
 * running will have touched (HK_STEP_RUNNING); the pc whose instruction the table lacks
 * (HK_STEP_UNDECODED: nothing was stepped from there, the caller decodes it and calls
 * again); and how many steps it took. */
#define HK_WATCH_ACCESS 12
#define HK_WATCH_HIT 20
#define HK_WATCH_UNDECODED 21
#define HK_WATCH_STEPS 22
#define HK_WATCH_WORDS 23
/* An instruction table entry: [pc (0: empty), its first 16 bytes (little-endian, two words),
 * length | operand count << 8, then per operand [displacement, layout]]. Layout bits: 0-7 the
 * base register's word in NT_PRSTATUS + 1 (0: none), 8-15 the index register's likewise,
 * 16-23 scale, 24-25 segment (1 fs, 2 gs, else none), 26 32-bit addressing, 27 a repeated
 * string operation (nothing touched when rcx is 0), 32-63 the bytes touched. Entries are
 * found by pc: hash HK_INSN_HASH, then the next entries in turn. */
#define HK_INSN_OPERANDS 4
#define HK_INSN_WORDS (4 + 2 * HK_INSN_OPERANDS)
#define HK_INSN_HASH(pc, entries) ((uint32_t)(((pc) * 0x9E3779B97F4A7C15ull) >> 40) & ((entries) - 1))
#define HK_STEP_RUNNING (-100000)
#define HK_STEP_VANISHED (-100001)
#define HK_STEP_LEFT (-100002)
#define HK_STEP_WATCHED (-100003)
#define HK_STEP_UNDECODED (-100004)
/* On -errno, *failed names the call that failed (ptrace(PTRACE_SINGLESTEP) or waitpid). */
int hk_step_range(const struct hk_step_range *r, const char **failed);
/* The access slots of `watch` that the instruction at regs' pc (NT_PRSTATUS, `regs_size`
 * bytes, pc at `pc_offset`) touches when stepped from there: 0 or more bits, or
 * HK_STEP_UNDECODED with the pc in watch[HK_WATCH_UNDECODED]. */
int hk_watched_access(pid_t tid, const void *regs, size_t regs_size, size_t pc_offset, uint64_t *watch,
                      const uint64_t *insns, uint32_t insn_entries, uint64_t *bits);

/* cpu.c: CPUID leaf/subleaf into out[eax, ebx, ecx, edx], and XCR0 (index 0) by XGETBV.
 * -EINVAL: the leaf is beyond the CPU's maximum; -ENOSYS: not x86, or XSAVE is off. */
int hk_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]);
int hk_xgetbv(uint32_t index, uint64_t *value);

/* address_space.c: starts (once) a process that shares this one's memory and holds no file, named
 * `name`, that ends once every thread of the caller has: the caller's files then close before its
 * memory is freed. Its pid, or -errno. */
pid_t hk_hold_address_space(const char *name);

/* memory.c */
ssize_t hk_vm_read(pid_t pid, uint64_t addr, void *buf, size_t len);
ssize_t hk_vm_write(pid_t pid, uint64_t addr, const void *buf, size_t len);
ssize_t hk_pread(int fd, void *buf, size_t len, uint64_t pos);
ssize_t hk_pwrite(int fd, const void *buf, size_t len, uint64_t pos);

/* launch.c */
enum hk_launch_stage { HK_STAGE_NONE, HK_STAGE_PIPE, HK_STAGE_FORK, HK_STAGE_SEIZE, HK_STAGE_WAIT,
                       HK_STAGE_SETPGID, HK_STAGE_PERSONALITY, HK_STAGE_DUP2, HK_STAGE_CHDIR, HK_STAGE_EXECVE };
struct hk_launch_request {
  const char *path;
  char *const *argv;
  char *const *envp;
  const char *cwd;       /* NULL: inherit */
  int stdio[3];          /* -1: inherit */
  unsigned long options; /* PTRACE_O_* for PTRACE_SEIZE; TRACEEXEC is forced */
  int new_process_group;
  int no_randomization;  /* personality ADDR_NO_RANDOMIZE, kept across exec (gdb's default) */
};
/* On success *pid is the tracee, stopped at PTRACE_EVENT_EXEC, and the return is 0.
 * On failure *stage names the step that failed and the return is -errno. */
int hk_launch(const struct hk_launch_request *req, pid_t *pid, enum hk_launch_stage *stage);
/* The system call a stage makes, for the error: "pipe2", "execve" ... */
const char *hk_launch_stage_name(enum hk_launch_stage stage);

#ifdef __cplusplus
}
#endif
#endif
