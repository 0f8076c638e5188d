/* Socket I/O on gdbsock's connection, done from the JS thread without a trip
 * through the event loop. Outcomes stay numbers (-errno): a quiet peer
 * (-EAGAIN) or a gone one (-EPIPE) is an answer here, not an exception. */
#include <errno.h>
#include <unistd.h>

#include "shims.h"

/* Reads what `fd` has once it has something, waiting up to `timeout_ms`: first
 * `spin_us` of polling (yielding the CPU at each pass), then asleep in poll. A
 * peer in a request-reply conversation (gdb) usually answers within the spin,
 * and waking a sleeping thread costs tens of microseconds. Signals do not end
 * the wait. Returns the bytes read, 0 at end of stream, -EAGAIN when the time
 * ran out, or -errno. */
long hk_read_soon(int fd, void *buf, size_t len, int spin_us, int timeout_ms) {
  int64_t start = hk_now_us();
  int64_t spin_end = start + spin_us, deadline = start + (int64_t)timeout_ms * 1000;
  for (;;) {
    int64_t now = hk_now_us();
    if (now >= deadline) return -EAGAIN;
    int wait_ms = now < spin_end ? 0 : (int)((deadline - now + 999) / 1000);
    int ready = hk_wait_ready(fd, 0, wait_ms);
    if (ready == -EINTR || ready == 0) continue;
    if (ready < 0) return ready;
    ssize_t n = read(fd, buf, len);
    if (n >= 0) return n;
    if (errno != EAGAIN && errno != EINTR) return -errno;
  }
}

/* One write(2) to a possibly non-blocking descriptor: bytes taken, or -errno (-EAGAIN: full). */
long hk_write_some(int fd, const void *buf, size_t len) {
  for (;;) {
    ssize_t n = write(fd, buf, len);
    if (n >= 0) return n;
    if (errno != EINTR) return -errno;
  }
}
