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

#if defined(__x86_64__)
#include <stddef.h>
#include <sys/user.h>

static volatile uint32_t watched_by_probe;

/* The tracee's part: a 4-byte store to the watched word, then a call to an
 * address DR1 watches for execution. noinline keeps that call a real one. */
__attribute__((noinline)) static void executed_by_probe(void) { __asm__ volatile(""); }

static void store_then_call(uint64_t n) {
  watched_by_probe = (uint32_t)n;
  executed_by_probe();
}

static int poke_debug_register(pid_t pid, int i, uint64_t value) {
  return ptrace(PTRACE_POKEUSER, pid, offsetof(struct user, u_debugreg) + i * sizeof(long), value) < 0 ? -errno : 0;
}

/* Continues the tracee and says whether it stopped with SIGTRAP (1) or ran on to its exit (0). */
static int traps_next(pid_t pid, const char **failed) {
  int status;
  if (ptrace(PTRACE_CONT, pid, 0, 0) < 0) return *failed = "ptrace(PTRACE_CONT)", -errno;
  int rc = wait_for(pid, &status);
  if (rc < 0) return *failed = "waitpid", rc;
  return WIFSTOPPED(status) && WSTOPSIG(status) == SIGTRAP;
}

int hk_probe_debug_registers(const char **failed) {
  pid_t pid = hk_fork_tracee(store_then_call, 1, failed);
  if (pid < 0) return pid;
  /* DR7: L0 and L1 (bits 0, 2); DR0 a data write (R/W0 = 01, bits 16-17) of 4 bytes
   * (LEN0 = 11, bits 18-19); DR1 an instruction (R/W1 = LEN1 = 00). Intel SDM vol. 3, 18.2.4. */
  uint64_t dr7 = 1 | 1 << 2 | 1 << 16 | 3 << 18;
  int rc = poke_debug_register(pid, 0, (uint64_t)(uintptr_t)&watched_by_probe);
  if (rc == 0) rc = poke_debug_register(pid, 1, (uint64_t)(uintptr_t)executed_by_probe);
  if (rc == 0) rc = poke_debug_register(pid, 7, dr7);
  if (rc < 0) {
    *failed = "ptrace(PTRACE_POKEUSER)";
    reap(pid);
    return rc;
  }
  int fired = 0;
  while (fired < 2 && (rc = traps_next(pid, failed)) == 1) fired++;
  if (rc != 0) reap(pid); /* stopped at the second trap, or lost; one that exited is reaped already */
  return rc < 0 ? rc : fired == 2;
}
#else
int hk_probe_debug_registers(const char **failed) {
  *failed = "ptrace(PTRACE_POKEUSER)";
  return -EOPNOTSUPP;
}
#endif
