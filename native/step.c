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
#include <unistd.h>

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

/* Whether any access slot is set. */
static int accessing(const uint64_t *watch) {
  if (!watch) return 0;
  for (int i = 0; i < HK_WATCH_SLOTS; i++)
    if (watch[HK_WATCH_ACCESS + 2 * i + 1] != 0) return 1;
  return 0;
}
/* Register word `plus1 - 1` of regs, 0 for none (or one past the regset). */
static uint64_t reg_word(const uint64_t *regs, size_t nwords, uint64_t plus1) {
  return plus1 == 0 || plus1 > nwords ? 0 : regs[plus1 - 1];
}
/* The access slots one decoded instruction touches, from the registers it starts with. */
static uint64_t touched_slots(const uint64_t *entry, const uint64_t *regs, size_t nwords, const uint64_t *watch) {
  static const size_t FS_BASE = 21, GS_BASE = 22, RCX = 11; /* user_regs_struct words */
  uint64_t bits = 0;
  unsigned operands = (unsigned)(entry[3] >> 8) & 0xff;
  for (unsigned k = 0; k < operands && k < HK_INSN_OPERANDS; k++) {
    uint64_t displacement = entry[4 + 2 * k], layout = entry[5 + 2 * k];
    uint64_t size = layout >> 32, segment = (layout >> 24) & 3, scale = (layout >> 16) & 0xff;
    int addr32 = (layout >> 26) & 1;
    if ((layout >> 27) & 1) {
      uint64_t count = nwords > RCX ? regs[RCX] : 0;
      if ((addr32 ? (uint32_t)count : count) == 0) continue; /* rep with a zero count touches nothing */
    }
    uint64_t ea = displacement + reg_word(regs, nwords, layout & 0xff) + reg_word(regs, nwords, (layout >> 8) & 0xff) * scale;
    if (addr32) ea = (uint32_t)ea;
    if (segment == 1 && nwords > FS_BASE) ea += regs[FS_BASE];
    if (segment == 2 && nwords > GS_BASE) ea += regs[GS_BASE];
    for (int i = 0; i < HK_WATCH_SLOTS; i++) {
      uint64_t at = watch[HK_WATCH_ACCESS + 2 * i], length = watch[HK_WATCH_ACCESS + 2 * i + 1];
      if (length != 0 && ea < at + length && at < ea + size) bits |= 1ull << i;
    }
  }
  return bits;
}
/* The table's entry for pc whose bytes are still those in memory, or NULL. Bytes that
 * cannot be read (a pc on no mapping) leave the entry as it is: the step faults anyway. */
static const uint64_t *entry_for(pid_t tid, uint64_t pc, const uint64_t *insns, uint32_t entries) {
  if (!insns || entries == 0) return NULL;
  uint32_t at = HK_INSN_HASH(pc, entries);
  const uint64_t *entry = NULL;
  for (uint32_t probes = 0; probes < entries; probes++, at = (at + 1) & (entries - 1)) {
    const uint64_t *e = insns + (size_t)at * HK_INSN_WORDS;
    if (e[0] == 0) return NULL;
    if (e[0] == pc) { entry = e; break; }
  }
  if (!entry) return NULL;
  size_t length = (size_t)(entry[3] & 0xff);
  uint8_t now[16] = {0};
  struct iovec local = {now, length}, remote = {(void *)(uintptr_t)pc, length};
  ssize_t got;
  do got = process_vm_readv(tid, &local, 1, &remote, 1, 0); while (got < 0 && errno == EINTR);
  if (got != (ssize_t)length) return entry;
  return memcmp(now, &entry[1], length) == 0 ? entry : NULL; /* little-endian: the words' bytes are the code's */
}
int hk_watched_access(pid_t tid, const void *regs, size_t regs_size, size_t pc_offset, uint64_t *watch,
                      const uint64_t *insns, uint32_t insn_entries, uint64_t *bits) {
  uint64_t pc;
  if (pc_offset + 8 > regs_size) return -EINVAL;
  memcpy(&pc, (const char *)regs + pc_offset, 8);
  const uint64_t *entry = entry_for(tid, pc, insns, insn_entries);
  if (!entry) {
    watch[HK_WATCH_UNDECODED] = pc;
    return HK_STEP_UNDECODED;
  }
  *bits = touched_slots(entry, (const uint64_t *)regs, regs_size / 8, watch);
  return 0;
}
static int avoided(uint64_t pc, const uint64_t *avoid, int navoid) {
  for (int i = 0; i < navoid; i++)
    if (avoid[i] == pc) return 1;
  return 0;
}

