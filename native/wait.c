/* Waiting: waitpid(2) for one traced thread at a time (the bridge never reaps a
 * child it does not trace, so Node's own child processes keep working), and
 * sleeping until a descriptor is ready or a signal comes. Socket I/O is io.c. */
#include <errno.h>
#include <sched.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "shims.h"

int hk_waitpid(pid_t tid, int flags, int *status) {
  for (;;) {
    pid_t r = waitpid(tid, status, flags);
    if (r >= 0) return r;
    if (errno != EINTR) return -errno;
  }
}

/* One pass over the traced tids: every pending status, as (tid, status) pairs in
 * `out` (status HK_VANISHED when waitpid says ECHILD). Stops early when `out` is
 * full; the caller polls again. Returns the number of pairs, or -errno. */
int hk_reap(const int32_t *tids, int count, int32_t *out, int max_pairs) {
  int pairs = 0;
  for (int i = 0; i < count && pairs < max_pairs; i++) {
    int status = 0;
    int rc = hk_waitpid(tids[i], WNOHANG | __WALL, &status);
    if (rc == 0) continue;
    if (rc < 0 && rc != -ECHILD) return rc;
    out[2 * pairs] = tids[i];
    out[2 * pairs + 1] = rc < 0 ? HK_VANISHED : status;
    pairs++;
  }
  return pairs;
}

/* Sleeps until `fd` (if >= 0) is readable (writable) or hung up, a signal handler runs, or
 * `timeout_ms` pass (0: yield the CPU, then poll once). Returns 1 (fd ready), 0 (timeout) or -EINTR (a signal: for
 * a tracer, usually SIGCHLD for a tracee's stop, which the kernel sends to the
 * tracing thread itself). Lets JS wait for the next stop or packet without a
 * trip through the event loop. */
int hk_wait_ready(int fd, int writable, int timeout_ms) {
  /* A zero timeout is one pass of a caller's spin: let anything queued on this
   * CPU (the tracee it waits for, gdb) run first, or the spin starves it. */
  if (timeout_ms == 0) sched_yield();
  struct pollfd p = {.fd = fd, .events = writable ? POLLOUT : POLLIN};
  int r = poll(&p, fd >= 0 ? 1 : 0, timeout_ms);
  if (r < 0) return -errno;
  return r > 0 ? 1 : 0;
}

int64_t hk_now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}
