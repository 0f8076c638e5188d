/* ptrace(2) requests, made with the raw syscall so that PEEK* results arrive
 * through *data and errno is never ambiguous. */
#include <errno.h>
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
