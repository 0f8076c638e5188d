/* The skeleton both of hostkit's fork-and-exec paths share: launch.c (a traced
 * child) and forkexec_spawn.c (the forkexec launcher's locked child). Between
 * fork and exec the child runs only async-signal-safe calls; a step that fails
 * there sends { stage, errno } down a close-on-exec descriptor, so the parent
 * reads either that or, once the exec has closed it, end of file. */
#ifndef HOSTKIT_CHILD_H
#define HOSTKIT_CHILD_H

#include <stdint.h>
#include <sys/types.h>

/* What a failed step sends. */
struct hk_child_failure {
  int32_t stage;
  int32_t err;
};

/* Forks with every signal blocked, so the child never runs Node's handlers;
 * the parent's mask is back as it was when this returns there. In the child
 * every disposition is SIG_DFL again (Node ignores SIGPIPE) and every signal
 * stays blocked until hk_child_exec. Returns as fork(2) does (-1: errno set). */
pid_t hk_child_fork(void);

/* In the child: descriptors 3 and up close on exec (Node and its addons may hold
 * some without O_CLOEXEC: the program gets none of them). */
void hk_child_close_others(void);

/* In the child: sends { stage, errno } on `fd` and exits 127. */
__attribute__((noreturn)) void hk_child_fail(int fd, int stage);

/* In the child: unblocks signals and execs; if that fails, hk_child_fail(fd, stage). */
__attribute__((noreturn)) void hk_child_exec(const char *path, char *const argv[], char *const envp[], int fd,
                                             int stage);

/* In the child: as hk_child_exec, of the open file exec_fd (execveat with AT_EMPTY_PATH). */
__attribute__((noreturn)) void hk_child_exec_fd(int exec_fd, char *const argv[], char *const envp[], int fd, int stage);

/* In the parent: 1 when the child sent a failure (*stage and *err, a positive
 * errno, set), 0 at end of file (the exec happened), -EPROTO for a short
 * message, -errno if the read failed. */
int hk_child_read_failure(int fd, int *stage, int *err);

#endif
