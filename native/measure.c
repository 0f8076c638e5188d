/* Microbenchmarks of kernel crossings for `hostkit measure`: each runs one
 * sample of n operations and gives the mean nanoseconds per operation. The
 * loops must be C: a trip through JS per operation would cost more than most
 * of what is measured. Which samples to take, the statistics, the anchors and
 * the table are lib/host/measure.
 *
 * Work that needs a process of its own (a seccomp filter, a tracee, a pipe's
 * other end) runs in a forked child that makes only async-signal-safe calls
 * (the caller is a multi-threaded Node process) and leaves its result in a
 * shared anonymous page. */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "host.h"

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The measured call: getppid, as `perf bench syscall basic` uses, made raw so no
 * libc cache can answer it. */
static inline long bare_syscall(void) { return syscall(SYS_getppid); }

/* What a child leaves for its parent. */
struct child_result {
  double ns;
  int err; /* -errno, 0 */
  const char *failed;
};

static int fail(struct child_result *r, const char *call) {
  r->err = -errno;
  r->failed = call;
  return r->err;
}

static int wait_exit(pid_t pid) {
  int status;
  while (waitpid(pid, &status, __WALL) < 0)
    if (errno != EINTR) return -errno;
  return 0;
}

static int wait_stop(pid_t pid, int *status) {
  while (waitpid(pid, status, __WALL) < 0)
    if (errno != EINTR) return -errno;
  return 0;
}

typedef void (*child_body)(const struct hk_measure_job *job, struct child_result *r);

/* Runs body in a forked child and returns its result. */
static int in_child(child_body body, const struct hk_measure_job *job, double *ns, const char **failed) {
  struct child_result *r = mmap(NULL, sizeof *r, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (r == MAP_FAILED) {
    *failed = "mmap";
    return -errno;
  }
  r->err = -ECHILD;
  r->failed = "the measuring child (it died before reporting)";
  pid_t pid = fork();
  if (pid < 0) {
    int e = -errno;
    munmap(r, sizeof *r);
    *failed = "fork";
    return e;
  }
  if (pid == 0) {
    r->err = 0;
    body(job, r);
    _exit(0);
  }
  int rc = wait_exit(pid);
  if (rc < 0) *failed = "waitpid";
  else if (r->err < 0) rc = r->err, *failed = r->failed;
  else *ns = r->ns;
  munmap(r, sizeof *r);
  return rc;
}

static int install_filter(const struct hk_measure_job *job, unsigned flags, struct child_result *r) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return fail(r, "prctl(PR_SET_NO_NEW_PRIVS)");
  struct sock_fprog prog = {.len = (unsigned short)job->filter_count, .filter = (struct sock_filter *)job->filter};
  long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
  if (fd < 0) return fail(r, "seccomp(SECCOMP_SET_MODE_FILTER)");
  return (int)fd;
}

static double time_syscalls(uint64_t n) {
  int64_t t0 = now_ns();
  for (uint64_t i = 0; i < n; i++) bare_syscall();
  return (double)(now_ns() - t0) / (double)n;
}

/* getppid under the job's filter (an allow-all one, or forkexec's lock). */
static void filtered_syscalls(const struct hk_measure_job *job, struct child_result *r) {
  if (install_filter(job, 0, r) < 0) return;
  r->ns = time_syscalls(job->n);
}

static void on_sigsys(int sig, siginfo_t *si, void *context) {
  (void)sig, (void)si;
#if defined(__x86_64__)
  ((ucontext_t *)context)->uc_mcontext.gregs[REG_RAX] = 1; /* the answer the handler gives */
#elif defined(__aarch64__)
  ((ucontext_t *)context)->uc_mcontext.regs[0] = 1;
#endif
}

/* getppid turned into SIGSYS by the job's SECCOMP_RET_TRAP filter, answered by a handler. */
static void trapped_syscalls(const struct hk_measure_job *job, struct child_result *r) {
  struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};
  if (sigaction(SIGSYS, &sa, NULL) < 0) {
    fail(r, "sigaction(SIGSYS)");
    return;
  }
  if (install_filter(job, 0, r) < 0) return;
  r->ns = time_syscalls(job->n);
}

/* getppid sent by the job's SECCOMP_RET_USER_NOTIF filter to a supervisor (this
 * child), which lets each one go on (SECCOMP_USER_NOTIF_FLAG_CONTINUE); a
 * grandchild makes the calls and times them. */
