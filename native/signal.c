/* A signal to one thread: a signal gdb delivers, the kill of a traced thread,
 * a signal put back where it was caught. In C and not through libc's FFI so
 * that the gdbsock command reaches it without loading koffi (~35 ms). */
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shims.h"

int hk_tgkill(pid_t pid, pid_t tid, int signal) {
  return syscall(SYS_tgkill, (long)pid, (long)tid, (long)signal) < 0 ? -errno : 0;
}
