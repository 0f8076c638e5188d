/* Answers seccomp user notifications (seccomp_unotify(2)) on a thread of its own.
 *
 * Two users: lock({ action: 'report' }) in this very process, and the forkexec
 * launcher supervising its child. In both the answer is "fail with errno",
 * except the launcher's one initial execve, answered with CONTINUE.
 *
 * The thread never calls malloc, stdio or anything that takes a libc lock:
 * glibc's fork() holds the malloc arena locks (and the stdio list lock) while
 * it is inside clone(), so a supervisor that needed one of them while a fork
 * waits for its answer would deadlock the process. Notes go into a fixed ring
 * under a mutex of our own, and the wake hook is uv_async_send (an eventfd write).
 *
 * What the report says about pointers (path, argv) is read from the caller's
 * memory through /proc/TID/mem, then the notification id is checked again
 * (SECCOMP_IOCTL_NOTIF_ID_VALID) so the tid cannot have been reused meanwhile.
 * Another thread of the caller may still change the strings between the call
 * and our read: the report is evidence, not a decision. Decisions never depend
 * on those bytes, and a denied call is never continued, so the usual
 * time-of-check/time-of-use hole of user notification does not apply. */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "forkexec.h"

#define RING_SIZE 64

struct hk_supervisor {
  int listener;
  int pidfd;
  struct hk_supervisor_policy policy; /* exec_calls points at exec_calls below */
  struct hk_exec_call exec_calls[HK_EXEC_CALLS_MAX];
  int first_exec_used;
  void (*wake)(void *);
  void *ctx;
  pthread_mutex_t lock;
  int refs; /* the thread's and the caller's, under `lock`: the last one out frees */
  struct hk_note ring[RING_SIZE];
  size_t head, count;
  uint64_t dropped;
  struct hk_note scratch; /* built by the thread, then copied into the ring */
  /* The kernel may grow struct seccomp_notif; SECCOMP_GET_NOTIF_SIZES says how much to hand it. */
  union {
    struct seccomp_notif notif;
    unsigned char bytes[512];
  } req;
  size_t req_size;
};

static void push(struct hk_supervisor *s, const struct hk_note *note) {
  pthread_mutex_lock(&s->lock);
  if (s->count == RING_SIZE) {
    s->dropped++;
  } else {
    s->ring[(s->head + s->count) % RING_SIZE] = *note;
    s->count++;
  }
  void (*wake)(void *) = s->wake;
  if (wake) wake(s->ctx); /* under the lock, so hk_supervisor_unhook cannot race with it */
  pthread_mutex_unlock(&s->lock);
}

void hk_supervisor_unhook(struct hk_supervisor *s) {
  pthread_mutex_lock(&s->lock);
  s->wake = NULL;
  pthread_mutex_unlock(&s->lock);
}

/* Drops one reference; the last frees. The thread drops its own only after it
 * closed the listener, so no caller can be waiting for an answer while it is in
 * free() (see the top of this file). */
static void unref(struct hk_supervisor *s) {
  pthread_mutex_lock(&s->lock);
  int left = --s->refs;
  pthread_mutex_unlock(&s->lock);
  if (left > 0) return;
  pthread_mutex_destroy(&s->lock);
  free(s);
}

void hk_supervisor_release(struct hk_supervisor *s) {
  hk_supervisor_unhook(s);
  unref(s);
}

size_t hk_supervisor_drain(struct hk_supervisor *s, struct hk_note *out, size_t max, uint64_t *dropped) {
  pthread_mutex_lock(&s->lock);
  size_t n = 0;
  while (n < max && s->count > 0) {
    out[n++] = s->ring[s->head];
    s->head = (s->head + 1) % RING_SIZE;
    s->count--;
  }
  *dropped = s->dropped;
  pthread_mutex_unlock(&s->lock);
  return n;
}

/* open("/proc/TID/<file>") without snprintf (see the top of this file). */
static int open_proc(pid_t tid, const char *file) {
  char path[48] = "/proc/";
  char digits[12];
  int n = 0;
  unsigned v = (unsigned)tid;
  do digits[n++] = (char)('0' + v % 10); while ((v /= 10) && n < 11);
  size_t at = 6;
  while (n > 0) path[at++] = digits[--n];
  path[at++] = '/';
  size_t len = strlen(file);
  if (at + len >= sizeof path) return -1;
  memcpy(path + at, file, len + 1);
  return open(path, O_RDONLY | O_CLOEXEC);
}

