/* Benchmark inferior: maps and fills a buffer of MEGABYTES (default 64), prints
 * "ready PID ADDRESS", then spins so single-steps always have work. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

volatile unsigned long spins;

int main(int argc, char **argv) {
  size_t bytes = (size_t)(argc > 1 ? atol(argv[1]) : 64) << 20;
  unsigned char *buf = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (buf == MAP_FAILED) return 1;
  for (size_t i = 0; i < bytes; i++) buf[i] = (unsigned char)(i * 31);
  printf("ready %d %lx\n", (int)getpid(), (unsigned long)buf);
  fflush(stdout);
  for (;;) spins++;
}
