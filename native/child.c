/* See child.h. */
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

pid_t hk_child_fork(void) {
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, &old);
  pid_t pid = fork();
  if (pid == 0) {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++) sigaction(s, &dfl, NULL);
    return 0;
  }
  int e = errno;
  sigprocmask(SIG_SETMASK, &old, NULL);
  errno = e;
  return pid;
}

void hk_child_close_others(void) { close_range(3, ~0U, CLOSE_RANGE_CLOEXEC); }

void hk_child_fail(int fd, int stage) {
  struct hk_child_failure f = {(int32_t)stage, errno};
  const char *p = (const char *)&f;
  size_t n = sizeof f;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    p += w;
    n -= (size_t)w;
  }
  _exit(127);
}

void hk_child_exec(const char *path, char *const argv[], char *const envp[], int fd, int stage) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  execve(path, argv, envp);
  hk_child_fail(fd, stage);
}

void hk_child_exec_fd(int exec_fd, char *const argv[], char *const envp[], int fd, int stage) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  syscall(SYS_execveat, exec_fd, "", argv, envp, AT_EMPTY_PATH);
  hk_child_fail(fd, stage);
}

int hk_child_read_failure(int fd, int *stage, int *err) {
  struct hk_child_failure f;
  ssize_t n;
  do n = read(fd, &f, sizeof f); while (n < 0 && errno == EINTR);
  if (n == 0) return 0;
  if (n < 0) return -errno;
  if (n != (ssize_t)sizeof f) return -EPROTO;
  *stage = f.stage;
  *err = f.err;
  return 1;
}
