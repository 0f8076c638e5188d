/* waitpid(2) for one traced thread at a time: the bridge never reaps a child it
 * does not trace, so Node's own child processes keep working. */
#include <errno.h>
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
