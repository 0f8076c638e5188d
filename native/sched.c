/* Scheduling of this process's own threads. */
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shims.h"

int hk_idle_other_threads(void) {
  DIR *tasks = opendir("/proc/self/task");
  if (!tasks) return -errno;
  pid_t self = (pid_t)syscall(SYS_gettid);
  struct sched_param none = {.sched_priority = 0};
  int changed = 0, err = 0;
  struct dirent *e;
  while ((e = readdir(tasks)) != NULL) {
    pid_t tid = (pid_t)atoi(e->d_name);
    if (tid <= 0 || tid == self) continue;
    /* A thread that ended meanwhile (ESRCH) has nothing to slow down. */
    if (sched_setscheduler(tid, SCHED_IDLE, &none) == 0) changed++;
    else if (errno != ESRCH && err == 0) err = errno;
  }
  closedir(tasks);
  return err ? -err : changed;
}
