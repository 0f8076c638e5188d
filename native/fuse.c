/* hostkit/veriexec's FUSE server: system calls only (see fuse.h). */
#include "fuse.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

int hk_fuse_mount(const char *mountpoint, const char *source, const char *fstype, unsigned long flags, const char *options,
                  const char **failed) {
  *failed = "open(/dev/fuse)";
  int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd < 0) return -errno;
  char data[512];
  int n = snprintf(data, sizeof data, "fd=%d%s%s", fd, *options ? "," : "", options);
  if (n < 0 || (size_t)n >= sizeof data) {
    close(fd);
    *failed = "mount";
    return -EINVAL;
  }
  *failed = "mount";
  if (mount(source, mountpoint, fstype, flags, data) < 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  return fd;
}

int hk_fuse_unmount(const char *mountpoint, int flags) { return umount2(mountpoint, flags) < 0 ? -errno : 0; }

int hk_fuse_open_beneath(int dirfd, const char *path, int flags) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (uint64_t)(flags | O_CLOEXEC);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  long fd;
  do fd = syscall(SYS_openat2, dirfd, *path ? path : ".", &how, sizeof how);
  while (fd < 0 && errno == EINTR);
  return fd < 0 ? -errno : (int)fd;
}

ssize_t hk_fuse_readlink_beneath(int dirfd, const char *path, char *buf, size_t len) {
  int fd = hk_fuse_open_beneath(dirfd, path, O_PATH | O_NOFOLLOW);
  if (fd < 0) return fd;
  ssize_t n = readlinkat(fd, "", buf, len);
  int err = errno;
  close(fd);
  return n < 0 ? -err : n;
}

ssize_t hk_fuse_write(int fd, const void *buf, size_t len) {
  ssize_t n;
  do n = write(fd, buf, len);
  while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : n;
}

struct hk_fuse_reader {
  int fd;
  int stop_fd; /* an eventfd: written to stop the thread */
  size_t size;
  uint8_t *buffer;
  hk_fuse_deliver deliver;
  hk_fuse_ended ended;
  void *ctx;
  pthread_t thread;
};

static void *reader_main(void *arg) {
  struct hk_fuse_reader *r = arg;
  struct pollfd fds[2] = {{r->fd, POLLIN, 0}, {r->stop_fd, POLLIN, 0}};
  int err = 0;
  for (;;) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      err = -errno;
      break;
    }
    if (fds[1].revents) break;
    ssize_t n = read(r->fd, r->buffer, r->size);
    if (n < 0) {
      /* EAGAIN: another wake-up took it; ENOENT: the request was interrupted
       * and withdrawn before we read it (fs/fuse/dev.c). */
      if (errno == EINTR || errno == EAGAIN || errno == ENOENT) continue;
      err = -errno; /* ENODEV: the connection ended (unmounted, or aborted) */
      break;
    }
    if (n == 0) continue;
    r->deliver(r->ctx, r->buffer, (size_t)n);
  }
  r->ended(r->ctx, err);
  return NULL;
}

struct hk_fuse_reader *hk_fuse_reader_start(int fd, size_t buffer_size, hk_fuse_deliver deliver, hk_fuse_ended ended, void *ctx,
                                            int *err, const char **failed) {
  struct hk_fuse_reader *r = calloc(1, sizeof *r);
  if (!r) {
    *failed = "malloc";
    *err = -ENOMEM;
    return NULL;
  }
  r->fd = fd;
  r->size = buffer_size;
  r->deliver = deliver;
  r->ended = ended;
  r->ctx = ctx;
  r->stop_fd = -1;
  *failed = "malloc";
  r->buffer = malloc(buffer_size);
  if (!r->buffer) goto fail_errno;
  *failed = "fcntl(F_SETFL)";
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) goto fail_errno;
  *failed = "eventfd";
  r->stop_fd = eventfd(0, EFD_CLOEXEC);
  if (r->stop_fd < 0) goto fail_errno;
  *failed = "pthread_create";
  int rc = pthread_create(&r->thread, NULL, reader_main, r);
  if (rc != 0) {
    errno = rc;
    goto fail_errno;
  }
  return r;
fail_errno:
  *err = -errno;
  if (r->stop_fd >= 0) close(r->stop_fd);
  free(r->buffer);
  free(r);
  return NULL;
}

void hk_fuse_reader_stop(struct hk_fuse_reader *r) {
  uint64_t one = 1;
  ssize_t n;
  do n = write(r->stop_fd, &one, sizeof one);
  while (n < 0 && errno == EINTR);
}

void hk_fuse_reader_free(struct hk_fuse_reader *r) {
  pthread_join(r->thread, NULL);
  close(r->stop_fd);
  free(r->buffer);
  free(r);
}
