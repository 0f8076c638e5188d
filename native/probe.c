/* Probes for `hostkit doctor` that need C: a tracee of our own, and seccomp(2),
 * which glibc does not wrap. Each asks the kernel itself, harmlessly. */
#include <errno.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host.h"

#ifndef PTRACE_GET_SYSCALL_INFO
#define PTRACE_GET_SYSCALL_INFO 0x420e
#endif
#ifndef PTRACE_SET_SYSCALL_INFO
#define PTRACE_SET_SYSCALL_INFO 0x4212
#endif

static int wait_for(pid_t pid, int *status) {
  while (waitpid(pid, status, __WALL) < 0)
    if (errno != EINTR) return -errno;
  return 0;
}

static void reap(pid_t pid) {
  int status;
  kill(pid, SIGKILL);
  wait_for(pid, &status);
}

pid_t hk_fork_tracee(void (*then)(uint64_t n), uint64_t n, const char **failed) {
  pid_t pid = fork();
  if (pid < 0) {
    *failed = "fork";
    return -errno;
  }
  if (pid == 0) {
    if (ptrace(PTRACE_TRACEME, 0, 0, 0) < 0) _exit(127);
    raise(SIGSTOP);
    if (then) then(n);
    _exit(0);
  }
  int status;
  int rc = wait_for(pid, &status);
  if (rc < 0 || !WIFSTOPPED(status)) {
    /* Exited instead: PTRACE_TRACEME was refused (Yama scope 3, a seccomp filter). */
    *failed = rc < 0 ? "waitpid" : "ptrace(PTRACE_TRACEME)";
    if (rc < 0) reap(pid);
    return rc < 0 ? rc : -EPERM;
  }
  /* PTRACE_GET_SYSCALL_INFO tells syscall stops apart only under TRACESYSGOOD (their si_code SIGTRAP|0x80). */
  if (ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL) < 0) {
    rc = -errno;
    *failed = "ptrace(PTRACE_SETOPTIONS)";
    reap(pid);
    return rc;
  }
  return pid;
}

int hk_probe_set_syscall_info(const char **failed) {
  pid_t pid = hk_fork_tracee(NULL, 0, failed);
  if (pid < 0) return pid;
  int status, rc;
  /* Stopped by its SIGSTOP; PTRACE_SYSCALL then stops it at its next syscall's entry (exit_group). */
  if (ptrace(PTRACE_SYSCALL, pid, 0, 0) < 0 || wait_for(pid, &status) < 0 || !WIFSTOPPED(status)) {
    rc = -(errno ? errno : EPROTO);
    *failed = "ptrace(PTRACE_SYSCALL)";
    reap(pid);
    return rc;
  }
  /* struct ptrace_syscall_info (linux/ptrace.h, 88 bytes with the 6.16 fields), which
   * glibc 2.36's sys/ptrace.h lacks and linux/ptrace.h clashes with. */
  uint64_t info[11];
  memset(info, 0, sizeof info);
  if (ptrace(PTRACE_GET_SYSCALL_INFO, pid, sizeof info, info) < 0) {
    rc = -errno;
    *failed = "ptrace(PTRACE_GET_SYSCALL_INFO)";
    reap(pid);
    return rc;
  }
  /* Writing back what was read changes nothing; a kernel without the request says EIO. */
  rc = ptrace(PTRACE_SET_SYSCALL_INFO, pid, sizeof info, info) < 0 ? -errno : 0;
  *failed = "ptrace(PTRACE_SET_SYSCALL_INFO)";
  reap(pid);
  return rc;
}

int hk_probe_seccomp_action(uint32_t action) {
  return syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) < 0 ? -errno : 0;
}

int hk_probe_seccomp_notif_sizes(uint16_t sizes[3]) {
  struct seccomp_notif_sizes s;
  if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &s) < 0) return -errno;
  sizes[0] = s.seccomp_notif, sizes[1] = s.seccomp_notif_resp, sizes[2] = s.seccomp_data;
  return 0;
}
