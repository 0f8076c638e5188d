/* What this host allows and what its kernel crossings cost: the C under
 * `hostkit doctor` (probe.c) and `hostkit measure` (measure.c). Same
 * convention as shims.h: >= 0 on success, -errno on failure, and `failed`
 * names the call that failed. */
#ifndef HOSTKIT_HOST_H
#define HOSTKIT_HOST_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* probe.c */
#include <sys/types.h>
/* A child that asks to be traced, stops itself (SIGSTOP), then runs then(n) if
 * given and exits; returned stopped, with TRACESYSGOOD and EXITKILL set. */
pid_t hk_fork_tracee(void (*then)(uint64_t n), uint64_t n, const char **failed);
/* Whether ptrace(PTRACE_SET_SYSCALL_INFO) (Linux 6.16) works, tried on a child of
 * ours at a syscall-exit stop: 0 it does, -EIO the kernel lacks it, another -errno
 * when no child could be traced to ask. */
int hk_probe_set_syscall_info(const char **failed);
/* Whether the CPU's debug registers fire for a tracee: 1 when a data-write
 * watch (DR0) and then an instruction breakpoint (DR1) set through
 * PTRACE_POKEUSER each stop a child of ours with SIGTRAP, 0 when the child ran
 * past both (a hypervisor that takes the registers and never raises #DB: the
 * PVM guests seen here), -errno when it could not be asked. x86-64 only. */
int hk_probe_debug_registers(const char **failed);
/* seccomp(SECCOMP_GET_ACTION_AVAIL) for one SECCOMP_RET_* action: 0 or -errno (-EOPNOTSUPP: not available). */
int hk_probe_seccomp_action(uint32_t action);
/* seccomp(SECCOMP_GET_NOTIF_SIZES): sizes of seccomp_notif, seccomp_notif_resp, seccomp_data. */
int hk_probe_seccomp_notif_sizes(uint16_t sizes[3]);

/* futex.c: the parked stub's shared page. */
void *hk_map_shared(int fd, size_t len, const char **failed);
void hk_unmap_shared(void *p, size_t len);
/* 0 woken (or spurious), 1 the word was not `expected`, -ETIMEDOUT, -EINTR, -errno. */
int hk_futex_wait(uint32_t *word, uint32_t expected, int timeout_ms);
int hk_futex_wake(uint32_t *word, int count);

/* measure.c */
enum hk_measure_kind {
  HK_MEASURE_SYSCALL = 0,        /* getppid here */
  HK_MEASURE_SECCOMP_FILTER = 1, /* getppid in a child under the job's filter */
  HK_MEASURE_SECCOMP_TRAP = 2,   /* getppid made SIGSYS by the job's filter and answered by a handler */
  HK_MEASURE_SECCOMP_NOTIFY = 3, /* getppid sent by the job's filter to a supervisor that lets it go on */
  HK_MEASURE_PTRACE_STOP = 4,    /* int3: a SIGTRAP stop, waitpid, PTRACE_CONT */
  HK_MEASURE_PTRACE_SYSCALL = 5, /* getppid under PTRACE_SYSCALL: an entry and an exit stop */
  HK_MEASURE_PIPE = 6,           /* a pipe round trip between two processes */
  HK_MEASURE_PAGE_FAULT = 7,     /* the first write to an anonymous page */
  HK_MEASURE_FLAG_CHECK = 8,     /* one test of a pending-work flag */
  HK_MEASURE_SIGNAL = 9,         /* a signal sent to oneself and handled */
  HK_MEASURE_EVENTFD = 10,       /* a process blocked on an eventfd woken by another */
};

struct hk_measure_job {
  int kind;
  uint64_t n; /* operations in the sample */
  const void *filter; /* struct sock_filter[filter_count], for the seccomp kinds */
  size_t filter_count;
};

/* One sample: *ns is the mean nanoseconds per operation. */
int hk_measure(const struct hk_measure_job *job, double *ns, const char **failed);

#ifdef __cplusplus
}
#endif
#endif
