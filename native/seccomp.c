/* Installs a seccomp-bpf filter on the calling thread (and, with
 * SECCOMP_FILTER_FLAG_TSYNC, on every thread of the process). The filter is
 * built in lib/forkexec/bpf.ts; this file only hands it to the kernel. */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "forkexec.h"

long hk_seccomp_install(const void *insns, size_t count, unsigned int flags, const char **failed) {
  *failed = "seccomp(SECCOMP_SET_MODE_FILTER)";
  if (count == 0 || count > BPF_MAXINSNS) return -EINVAL;
  /* Without CAP_SYS_ADMIN the kernel insists on no_new_privs (seccomp(2)); with
   * it we still want it, so a setuid program cannot be used to shed the filter's intent. */
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
    *failed = "prctl(PR_SET_NO_NEW_PRIVS)";
    return -errno;
  }
  struct sock_fprog prog = {.len = (unsigned short)count, .filter = (struct sock_filter *)insns};
  long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
  return rc < 0 ? -errno : rc;
}
