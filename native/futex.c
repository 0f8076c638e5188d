/* Shared memory with a traced process's stub and the futex handshake over it
 * (remote-stub.ts's parked mode): a word in a MAP_SHARED mapping of a memfd
 * that both processes map, so the futexes are shared ones (no FUTEX_PRIVATE_FLAG),
 * keyed by the page, not the address. */
#include <errno.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "host.h"

void *hk_map_shared(int fd, size_t len, const char **failed) {
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    *failed = "mmap";
    return NULL;
  }
  return p;
}

void hk_unmap_shared(void *p, size_t len) { munmap(p, len); }

int hk_futex_wait(uint32_t *word, uint32_t expected, int timeout_ms) {
  struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000};
  long rc = syscall(SYS_futex, word, FUTEX_WAIT, expected, timeout_ms >= 0 ? &ts : NULL, NULL, 0);
  if (rc == 0) return 0;
  return errno == EAGAIN ? 1 : -errno; /* EAGAIN: the word had changed already */
}

int hk_futex_wake(uint32_t *word, int count) {
  long rc = syscall(SYS_futex, word, FUTEX_WAKE, count, NULL, NULL, 0);
  return rc < 0 ? -errno : (int)rc;
}