/* The process a thread belongs to: "Tgid:" in /proc/TID/status (the caller may be a forked child). */
static int32_t thread_group(pid_t tid) {
  static char text[1024];
  int fd = open_proc(tid, "status");
  if (fd < 0) return 0;
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0) return 0;
  text[n] = '\0';
  const char *p = strstr(text, "\nTgid:");
  if (!p) return 0;
  p += 6;
  while (*p == ' ' || *p == '\t') p++;
  int32_t v = 0;
  while (*p >= '0' && *p <= '9') v = v * 10 + (*p++ - '0');
  return v;
}

/* Reads a NUL-terminated string at `addr` into out[0..max); returns its length or -1. */
static ssize_t read_string(int mem, uint64_t addr, char *out, size_t max, int *truncated) {
  if (addr == 0 || max == 0) return -1;
  ssize_t got = pread(mem, out, max - 1, (off_t)addr);
  if (got <= 0) return -1;
  size_t len = strnlen(out, (size_t)got);
  if (len == (size_t)got) *truncated = 1;
  out[len] = '\0';
  return (ssize_t)len;
}

static uint64_t read_pointer(int mem, uint64_t addr, size_t width, int *ok) {
  uint64_t v = 0;
  *ok = pread(mem, &v, width, (off_t)addr) == (ssize_t)width;
  return width == 4 ? (uint32_t)v : v;
}

/* The exec-family call (arch, nr) is, or NULL. */
static const struct hk_exec_call *exec_call(const struct hk_supervisor *s, uint32_t arch, int nr) {
  for (size_t i = 0; i < s->policy.exec_count; i++)
    if (s->exec_calls[i].arch == arch && s->exec_calls[i].nr == nr) return &s->exec_calls[i];
  return NULL;
}

static void describe(struct hk_note *note, const struct seccomp_notif *req, const struct hk_exec_call *call) {
  note->path_len = -1;
  note->argv_len = -1;
  if (!call) return;
  uint64_t path = note->args[call->path_arg], argv = note->args[call->argv_arg];
  int mem = open_proc((pid_t)req->pid, "mem");
  if (mem < 0) return;
  size_t width = req->data.arch == AUDIT_ARCH_I386 ? 4 : 8;
  note->path_len = (int32_t)read_string(mem, path, note->path, sizeof note->path, &note->truncated);
  if (argv != 0) {
    size_t used = 0;
    for (int i = 0; i < 256; i++) {
      int ok;
      uint64_t p = read_pointer(mem, argv + (uint64_t)i * width, width, &ok);
      if (!ok) { note->truncated = 1; break; }
      if (p == 0) break;
      if (used + 1 >= sizeof note->argv) { note->truncated = 1; break; }
      ssize_t n = read_string(mem, p, note->argv + used, sizeof note->argv - used, &note->truncated);
      if (n < 0) { note->truncated = 1; break; }
      used += (size_t)n + 1;
    }
    note->argv_len = (int32_t)used;
  }
  close(mem);
}

