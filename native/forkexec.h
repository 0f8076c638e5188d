/* The C shims under hostkit/forkexec: seccomp filters, the user-notification
 * supervisor, the launcher's child and Landlock. No policy: the filters arrive
 * as ready BPF bytes from lib/forkexec/bpf.ts. The convention of shims.h:
 * >= 0 on success, -errno on failure, and `*failed` names the system call
 * that failed. */
#ifndef HOSTKIT_FORKEXEC_H
#define HOSTKIT_FORKEXEC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* seccomp.c: PR_SET_NO_NEW_PRIVS, then the filter (`insns` sock_filter entries).
 * Returns the listener fd when `flags` has SECCOMP_FILTER_FLAG_NEW_LISTENER, else 0. */
long hk_seccomp_install(const void *insns, size_t count, unsigned int flags, const char **failed);

/* landlock.c: a ruleset handling LANDLOCK_ACCESS_FS_EXECUTE that allows it
 * beneath each of `paths`; returns the ruleset fd (O_CLOEXEC). On failure
 * *failed_path is the index of the path that failed, or -1. */
int hk_landlock_exec_ruleset(const char *const *paths, size_t count, int *failed_path, const char **failed);
/* The Landlock ABI version, or -errno when Landlock is missing or disabled. */
int hk_landlock_abi(void);

/* forkexec_supervisor.c: answers seccomp user notifications on its own thread. */
#define HK_NOTE_PATH_MAX 512
#define HK_NOTE_ARGV_MAX 2048
enum hk_note_kind { HK_NOTE_SYSCALL = 0, HK_NOTE_EXIT = 1, HK_NOTE_GONE = 2 };
struct hk_note {
  int32_t kind;
  int32_t tid;        /* HK_NOTE_SYSCALL: the thread that asked; HK_NOTE_EXIT: the pid */
  int32_t pid;        /* HK_NOTE_SYSCALL: its process (Tgid), or 0 when it could not be read */
  uint32_t arch;      /* AUDIT_ARCH_* of the call */
  int32_t nr;         /* syscall number in that arch's table */
  uint64_t args[6];
  int32_t allowed;    /* 1 when answered with SECCOMP_USER_NOTIF_FLAG_CONTINUE */
  int32_t status;     /* HK_NOTE_EXIT: CLD_EXITED/CLD_KILLED/CLD_DUMPED << 16 | code or signal */
  int32_t path_len;   /* -1: no path read; bytes of `path` otherwise */
  int32_t argv_len;   /* -1: no argv read; bytes of NUL-separated `argv` otherwise */
  int32_t truncated;  /* the path or argv did not fit (or could not be read in full) */
  char path[HK_NOTE_PATH_MAX];
  char argv[HK_NOTE_ARGV_MAX];
};
/* An exec-family call: where its path and argv are (lib/forkexec/syscalls.ts, execCalls, is the one table). */
struct hk_exec_call {
  uint32_t arch;     /* AUDIT_ARCH_* */
  int32_t nr;
  uint8_t path_arg;  /* argument indexes, < 6 */
  uint8_t argv_arg;
  uint8_t initial;   /* the launcher's own first exec may be this call */
};
#define HK_EXEC_CALLS_MAX 16
struct hk_supervisor_policy {
  const struct hk_exec_call *exec_calls; /* copied by hk_supervisor_start */
  size_t exec_count;                     /* at most HK_EXEC_CALLS_MAX */
  pid_t first_exec_pid; /* > 0: answer CONTINUE to the first execve of this pid (the launcher) */
  int deny_errno;       /* every other notification fails with this errno */
  int signal;           /* 0, or a signal sent to the caller before the answer (SIGKILL, SIGSYS) */
};
struct hk_supervisor;
/* Takes ownership of `listener` and `pidfd` (-1: none; when it becomes readable the
 * child is reaped, an HK_NOTE_EXIT note is queued and the supervisor stops).
 * `wake(ctx)` is called on the supervisor thread after each queued note.
 * The supervisor is freed once both its thread has ended and the caller has
 * called hk_supervisor_release. */
int hk_supervisor_start(int listener, int pidfd, const struct hk_supervisor_policy *policy,
                        void (*wake)(void *), void *ctx, struct hk_supervisor **out, const char **failed);
/* Stops calling the wake hook (its event loop is going away); answering goes on. */
void hk_supervisor_unhook(struct hk_supervisor *s);
/* The caller is done with `s`: unhooks it, and frees it if its thread has ended (else the thread does). */
void hk_supervisor_release(struct hk_supervisor *s);
/* Moves up to `max` queued notes into `out`; returns how many. *dropped counts notes lost to a full queue. */
size_t hk_supervisor_drain(struct hk_supervisor *s, struct hk_note *out, size_t max, uint64_t *dropped);

/* forkexec_spawn.c: the launcher's child. */
struct hk_fe_spawn_request {
  const char *path;
  char *const *argv;
  char *const *envp;
  const void *filter; /* sock_filter entries, installed with SECCOMP_FILTER_FLAG_NEW_LISTENER */
  size_t filter_count;
  int landlock_fd;    /* -1: none */
  int exec_fd;        /* >= 0: execveat(exec_fd, "", AT_EMPTY_PATH), the very file the caller opened (and verified); -1: path */
};
enum hk_fe_stage { HK_FE_NONE, HK_FE_SOCKET, HK_FE_FORK, HK_FE_PRCTL, HK_FE_LANDLOCK, HK_FE_SECCOMP,
                   HK_FE_SENDMSG, HK_FE_RECVMSG, HK_FE_PIDFD, HK_FE_EXECVE };
/* Forks; the child installs the filter and hands the listener back, then calls
 * execve, which waits for the supervisor. On success: *pid, *listener, *pidfd and
 * *status_fd (EOF once the exec succeeded; hk_fe_spawn_result reads it). */
int hk_fe_spawn(const struct hk_fe_spawn_request *req, pid_t *pid, int *listener, int *pidfd, int *status_fd,
                enum hk_fe_stage *stage);
/* Blocks until the child's exec succeeded (0) or failed (-errno, *stage says where). Closes status_fd. */
int hk_fe_spawn_result(int status_fd, enum hk_fe_stage *stage);
/* The system call a stage makes, for the error: "socketpair", "execve" ... */
const char *hk_fe_stage_name(enum hk_fe_stage stage);

#ifdef __cplusplus
}
#endif
#endif
