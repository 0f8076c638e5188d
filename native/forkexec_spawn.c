/* The forkexec launcher's child, on child.c's fork-and-exec skeleton: fork,
 * then (single-threaded, async-signal-safe calls only) no_new_privs, the optional Landlock ruleset, the seccomp filter
 * with a user-notification listener, the listener handed to the parent over
 * SCM_RIGHTS, and execve, which the filter turns into a notification that the
 * parent's supervisor answers with CONTINUE exactly once. */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "forkexec.h"

static void run_child(const struct hk_fe_spawn_request *req, int sock) {
  for (int i = 0; i < 3; i++) fcntl(i, F_SETFD, 0); /* inherit the launcher's stdio */
  hk_child_close_others();                          /* and nothing else */

  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) hk_child_fail(sock, HK_FE_PRCTL);
  if (req->landlock_fd >= 0 && syscall(SYS_landlock_restrict_self, req->landlock_fd, 0) < 0)
    hk_child_fail(sock, HK_FE_LANDLOCK);
  struct sock_fprog prog = {.len = (unsigned short)req->filter_count, .filter = (struct sock_filter *)req->filter};
  int listener = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
  if (listener < 0) hk_child_fail(sock, HK_FE_SECCOMP);

  char byte = 0;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    struct cmsghdr h;
    char space[CMSG_SPACE(sizeof(int))];
  } control;
  memset(&control, 0, sizeof control);
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.space,
                       .msg_controllen = sizeof control.space};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &listener, sizeof(int));
  ssize_t w;
  do w = sendmsg(sock, &msg, MSG_NOSIGNAL); while (w < 0 && errno == EINTR);
  if (w < 0) hk_child_fail(sock, HK_FE_SENDMSG);
  close(listener); /* the supervisor's copy is the only one left */
  if (req->exec_fd >= 0) hk_child_exec_fd(req->exec_fd, req->argv, req->envp, sock, HK_FE_EXECVE);
  hk_child_exec(req->path, req->argv, req->envp, sock, HK_FE_EXECVE);
}

static int receive_listener(int sock, int *listener, enum hk_fe_stage *stage) {
  char data[sizeof(struct hk_child_failure)];
  struct iovec iov = {.iov_base = data, .iov_len = sizeof data};
  union {
    struct cmsghdr h;
    char space[CMSG_SPACE(sizeof(int))];
  } control;
  memset(&control, 0, sizeof control);
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.space,
                       .msg_controllen = sizeof control.space};
  ssize_t n;
  do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); while (n < 0 && errno == EINTR);
  if (n < 0) {
    *stage = HK_FE_RECVMSG;
    return -errno;
  }
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
    memcpy(listener, CMSG_DATA(c), sizeof(int));
    return 0;
  }
  if (n == (ssize_t)sizeof(struct hk_child_failure)) {
    struct hk_child_failure f;
    memcpy(&f, data, sizeof f);
    *stage = (enum hk_fe_stage)f.stage;
    return -f.err;
  }
  *stage = HK_FE_RECVMSG;
  return -EPROTO;
}

int hk_fe_spawn(const struct hk_fe_spawn_request *req, pid_t *pid_out, int *listener, int *pidfd, int *status_fd,
                enum hk_fe_stage *stage) {
  int sv[2];
  *stage = HK_FE_SOCKET;
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return -errno;

  pid_t pid = hk_child_fork();
  if (pid == 0) {
    close(sv[0]);
    run_child(req, sv[1]);
  }
  int fork_errno = errno;
  close(sv[1]);
  if (pid < 0) {
    close(sv[0]);
    *stage = HK_FE_FORK;
    return -fork_errno;
  }
  int rc = receive_listener(sv[0], listener, stage);
  if (rc == 0) {
    *pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (*pidfd < 0) {
      rc = -errno;
      *stage = HK_FE_PIDFD;
      close(*listener);
    }
  }
  if (rc < 0) {
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
    close(sv[0]);
    return rc;
  }
  *pid_out = pid;
  *status_fd = sv[0];
  *stage = HK_FE_NONE;
  return 0;
}

int hk_fe_spawn_result(int status_fd, enum hk_fe_stage *stage) {
  int failed_stage, err;
  int rc = hk_child_read_failure(status_fd, &failed_stage, &err);
  close(status_fd);
  *stage = HK_FE_NONE;
  if (rc == 0) return 0; /* the close-on-exec end closed: the exec happened */
  if (rc == 1) {
    *stage = (enum hk_fe_stage)failed_stage;
    return -err;
  }
  *stage = HK_FE_EXECVE;
  return rc;
}

const char *hk_fe_stage_name(enum hk_fe_stage stage) {
  static const char *const names[] = {"launch", "socketpair", "fork", "prctl(PR_SET_NO_NEW_PRIVS)",
                                      "landlock_restrict_self", "seccomp(SECCOMP_SET_MODE_FILTER)", "sendmsg",
                                      "recvmsg", "pidfd_open", "execve"};
  return (unsigned)stage < sizeof names / sizeof names[0] ? names[stage] : "execve";
}
