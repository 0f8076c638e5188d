/* Start a program under trace: fork, PTRACE_SEIZE, then exec, with no JS
 * between fork and exec (libuv would otherwise reap or swallow its stops).
 *
 * The child waits on a pipe until the parent has seized it, so the seize needs
 * no job-control stop (a SIGSTOP would leave the group stopped after detach).
 * Exec failures travel back through a close-on-exec pipe. */
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shims.h"

struct child_failure {
  int32_t stage;
  int32_t err;
};

static void write_all(int fd, const void *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p = (const char *)p + w;
    n -= (size_t)w;
  }
}

static void fail_child(int err_fd, enum hk_launch_stage stage) {
  struct child_failure f = {(int32_t)stage, errno};
  write_all(err_fd, &f, sizeof f);
  _exit(127);
}

/* Runs in the forked child: async-signal-safe calls only. */
static void run_child(const struct hk_launch_request *req, int go_fd, int err_fd) {
  struct sigaction dfl = {0};
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; s++) sigaction(s, &dfl, NULL); /* Node ignores SIGPIPE */

  char go;
  ssize_t n;
  do n = read(go_fd, &go, 1); while (n < 0 && errno == EINTR);
  if (n != 1) _exit(127); /* the parent gave up */

  if (req->new_process_group && setpgid(0, 0) < 0) fail_child(err_fd, HK_STAGE_SETPGID);
  for (int i = 0; i < 3; i++) {
    int fd = req->stdio[i];
    if (fd < 0) {
      /* Inherit: Node opens its own stdio close-on-exec, so clear that here. */
      fcntl(i, F_SETFD, 0);
      continue;
    }
    if (fd == i) {
      if (fcntl(fd, F_SETFD, 0) < 0) fail_child(err_fd, HK_STAGE_DUP2);
    } else if (dup2(fd, i) < 0) {
      fail_child(err_fd, HK_STAGE_DUP2);
    }
  }
  if (req->cwd && chdir(req->cwd) < 0) fail_child(err_fd, HK_STAGE_CHDIR);
  /* Node and its addons may hold descriptors without O_CLOEXEC: the program gets none of them. */
  close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);

  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  execve(req->path, req->argv, req->envp);
  fail_child(err_fd, HK_STAGE_EXECVE);
}

static int wait_for_exec(pid_t pid, int err_fd, enum hk_launch_stage *stage) {
  for (;;) {
    int status;
    if (waitpid(pid, &status, __WALL) < 0) {
      if (errno == EINTR) continue;
      *stage = HK_STAGE_WAIT;
      return -errno;
    }
    if (WIFSTOPPED(status) && (status >> 8) == (SIGTRAP | (PTRACE_EVENT_EXEC << 8))) return 0;
    if (WIFSTOPPED(status)) { /* a signal before exec: pass it on */
      int sig = WSTOPSIG(status);
      if ((status >> 16) != 0) sig = 0; /* an event stop, not a signal */
      syscall(SYS_ptrace, PTRACE_CONT, pid, 0, (long)sig);
      continue;
    }
    /* The child died before exec succeeded: its pipe says why. */
    struct child_failure f;
    ssize_t n;
    do n = read(err_fd, &f, sizeof f); while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof f) {
      *stage = (enum hk_launch_stage)f.stage;
      return -f.err;
    }
    *stage = HK_STAGE_EXECVE;
    return -ECHILD;
  }
}

int hk_launch(const struct hk_launch_request *req, pid_t *pid_out, enum hk_launch_stage *stage) {
  int go[2], err[2];
  *stage = HK_STAGE_PIPE;
  if (pipe2(go, O_CLOEXEC) < 0) return -errno;
  if (pipe2(err, O_CLOEXEC) < 0) {
    int e = errno;
    close(go[0]);
    close(go[1]);
    return -e;
  }

  /* Block every signal across fork so the child never runs Node's handlers. */
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, &old);
  pid_t pid = fork();
  if (pid == 0) {
    close(go[1]);
    close(err[0]);
    run_child(req, go[0], err[1]);
  }
  int fork_errno = errno;
  sigprocmask(SIG_SETMASK, &old, NULL);
  close(go[0]);
  close(err[1]);
  int rc = 0;
  if (pid < 0) {
    *stage = HK_STAGE_FORK;
    rc = -fork_errno;
  } else if (syscall(SYS_ptrace, PTRACE_SEIZE, pid, 0,
                     req->options | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL) < 0) {
    *stage = HK_STAGE_SEIZE;
    rc = -errno;
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
  } else {
    char g = 1;
    write_all(go[1], &g, 1);
    rc = wait_for_exec(pid, err[0], stage);
    if (rc == 0) *stage = HK_STAGE_NONE;
  }
  close(go[1]);
  close(err[0]);
  if (rc == 0) *pid_out = pid;
  return rc;
}

const char *hk_launch_stage_name(enum hk_launch_stage stage) {
  static const char *const names[] = {"launch", "pipe2", "fork", "ptrace(PTRACE_SEIZE)", "waitpid",
                                      "setpgid", "dup2", "chdir", "execve"};
  return (unsigned)stage < sizeof names / sizeof names[0] ? names[stage] : "launch";
}
