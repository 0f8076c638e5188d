/* A holder of this process's address space: a second process, made with
 * clone(CLONE_VM), that shares the memory and holds no file.
 *
 * A process's memory is torn down before its files are closed (kernel/exit.c,
 * do_exit: exit_mm, then exit_files), and tearing down tens of megabytes takes
 * milliseconds. While another process shares the memory, the dying one only
 * drops its reference: its sockets close at once, and the holder, which waits
 * for it to be gone (a pidfd), frees the memory after.
 *
 * The holder runs on the caller's memory and with its thread pointer (no
 * CLONE_SETTLS): it must not touch libc's per-thread state, errno included, so
 * it makes raw system calls only, on a stack of its own. */
#include <errno.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shims.h"

static long raw_syscall(long nr, long a, long b, long c, long d) {
#if defined(__x86_64__)
  register long r10 __asm__("r10") = d;
  long ret;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
  return ret;
#elif defined(__aarch64__)
  register long x8 __asm__("x8") = nr;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
  return x0;
#else
#error "address_space.c: no raw system call for this architecture"
#endif
}

static char holder_stack[16384] __attribute__((aligned(64)));
static char holder_name[16];
static pid_t holder_parent;
static pid_t holder;

static int hold(void *unused) {
  (void)unused;
  unsigned long all = ~0UL;
  /* No signal handler of the caller's may run here (they are copied, not shared):
   * blocked, signals wait for ever. SIGKILL and SIGSTOP cannot be blocked. */
  raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, (long)&all, 0, sizeof all);
  /* The copy of the caller's descriptor table would keep its sockets open. */
  if (raw_syscall(SYS_close_range, 0, ~0U, 0, 0) != 0) return 1;
  raw_syscall(SYS_prctl, PR_SET_NAME, (long)holder_name, 0, 0);
  long caller = raw_syscall(SYS_pidfd_open, holder_parent, 0, 0, 0);
  /* Gone already, or gone before the pidfd was taken (then a pid reused): nothing to hold. */
  if (caller < 0 || raw_syscall(SYS_getppid, 0, 0, 0, 0) != holder_parent) return 0;
  /* Readable once every thread of the caller has exited (pidfd_poll): each has
   * closed its files by then, and the memory is the holder's alone to free. */
  struct pollfd until_gone = {.fd = (int)caller, .events = POLLIN};
  while (raw_syscall(SYS_ppoll, (long)&until_gone, 1, 0, 0) <= 0) {}
  return 0;
}

pid_t hk_hold_address_space(const char *name) {
  if (holder > 0) return holder;
  strncpy(holder_name, name, sizeof holder_name - 1);
  holder_parent = getpid();
  /* CLONE_UNTRACED: a tracer of this process (strace -f) is not handed the holder.
   * Exit signal 0: no SIGCHLD; it dies after this process, reaped by whoever inherits it. */
  pid_t pid = clone(hold, holder_stack + sizeof holder_stack, CLONE_VM | CLONE_UNTRACED, NULL);
  if (pid < 0) return -errno;
  holder = pid;
  return pid;
}
