/* The process the remote-syscall benchmark works in.
 * usage: remote-target wait          sleeps in pause() until killed (a tracer makes calls in it)
 *        remote-target native N BASE  makes N mmap+mprotect+munmap triples itself, one page each
 *                                     at BASE + i pages (MAP_FIXED_NOREPLACE, as the tracer's
 *                                     calls do), and prints the seconds they took */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

int main(int argc, char **argv) {
  if (argc > 1 && argv[1][0] == 'w') {
    for (;;) pause();
  }
  if (argc < 4) return 2;
  long n = atol(argv[2]);
  unsigned long base = strtoul(argv[3], NULL, 0);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < n; i++) {
    unsigned long at = base + (unsigned long)i * 4096;
    /* Raw calls: the same system calls the tracer's records make, without libc's wrappers. */
    long p = syscall(SYS_mmap, at, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p != (long)at) return 3;
    if (syscall(SYS_mprotect, at, 4096, PROT_READ)) return 4;
    if (syscall(SYS_munmap, at, 4096)) return 5;
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%.6f\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
  return 0;
}
