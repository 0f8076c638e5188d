/* forkexec-getppid ITERATIONS ROUNDS [FILTER_FILE]: the cost of one getppid()
 * in a tight loop, optionally under a seccomp filter read from FILTER_FILE
 * (sock_filter bytes, as lib/forkexec/filter.ts builds them). Prints the
 * median ns per call over ROUNDS rounds. */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int compare(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  long iterations = atol(argv[1]);
  int rounds = atoi(argv[2]);
  if (argc > 3) {
    static unsigned char bytes[65536];
    FILE *f = fopen(argv[3], "rb");
    if (!f) return perror("fopen"), 1;
    size_t n = fread(bytes, 1, sizeof bytes, f);
    fclose(f);
    struct sock_fprog prog = {.len = (unsigned short)(n / 8), .filter = (struct sock_filter *)bytes};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) != 0)
      return perror("seccomp"), 1;
  }
  double *ns = calloc((size_t)rounds, sizeof *ns);
  for (int r = 0; r < rounds; r++) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < iterations; i++) syscall(SYS_getppid);
    clock_gettime(CLOCK_MONOTONIC, &b);
    ns[r] = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / (double)iterations;
  }
  qsort(ns, (size_t)rounds, sizeof *ns, compare);
  printf("%.2f\n", ns[rounds / 2]);
  return 0;
}
