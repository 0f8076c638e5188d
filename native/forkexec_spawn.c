/* The forkexec launcher's child: fork, then (single-threaded, async-signal-safe
 * calls only) no_new_privs, the optional Landlock ruleset, the seccomp filter
 * with a user-notification listener, the listener handed to the parent over
 * SCM_RIGHTS, and execve, which the filter turns into a notification that the
 * parent's supervisor answers with CONTINUE exactly once. */
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "forkexec.h"

struct failure {
  int32_t stage;
  int32_t err;
};

static void send_failure(int sock, enum hk_fe_stage stage) {
  struct failure f = {(int32_t)stage, errno};
  ssize_t w;
  do w = send(sock, &f, sizeof f, MSG_NOSIGNAL); while (w < 0 && errno == EINTR);
  _exit(127);
}

static void run_child(const struct hk_fe_spawn_request *req, int sock) {
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; s++) sigaction(s, &dfl, NULL); /* Node ignores SIGPIPE */
  for (int i = 0; i < 3; i++) fcntl(i, F_SETFD, 0);       /* inherit the launcher's stdio */
  close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);                /* and nothing else */

  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) send_failure(sock, HK_FE_PRCTL);
  if (req->landlock_fd >= 0 && syscall(SYS_landlock_restrict_self, req->landlock_fd, 0) < 0)
    send_failure(sock, HK_FE_LANDLOCK);
  struct sock_fprog prog = {.len = (unsigned short)req->filter_count, .filter = (struct sock_filter *)req->filter};
  int listener = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
  if (listener < 0) send_failure(sock, HK_FE_SECCOMP);

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
  if (w < 0) send_failure(sock, HK_FE_SENDMSG);
  close(listener); /* the supervisor's copy is the only one left */

  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  execve(req->path, req->argv, req->envp);
  send_failure(sock, HK_FE_EXECVE);
}

static int receive_listener(int sock, int *listener, enum hk_fe_stage *stage) {
  char data[sizeof(struct failure)];
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
  if (n == (ssize_t)sizeof(struct failure)) {
    struct failure f;
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

  /* Every signal blocked across fork so the child never runs Node's handlers. */
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, &old);
  pid_t pid = fork();
  if (pid == 0) {
    close(sv[0]);
    run_child(req, sv[1]);
  }
  int fork_errno = errno;
  sigprocmask(SIG_SETMASK, &old, NULL);
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
  struct failure f;
  ssize_t n;
  do n = recv(status_fd, &f, sizeof f, 0); while (n < 0 && errno == EINTR);
  close(status_fd);
  *stage = HK_FE_NONE;
  if (n == 0) return 0; /* the close-on-exec end closed: the exec happened */
  if (n == (ssize_t)sizeof f) {
    *stage = (enum hk_fe_stage)f.stage;
    return -f.err;
  }
  *stage = HK_FE_EXECVE;
  return n < 0 ? -errno : -EPROTO;
}

const char *hk_fe_stage_name(enum hk_fe_stage stage) {
  static const char *const names[] = {"launch", "socketpair", "fork", "prctl(PR_SET_NO_NEW_PRIVS)",
                                      "landlock_restrict_self", "seccomp(SECCOMP_SET_MODE_FILTER)", "sendmsg",
                                      "recvmsg", "pidfd_open", "execve"};
  return (unsigned)stage < sizeof names / sizeof names[0] ? names[stage] : "execve";
}