static int step_range(const struct hk_step_range *r, const char **failed) {
  int64_t start = hk_now_us();
  int signal = r->signal;
  int access = accessing(r->watch);
  uint64_t touched = 0;
  if (r->watch) r->watch[HK_WATCH_HIT] = r->watch[HK_WATCH_STEPS] = 0;
  if (access) {
    uint64_t pc;
    int rc = pc_of(r->tid, r->regs, r->regs_size, r->pc_offset, &pc);
    if (rc < 0) *failed = "ptrace(PTRACE_GETREGSET)";
    if (rc < 0) return rc;
  }
  for (;;) {
    /* The registers in regs are those the next instruction starts with (read above, or after the last step). */
    if (access) {
      int rc = hk_watched_access(r->tid, r->regs, r->regs_size, r->pc_offset, r->watch, r->insns, r->insn_entries, &touched);
      if (rc != 0) return rc;
    }
    long rc_step = hk_ptrace(PTRACE_SINGLESTEP, r->tid, 0, (uint64_t)signal);
    if (rc_step < 0) return (int)rc_step;
    if (r->watch) r->watch[HK_WATCH_STEPS]++;
    signal = 0;
    int status = 0;
    int64_t now = hk_now_us();
    int rc = wait_until(r->tid, now + r->spin_us, &status);
    if (rc < 0 && rc != -ECHILD) *failed = "waitpid";
    if (rc < 0) return rc == -ECHILD ? HK_STEP_VANISHED : rc;
    if (rc == 0) {
      if (access) r->watch[HK_WATCH_HIT] = touched; /* the step still running touches these when it ends */
      return HK_STEP_RUNNING;
    }
    if (!plain_step(r->tid, status, r->step_code)) return status;
    uint64_t pc = 0;
    if (pc_of(r->tid, r->regs, r->regs_size, r->pc_offset, &pc) < 0) return status;
    if (touched) {
      r->watch[HK_WATCH_HIT] = touched;
      return HK_STEP_WATCHED;
    }
    if (r->watch && watched_changed(r->tid, r->watch)) return HK_STEP_WATCHED;
    if (pc < r->start || pc >= r->end || avoided(pc, r->avoid, r->navoid)) return HK_STEP_LEFT;
    if (hk_now_us() - start >= r->budget_us) {
      /* Out of time: leave it stepping; the caller's reaper sees the stop, and the event loop gets a turn. */
      if (access) {
        int rc_access = hk_watched_access(r->tid, r->regs, r->regs_size, r->pc_offset, r->watch, r->insns, r->insn_entries, &touched);
        if (rc_access != 0) return rc_access;
        r->watch[HK_WATCH_HIT] = touched;
      }
      long rc_last = hk_ptrace(PTRACE_SINGLESTEP, r->tid, 0, 0);
      if (rc_last < 0) return (int)rc_last;
      if (r->watch) r->watch[HK_WATCH_STEPS]++;
      return HK_STEP_RUNNING;
    }
  }
}

/* Each ptrace stop sends the tracer a SIGCHLD: while this loop waits for every step
 * itself, each is only work (a signal frame, libuv's handler writing its pipe, then a
 * reap in JS that finds nothing), and on a host where kernel crossings are dear it
 * cost as much as the step. SA_NOCLDSTOP holds the SIGCHLD of stops back for the
 * loop's time (kernel/signal.c, do_notify_parent_cldstop; exits still send theirs);
 * SIGCHLD raised after it stands for any stop the loop did not reap itself (a step
 * it left running, another thread's stop), if one is waiting. */
int hk_step_range(const struct hk_step_range *r, const char **failed) {
  struct sigaction loud, quiet;
  int held = sigaction(SIGCHLD, NULL, &loud) == 0 && loud.sa_handler != SIG_IGN && loud.sa_handler != SIG_DFL;
  if (held) {
    quiet = loud;
    quiet.sa_flags |= SA_NOCLDSTOP;
    held = sigaction(SIGCHLD, &quiet, NULL) == 0;
  }
  int rc = step_range(r, failed);
  if (held) {
    sigaction(SIGCHLD, &loud, NULL);
    /* Stops from now on send their own; one from before is still waiting to be reaped. */
    siginfo_t waiting;
    memset(&waiting, 0, sizeof waiting);
    if (waitid(P_ALL, 0, &waiting, WEXITED | WSTOPPED | WNOHANG | WNOWAIT | __WALL) != 0 || waiting.si_pid != 0) kill(getpid(), SIGCHLD);
  }
  return rc;
}
