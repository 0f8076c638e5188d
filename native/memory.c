/* Tracee memory: process_vm_readv/writev need no stop; pread/pwrite on
 * /proc/PID/mem can also write to read-only text (breakpoints). */
#include <errno.h>
#include <sys/uio.h>
#include <unistd.h>

#include "shims.h"

/* One remote iovec: the kernel copies page by page and, when it faults part
 * way, returns what it copied (mm/process_vm_access.c), so callers see partial
 * reads at unmapped boundaries. */
ssize_t hk_vm_read(pid_t pid, uint64_t addr, void *buf, size_t len) {
  struct iovec local = {buf, len}, remote = {(void *)(uintptr_t)addr, len};
  ssize_t r;
  do r = process_vm_readv(pid, &local, 1, &remote, 1, 0); while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : r;
}

ssize_t hk_vm_write(pid_t pid, uint64_t addr, const void *buf, size_t len) {
  struct iovec local = {(void *)buf, len}, remote = {(void *)(uintptr_t)addr, len};
  ssize_t r;
  do r = process_vm_writev(pid, &local, 1, &remote, 1, 0); while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : r;
}

/* Loops over short transfers; stops early (returning the count) at EOF or an
 * error after some bytes moved, like a partial read. */
ssize_t hk_pread(int fd, void *buf, size_t len, uint64_t pos) {
  size_t done = 0;
  while (done < len) {
    ssize_t r = pread(fd, (char *)buf + done, len - done, (off_t)(pos + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return done ? (ssize_t)done : -errno;
    if (r == 0) break;
    done += (size_t)r;
  }
  return (ssize_t)done;
}

ssize_t hk_pwrite(int fd, const void *buf, size_t len, uint64_t pos) {
  size_t done = 0;
  while (done < len) {
    ssize_t r = pwrite(fd, (const char *)buf + done, len - done, (off_t)(pos + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return done ? (ssize_t)done : -errno;
    if (r == 0) break;
    done += (size_t)r;
  }
  return (ssize_t)done;
}
