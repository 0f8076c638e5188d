/* The physical bound for `npm run bench -- bridge`: the same operations the JS
 * bridge performs, made directly from C against the same running target.
 * usage: bridge PID ADDRESS MEGABYTES ITERATIONS
 * prints one line per operation: NAME MEDIAN_NS (or NAME MB_PER_S). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp);
  return v[n / 2];
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void wait_stop(pid_t tid) {
  int status;
  if (waitpid(tid, &status, __WALL) < 0) die("waitpid");
  if (!WIFSTOPPED(status)) { fprintf(stderr, "not stopped: %x\n", status); exit(1); }
}

int main(int argc, char **argv) {
  if (argc < 5) { fprintf(stderr, "usage: bridge PID ADDRESS MEGABYTES ITERATIONS\n"); return 2; }
  pid_t pid = atoi(argv[1]);
  uintptr_t addr = strtoull(argv[2], NULL, 16);
  size_t bytes = (size_t)atol(argv[3]) << 20;
  int n = atoi(argv[4]);
  uint64_t *t = calloc((size_t)n, sizeof *t);

  if (ptrace(PTRACE_SEIZE, pid, 0, 0) < 0) die("PTRACE_SEIZE");
  if (ptrace(PTRACE_INTERRUPT, pid, 0, 0) < 0) die("PTRACE_INTERRUPT");
  wait_stop(pid);

  for (int i = 0; i < n; i++) {
    uint64_t t0 = now_ns();
    if (ptrace(PTRACE_SINGLESTEP, pid, 0, 0) < 0) die("PTRACE_SINGLESTEP");
    wait_stop(pid);
    t[i] = now_ns() - t0;
  }
  printf("step-roundtrip %llu\n", (unsigned long long)median(t, n));

  struct user_regs_struct regs;
  for (int i = 0; i < n; i++) {
    uint64_t t0 = now_ns();
    if (ptrace(PTRACE_GETREGS, pid, 0, &regs) < 0) die("PTRACE_GETREGS");
    t[i] = now_ns() - t0;
  }
  printf("getregs %llu\n", (unsigned long long)median(t, n));

  uint64_t word;
  for (int i = 0; i < n; i++) {
    struct iovec local = {&word, 8}, remote = {(void *)addr, 8};
    uint64_t t0 = now_ns();
    if (process_vm_readv(pid, &local, 1, &remote, 1, 0) != 8) die("process_vm_readv");
    t[i] = now_ns() - t0;
  }
  printf("read8 %llu\n", (unsigned long long)median(t, n));

  unsigned char *big = malloc(bytes);
  for (size_t i = 0; i < bytes; i += 4096) big[i] = 0; /* fault it in, as Node's Buffer is */
  int rounds = 7;
  for (int r = 0; r < rounds; r++) {
    struct iovec local = {big, bytes}, remote = {(void *)addr, bytes};
    uint64_t t0 = now_ns();
    if (process_vm_readv(pid, &local, 1, &remote, 1, 0) != (ssize_t)bytes) die("process_vm_readv (bulk)");
    t[r] = now_ns() - t0;
  }
  printf("bulk-read-ns %llu\n", (unsigned long long)median(t, rounds));

  if (ptrace(PTRACE_DETACH, pid, 0, 0) < 0) die("PTRACE_DETACH");
  return 0;
}