static void notified_syscalls(const struct hk_measure_job *job, struct child_result *r) {
  int listener = install_filter(job, SECCOMP_FILTER_FLAG_NEW_LISTENER, r);
  if (listener < 0) return;
  pid_t caller = fork();
  if (caller < 0) {
    fail(r, "fork");
    return;
  }
  if (caller == 0) {
    close(listener);
    r->ns = time_syscalls(job->n);
    _exit(0);
  }
  struct seccomp_notif req;
  struct seccomp_notif_resp resp;
  /* This process is under the filter too, so the listener never hangs up while it
   * lives: the caller's exit is learned from waitpid between polls. */
  int exited = 0;
  while (!exited) {
    struct pollfd p = {.fd = listener, .events = POLLIN};
    int ready = poll(&p, 1, 100);
    if (ready < 0 && errno != EINTR) {
      fail(r, "poll(seccomp listener)");
      break;
    }
    if (ready <= 0) {
      int status;
      exited = waitpid(caller, &status, WNOHANG | __WALL) == caller;
      continue;
    }
    memset(&req, 0, sizeof req);
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) {
      if (errno == EINTR || errno == ENOENT) continue;
      fail(r, "ioctl(SECCOMP_IOCTL_NOTIF_RECV)");
      break;
    }
    memset(&resp, 0, sizeof resp);
    resp.id = req.id;
    resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0 && errno != ENOENT) {
      fail(r, "ioctl(SECCOMP_IOCTL_NOTIF_SEND)");
      break;
    }
  }
  if (!exited) {
    kill(caller, SIGKILL);
    wait_exit(caller);
  }
}

static void breakpoint_loop(uint64_t n) {
#if defined(__x86_64__)
  for (uint64_t i = 0; i < n; i++) __asm__ volatile("int3");
#else
  for (uint64_t i = 0; i < n; i++) raise(SIGTRAP);
#endif
}

static void syscall_loop(uint64_t n) {
  for (uint64_t i = 0; i < n; i++) bare_syscall();
}

/* Resumes the tracee with `request` until it exits; the stops it made and their time. */
static int trace_until_exit(pid_t pid, int request, uint64_t *stops, int64_t *elapsed, const char **failed) {
  int64_t t0 = now_ns();
  *stops = 0;
  for (;;) {
    if (ptrace(request, pid, 0, 0) < 0) {
      *failed = request == PTRACE_CONT ? "ptrace(PTRACE_CONT)" : "ptrace(PTRACE_SYSCALL)";
      return -errno;
    }
    int status;
    int rc = wait_stop(pid, &status);
    if (rc < 0) {
      *failed = "waitpid";
      return rc;
    }
    if (WIFEXITED(status) || WIFSIGNALED(status)) break;
    (*stops)++;
  }
  *elapsed = now_ns() - t0;
  return 0;
}

static int measure_ptrace(void (*loop)(uint64_t n), int request, uint64_t n, double *ns, const char **failed) {
  pid_t pid = hk_fork_tracee(loop, n, failed);
  if (pid < 0) return pid;
  uint64_t stops = 0;
  int64_t elapsed = 0;
  int rc = trace_until_exit(pid, request, &stops, &elapsed, failed);
  if (rc < 0) {
    kill(pid, SIGKILL);
    wait_exit(pid);
    return rc;
  }
  if (stops < n) {
    *failed = "the tracee (it stopped fewer times than asked)";
    return -EPROTO;
  }
  *ns = (double)elapsed / (double)n;
  return 0;
}

/* n round trips between this process and a child: each writes `size` bytes and
 * waits for as many back (the child reads child_reads and answers on child_writes). */
struct channel {
  int parent_writes, parent_reads, child_reads, child_writes;
  size_t size;
};

static int ping_pong(const struct channel *ch, uint64_t n, double *round_trip_ns, const char **failed) {
  pid_t pid = fork();
  if (pid < 0) {
    *failed = "fork";
    return -errno;
  }
  uint64_t word = 1; /* an eventfd takes 8-byte counts; a pipe gets the first byte */
  if (pid == 0) {
    for (uint64_t i = 0; i < n; i++)
      if (read(ch->child_reads, &word, ch->size) != (ssize_t)ch->size || write(ch->child_writes, &word, ch->size) != (ssize_t)ch->size) break;
    _exit(0);
  }
  int rc = 0;
  int64_t t0 = now_ns();
  for (uint64_t i = 0; i < n && rc == 0; i++) {
    word = 1;
    if (write(ch->parent_writes, &word, ch->size) != (ssize_t)ch->size || read(ch->parent_reads, &word, ch->size) != (ssize_t)ch->size) {
      rc = -(errno ? errno : EPIPE);
      *failed = "write/read (ping-pong)";
    }
  }
  *round_trip_ns = (double)(now_ns() - t0) / (double)n;
  if (rc < 0) kill(pid, SIGKILL);
  wait_exit(pid);
  return rc;
}

/* A one-byte ping-pong over two pipes: one round trip per operation, as `perf bench sched pipe`. */
static int measure_pipe(uint64_t n, double *ns, const char **failed) {
  int there[2], back[2];
  if (pipe2(there, O_CLOEXEC) < 0) {
    *failed = "pipe2";
    return -errno;
  }
  if (pipe2(back, O_CLOEXEC) < 0) {
    int e = -errno;
    close(there[0]), close(there[1]);
    *failed = "pipe2";
    return e;
  }
  struct channel ch = {.parent_writes = there[1], .parent_reads = back[0], .child_reads = there[0], .child_writes = back[1], .size = 1};
  int rc = ping_pong(&ch, n, ns, failed);
  close(there[0]), close(there[1]), close(back[0]), close(back[1]);
  return rc;
}

