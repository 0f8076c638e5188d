/* ptrace(2) requests, made with the raw syscall so that PEEK* results arrive
 * through *data and errno is never ambiguous. */
#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/ptrace.h>

#include "shims.h"

long hk_ptrace(int request, pid_t tid, uint64_t addr, uint64_t data) {
  long r = syscall(SYS_ptrace, (long)request, (long)tid, (unsigned long)addr, (unsigned long)data);
  return r < 0 ? -errno : r;
}

long hk_ptrace_buffer(int request, pid_t tid, uint64_t addr, void *buf) {
  long r = syscall(SYS_ptrace, (long)request, (long)tid, (unsigned long)addr, buf);
  return r < 0 ? -errno : r;
}

/* PTRACE_GETREGSET shrinks iov_len to what the kernel filled: return that. */
long hk_ptrace_regset(int get, pid_t tid, int note_type, void *buf, size_t len) {
  struct iovec iov = {buf, len};
  long r = syscall(SYS_ptrace, (long)(get ? PTRACE_GETREGSET : PTRACE_SETREGSET), (long)tid,
                   (unsigned long)note_type, &iov);
  return r < 0 ? -errno : (long)iov.iov_len;
}

/* The thread's own queue (not the process's shared one), read in batches by
 * PTRACE_PEEKSIGINFO; then its mask by PTRACE_GETSIGMASK. A queue entry is
 * what the kernel adds with each signal it queues (kernel/signal.c,
 * __send_signal_locked); it adds none only when allocating one fails under
 * GFP_ATOMIC (the signal still pending, its siginfo lost), which this misses. */
int hk_signal_waiting(pid_t tid, int sig) {
  enum { BATCH = 16 };
  struct ptrace_peeksiginfo_args args = {.off = 0, .flags = 0, .nr = BATCH};
  siginfo_t infos[BATCH];
  int found = 0;
  for (;;) {
    long n = syscall(SYS_ptrace, (long)PTRACE_PEEKSIGINFO, (long)tid, &args, infos);
    if (n < 0) return -errno;
    for (long i = 0; i < n && !found; i++) found = infos[i].si_signo == sig;
    if (found || n < BATCH) break;
    args.off += BATCH;
  }
  if (!found) return 0;
  uint64_t blocked = 0;
  if (syscall(SYS_ptrace, (long)PTRACE_GETSIGMASK, (long)tid, sizeof blocked, &blocked) < 0) return -errno;
  return (blocked & (1ULL << (sig - 1))) ? 0 : 1;
}
