/* Single-stepping in a loop without a trip to JS per instruction: for range
 * stepping (gdb's vCont;r), where a `next` over one source line is a handful
 * of steps and each trip through the JS event path costs more than the step. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "shims.h"

#ifndef NT_PRSTATUS
#define NT_PRSTATUS 1
#endif

/* Polls for tid's next status until `until`; 1 with *status set, 0 when time ran out, -errno.
 * Each pass yields first: the stepped thread may be queued on this very CPU, and
 * spinning would keep it from running. */
static int wait_until(pid_t tid, int64_t until, int *status) {
  for (;;) {
    sched_yield();
    int rc = hk_waitpid(tid, WNOHANG | __WALL, status);
    if (rc != 0) return rc < 0 ? rc : 1;
    if (hk_now_us() >= until) return 0;
  }
}

/* A stop that only says "one instruction done": SIGTRAP, no ptrace event, the caller's si_code. */
static int plain_step(pid_t tid, int status, int step_code) {
  if (!WIFSTOPPED(status) || WSTOPSIG(status) != SIGTRAP || (status >> 16) != 0) return 0;
  siginfo_t si;
  if (hk_ptrace_buffer(PTRACE_GETSIGINFO, tid, 0, &si) < 0) return 0;
  return si.si_code == step_code;
}

/* Reads the general regset into regs and takes the pc from it. */
static int pc_of(pid_t tid, void *regs, size_t regs_size, size_t pc_offset, uint64_t *pc) {
  long filled = hk_ptrace_regset(1, tid, NT_PRSTATUS, regs, regs_size);
  if (filled < 0) return (int)filled;
  if (pc_offset + 8 > (size_t)filled) return -EINVAL;
  memcpy(pc, (char *)regs + pc_offset, 8);
  return 0;
}

/* Whether a watched slot holds other bytes than last seen. Unreadable bytes
 * (unmapped meanwhile) count as unchanged: a debug register would not fire either. */
static int watched_changed(pid_t tid, const uint64_t *watch) {
  uint64_t now[HK_WATCH_SLOTS] = {0};
  struct iovec local[HK_WATCH_SLOTS], remote[HK_WATCH_SLOTS];
  int slot_of[HK_WATCH_SLOTS], n = 0;
  for (int i = 0; i < HK_WATCH_SLOTS; i++) {
    uint64_t length = watch[3 * i + 1];
    if (length == 0 || length > 8) continue;
    local[n] = (struct iovec){&now[i], (size_t)length};
    remote[n] = (struct iovec){(void *)(uintptr_t)watch[3 * i], (size_t)length};
    slot_of[n++] = i;
  }
  /* One call for every slot; a short read stops at the first unreadable one. */
  if (n == 0) return 0;
  ssize_t got;
  do got = process_vm_readv(tid, local, (unsigned long)n, remote, (unsigned long)n, 0); while (got < 0 && errno == EINTR);
  for (int k = 0; k < n && got > 0; k++) {
    int i = slot_of[k];
    if ((ssize_t)local[k].iov_len > got) break;
    got -= (ssize_t)local[k].iov_len;
    if (now[i] != watch[3 * i + 2]) return 1;
  }
  return 0;
}

static int avoided(uint64_t pc, const uint64_t *avoid, int navoid) {
  for (int i = 0; i < navoid; i++)
    if (avoid[i] == pc) return 1;
  return 0;
}

int hk_step_range(const struct hk_step_range *r, const char **failed) {
  int64_t start = hk_now_us();
  int signal = r->signal;
  for (;;) {
    long rc_step = hk_ptrace(PTRACE_SINGLESTEP, r->tid, 0, (uint64_t)signal);
    if (rc_step < 0) return (int)rc_step;
    signal = 0;
    int status = 0;
    int64_t now = hk_now_us();
    int rc = wait_until(r->tid, now + r->spin_us, &status);
    if (rc < 0 && rc != -ECHILD) *failed = "waitpid";
    if (rc < 0) return rc == -ECHILD ? HK_STEP_VANISHED : rc;
    if (rc == 0) return HK_STEP_RUNNING;
    if (!plain_step(r->tid, status, r->step_code)) return status;
    uint64_t pc = 0;
    if (pc_of(r->tid, r->regs, r->regs_size, r->pc_offset, &pc) < 0) return status;
    if (r->watch && watched_changed(r->tid, r->watch)) return HK_STEP_WATCHED;
    if (pc < r->start || pc >= r->end || avoided(pc, r->avoid, r->navoid)) return HK_STEP_LEFT;
    if (hk_now_us() - start >= r->budget_us) {
      /* Out of time: leave it stepping; the caller's reaper sees the stop, and the event loop gets a turn. */
      long rc_last = hk_ptrace(PTRACE_SINGLESTEP, r->tid, 0, 0);
      return rc_last < 0 ? (int)rc_last : HK_STEP_RUNNING;
    }
  }
}