/* The first write to each page of a fresh anonymous mapping: one minor fault each. */
static int measure_page_fault(uint64_t n, double *ns, const char **failed) {
  long page = sysconf(_SC_PAGESIZE);
  size_t len = (size_t)n * (size_t)page;
  volatile char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    *failed = "mmap";
    return -errno;
  }
  /* No transparent huge page may serve many pages with one fault. */
  madvise((void *)p, len, MADV_NOHUGEPAGE);
  int64_t t0 = now_ns();
  for (uint64_t i = 0; i < n; i++) p[i * (uint64_t)page] = 1;
  *ns = (double)(now_ns() - t0) / (double)n;
  munmap((void *)p, len);
  return 0;
}

static atomic_int pending;

/* One test of a pending-work flag, as splx tests for pending soft interrupts: a
 * load and a branch that is almost never taken. */
static double measure_flag_check(uint64_t n) {
  uint64_t handled = 0;
  int64_t t0 = now_ns();
  for (uint64_t i = 0; i < n; i++) {
    if (__builtin_expect(atomic_load_explicit(&pending, memory_order_relaxed), 0)) handled++;
    __asm__ volatile("" ::: "memory"); /* one test per iteration, not one hoisted out of the loop */
  }
  int64_t elapsed = now_ns() - t0;
  __asm__ volatile("" ::"r"(handled));
  return (double)elapsed / (double)n;
}

static volatile sig_atomic_t signals_taken;
static void on_signal(int sig) {
  (void)sig;
  signals_taken++;
}

/* A signal sent to this very thread and taken: the interrupt's user-space analogue
 * (kernel entry, frame, handler, sigreturn). */
static void signal_wakeups(const struct hk_measure_job *job, struct child_result *r) {
  struct sigaction sa = {.sa_handler = on_signal};
  if (sigaction(SIGUSR1, &sa, NULL) < 0) {
    fail(r, "sigaction(SIGUSR1)");
    return;
  }
  pid_t self = getpid();
  int64_t t0 = now_ns();
  for (uint64_t i = 0; i < job->n; i++) syscall(SYS_tgkill, self, self, SIGUSR1);
  r->ns = (double)(now_ns() - t0) / (double)job->n;
}

/* A process blocked on an eventfd, woken by another: half an eventfd ping-pong. */
static int measure_eventfd(uint64_t n, double *ns, const char **failed) {
  int ping = eventfd(0, EFD_CLOEXEC), pong = eventfd(0, EFD_CLOEXEC);
  if (ping < 0 || pong < 0) {
    int e = -errno;
    if (ping >= 0) close(ping);
    if (pong >= 0) close(pong);
    *failed = "eventfd";
    return e;
  }
  struct channel ch = {.parent_writes = ping, .parent_reads = pong, .child_reads = ping, .child_writes = pong, .size = 8};
  double round_trip = 0;
  int rc = ping_pong(&ch, n, &round_trip, failed);
  *ns = round_trip / 2;
  close(ping), close(pong);
  return rc;
}

int hk_measure(const struct hk_measure_job *job, double *ns, const char **failed) {
  *failed = "measure";
  if (job->n == 0) return -EINVAL;
  switch (job->kind) {
    case HK_MEASURE_SYSCALL:
      *ns = time_syscalls(job->n);
      return 0;
    case HK_MEASURE_SECCOMP_FILTER:
      return job->filter_count ? in_child(filtered_syscalls, job, ns, failed) : -EINVAL;
    case HK_MEASURE_SECCOMP_TRAP:
      return job->filter_count ? in_child(trapped_syscalls, job, ns, failed) : -EINVAL;
    case HK_MEASURE_SECCOMP_NOTIFY:
      return job->filter_count ? in_child(notified_syscalls, job, ns, failed) : -EINVAL;
    case HK_MEASURE_PTRACE_STOP:
      return measure_ptrace(breakpoint_loop, PTRACE_CONT, job->n, ns, failed);
    case HK_MEASURE_PTRACE_SYSCALL:
      return measure_ptrace(syscall_loop, PTRACE_SYSCALL, job->n, ns, failed);
    case HK_MEASURE_PIPE:
      return measure_pipe(job->n, ns, failed);
    case HK_MEASURE_PAGE_FAULT:
      return measure_page_fault(job->n, ns, failed);
    case HK_MEASURE_FLAG_CHECK:
      *ns = measure_flag_check(job->n);
      return 0;
    case HK_MEASURE_SIGNAL:
      return in_child(signal_wakeups, job, ns, failed);
    case HK_MEASURE_EVENTFD:
      return measure_eventfd(job->n, ns, failed);
  }
  return -EINVAL;
}
