/* An ioctl whose argument is a buffer the kernel reads and fills
 * (PROCMAP_QUERY, PIDFD_GET_INFO, FS_IOC_GETVERSION, FS_IOC_MEASURE_VERITY).
 * In C and not through libc's FFI so that gdbsock's memory read-ahead, which
 * asks PROCMAP_QUERY, does not load koffi (~35 ms) in the middle of a dump. */
#include <errno.h>
#include <sys/ioctl.h>

#include "shims.h"

long hk_ioctl_buffer(int fd, unsigned long request, void *buf) {
  int rc = ioctl(fd, request, buf);
  return rc < 0 ? -errno : rc;
}
