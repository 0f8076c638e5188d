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
