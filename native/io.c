/* Socket I/O on gdbsock's connection, done from the JS thread without a trip
 * through the event loop. Outcomes stay numbers (-errno): a quiet peer
 * (-EAGAIN) or a gone one (-EPIPE) is an answer here, not an exception. */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shims.h"

/* Reads what `fd` has once it has something, waiting up to `timeout_ms`: first
 * `spin_us` of polling (yielding the CPU at each pass), then asleep in poll. A
 * peer in a request-reply conversation (gdb) usually answers within the spin,
 * and waking a sleeping thread costs tens of microseconds. The wait ends early,
 * with -EAGAIN, once `wake_fd` (if >= 0) is readable: the event loop's own
 * descriptor (uv_backend_fd), readable when the loop has something else to
 * handle, a SIGCHLD above all (a stop gdb is waiting to hear of in non-stop
 * mode, where it sends nothing until then). A signal alone does not end it: its
 * handler makes the loop's descriptor readable. Returns the bytes read, 0 at end
 * of stream, -EAGAIN when the time ran out or the loop has work, or -errno. */
long hk_read_soon(int fd, int wake_fd, void *buf, size_t len, int spin_us, int timeout_ms) {
  int64_t start = hk_now_us();
  int64_t spin_end = start + spin_us, deadline = start + (int64_t)timeout_ms * 1000;
  for (;;) {
    int64_t now = hk_now_us();
    if (now >= deadline) return -EAGAIN;
    int wait_ms = now < spin_end ? 0 : (int)((deadline - now + 999) / 1000);
    if (wait_ms == 0) sched_yield(); /* one pass of the spin: let gdb or the tracee run first */
    struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = wake_fd, .events = POLLIN}};
    int ready = poll(p, wake_fd >= 0 ? 2 : 1, wait_ms);
    if (ready < 0 && errno != EINTR) return -errno;
    if (ready <= 0) continue;
    if (p[0].revents == 0) return -EAGAIN; /* the loop has work, gdb has not spoken */
    ssize_t n = read(fd, buf, len);
    if (n >= 0) return n;
    if (errno != EAGAIN && errno != EINTR) return -errno;
  }
}

/* gdb's Ctrl-C (the byte 0x03), taken off socket `fd` only when it is the next
 * byte there, so a wait for a stop can interrupt the program at once, before
 * the event loop would read it. Anything else is left for the connection to
 * read. Returns 1 if taken, 0 if the next byte is another or none is there,
 * -errno (-ENOTSOCK for a pipe, which cannot be peeked at). */
int hk_take_interrupt(int fd) {
  unsigned char c;
  for (;;) {
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno == EAGAIN ? 0 : -errno;
    if (n == 0 || c != 0x03) return 0;
    n = recv(fd, &c, 1, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    return n == 1 ? 1 : n < 0 ? -errno : 0;
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
