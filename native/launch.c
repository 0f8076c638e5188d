/* Start a program under trace: fork, PTRACE_SEIZE, then exec, with no JS
 * between fork and exec (libuv would otherwise reap or swallow its stops).
 *
 * The child waits on a pipe until the parent has seized it, so the seize needs
 * no job-control stop (a SIGSTOP would leave the group stopped after detach).
 * Exec failures travel back through a close-on-exec pipe. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "shims.h"

/* Runs in the forked child: async-signal-safe calls only. */
static void run_child(const struct hk_launch_request *req, int go_fd, int err_fd) {
  char go;
  ssize_t n;
  do n = read(go_fd, &go, 1); while (n < 0 && errno == EINTR);
  if (n != 1) _exit(127); /* the parent gave up */

  if (req->new_process_group && setpgid(0, 0) < 0) hk_child_fail(err_fd, HK_STAGE_SETPGID);
  if (req->no_randomization) {
    int persona = personality(0xffffffff);
    if (persona < 0 || personality((unsigned long)persona | ADDR_NO_RANDOMIZE) < 0) hk_child_fail(err_fd, HK_STAGE_PERSONALITY);
  }
  for (int i = 0; i < 3; i++) {
    int fd = req->stdio[i];
    if (fd < 0) {
      /* Inherit: Node opens its own stdio close-on-exec, so clear that here. */
      fcntl(i, F_SETFD, 0);
      continue;
    }
    if (fd == i) {
      if (fcntl(fd, F_SETFD, 0) < 0) hk_child_fail(err_fd, HK_STAGE_DUP2);
    } else if (dup2(fd, i) < 0) {
      hk_child_fail(err_fd, HK_STAGE_DUP2);
    }
  }
  if (req->cwd && chdir(req->cwd) < 0) hk_child_fail(err_fd, HK_STAGE_CHDIR);
  hk_child_close_others();
  hk_child_exec(req->path, req->argv, req->envp, err_fd, HK_STAGE_EXECVE);
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
    int failed_stage, err;
    if (hk_child_read_failure(err_fd, &failed_stage, &err) == 1) {
      *stage = (enum hk_launch_stage)failed_stage;
      return -err;
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

  pid_t pid = hk_child_fork();
  if (pid == 0) {
    close(go[1]);
    close(err[0]);
    run_child(req, go[0], err[1]);
  }
  int fork_errno = errno;
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
    ssize_t w;
    do w = write(go[1], &g, 1); while (w < 0 && errno == EINTR);
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
                                      "setpgid", "personality", "dup2", "chdir", "execve"};
  return (unsigned)stage < sizeof names / sizeof names[0] ? names[stage] : "launch";
}
