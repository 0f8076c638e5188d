/* The terminal's foreground process group, set from a process that may be in
 * the background: a debugger hands its terminal to the program it starts and
 * takes it back at the end, as a shell does for its jobs. */
#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include "shims.h"

/* Makes `pgrp` the foreground group of the terminal `fd`. SIGTTOU is blocked
 * meanwhile: a background caller is then let through instead of being sent it
 * (drivers/tty/tty_jobctrl.c, tty_check_change). Returns the group that was in
 * the foreground before, or -errno (-ENOTTY: `fd` is not our controlling terminal). */
long hk_set_foreground(int fd, pid_t pgrp) {
  long before = hk_foreground(fd);
  if (before < 0) return before;
  sigset_t ttou, old;
  sigemptyset(&ttou);
  sigaddset(&ttou, SIGTTOU);
  pthread_sigmask(SIG_BLOCK, &ttou, &old);
  int rc = tcsetpgrp(fd, pgrp);
  int err = errno;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return rc < 0 ? -err : before;
}

/* The foreground group of terminal `fd`, or -errno (-ENOTTY: not our controlling terminal). */
long hk_foreground(int fd) {
  pid_t pgrp = tcgetpgrp(fd);
  return pgrp < 0 ? -errno : pgrp;
}