static void answer(struct hk_supervisor *s) {
  struct seccomp_notif *req = &s->req.notif;
  struct hk_note *note = &s->scratch;
  memset(note, 0, offsetof(struct hk_note, path));
  note->path[0] = note->argv[0] = '\0';
  note->kind = HK_NOTE_SYSCALL;
  note->tid = (int32_t)req->pid;
  note->pid = thread_group((pid_t)req->pid);
  note->arch = req->data.arch;
  note->nr = req->data.nr;
  for (int i = 0; i < 6; i++) note->args[i] = req->data.args[i];
  const struct hk_exec_call *call = exec_call(s, req->data.arch, req->data.nr);
  describe(note, req, call);

  /* The launcher's own execve: the child is single-threaded, blocked in that call
   * and running only our code, so nothing can swap the path before the kernel
   * reads it again after CONTINUE. It is allowed once; the flag is never reset. */
  int allow = !s->first_exec_used && s->policy.first_exec_pid > 0 && (pid_t)req->pid == s->policy.first_exec_pid &&
              call && call->initial;
  if (allow) s->first_exec_used = 1;
  note->allowed = allow;

  /* A stale id means the caller died or was interrupted (it will ask again): nothing to report. */
  uint64_t id = req->id;
  if (ioctl(s->listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) < 0) return;

  if (!allow && s->policy.signal > 0) {
    /* kill(2) with a tid signals its whole process; tkill aims SIGSYS at the thread, like SECCOMP_RET_TRAP. */
    if (s->policy.signal == SIGKILL) kill((pid_t)req->pid, SIGKILL);
    else syscall(SYS_tkill, (pid_t)req->pid, s->policy.signal);
  }
  struct seccomp_notif_resp resp;
  memset(&resp, 0, sizeof resp);
  resp.id = req->id;
  if (allow) resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  else resp.error = -s->policy.deny_errno;
  if (ioctl(s->listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0) return; /* ENOENT: the caller went away */
  push(s, note);
}

static void reap(struct hk_supervisor *s) {
  siginfo_t info;
  memset(&info, 0, sizeof info);
  int rc;
  do rc = waitid((idtype_t)3 /* P_PIDFD */, (id_t)s->pidfd, &info, WEXITED);
  while (rc < 0 && errno == EINTR);
  struct hk_note *note = &s->scratch;
  memset(note, 0, sizeof *note);
  note->kind = HK_NOTE_EXIT;
  note->tid = info.si_pid;
  note->status = rc < 0 ? -errno : (info.si_code << 16) | (info.si_status & 0xffff);
  note->path_len = note->argv_len = -1;
  push(s, note);
}

static void *run(void *arg) {
  struct hk_supervisor *s = arg;
  int listening = 1;
  for (;;) {
    /* A negative fd is ignored by poll: once the listener hangs up only the pidfd is watched. */
    struct pollfd fds[2] = {{.fd = listening ? s->listener : -1, .events = POLLIN}, {.fd = s->pidfd, .events = POLLIN}};
    int n = poll(fds, s->pidfd >= 0 ? 2 : 1, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    if (fds[0].revents & POLLIN) {
      memset(s->req.bytes, 0, s->req_size);
      if (ioctl(s->listener, SECCOMP_IOCTL_NOTIF_RECV, s->req.bytes) == 0) answer(s);
      else if (errno != EINTR && errno != ENOENT) break;
      continue;
    }
    if (s->pidfd >= 0 && (fds[1].revents & POLLIN)) {
      reap(s);
      break;
    }
    /* POLLHUP on the listener: every process using the filter is gone. The
     * launcher's child may still be a zombie whose pidfd is not readable yet. */
    if (fds[0].revents & (POLLHUP | POLLERR | POLLNVAL)) {
      if (s->pidfd < 0) break;
      listening = 0;
    }
  }
  /* Closing the listener makes any later notification of this filter fail with
   * ENOSYS (kernel/seccomp.c, seccomp_do_user_notification): fail closed. */
  close(s->listener);
  if (s->pidfd >= 0) close(s->pidfd);
  if (s->pidfd < 0) {
    struct hk_note *note = &s->scratch;
    memset(note, 0, sizeof *note);
    note->kind = HK_NOTE_GONE;
    note->path_len = note->argv_len = -1;
    push(s, note);
  }
  unref(s);
  return NULL;
}

int hk_supervisor_start(int listener, int pidfd, const struct hk_supervisor_policy *policy,
                        void (*wake)(void *), void *ctx, struct hk_supervisor **out, const char **failed) {
  struct seccomp_notif_sizes sizes;
  *failed = "seccomp(SECCOMP_GET_NOTIF_SIZES)";
  if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0) return -errno;
  if (sizes.seccomp_notif > 512) return -EOVERFLOW;
  *failed = "calloc";
  struct hk_supervisor *s = calloc(1, sizeof *s);
  if (!s) return -ENOMEM;
  s->refs = 2;
  s->listener = listener;
  s->pidfd = pidfd;
  s->policy = *policy;
  if (s->policy.exec_count > HK_EXEC_CALLS_MAX) s->policy.exec_count = HK_EXEC_CALLS_MAX; /* the glue refuses more */
  memcpy(s->exec_calls, policy->exec_calls, s->policy.exec_count * sizeof *policy->exec_calls);
  s->policy.exec_calls = s->exec_calls;
  s->wake = wake;
  s->ctx = ctx;
  s->req_size = sizes.seccomp_notif;
  pthread_mutex_init(&s->lock, NULL);

  /* The thread takes no signals: Node's handlers must run elsewhere, and an
   * EINTR storm must not slow answers down. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t thread;
  int rc = pthread_create(&thread, &attr, run, s);
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    pthread_mutex_destroy(&s->lock);
    free(s);
    *failed = "pthread_create";
    return -rc;
  }
  *out = s;
  return 0;
}
