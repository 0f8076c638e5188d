/* gdbsock-trace's program: traced() is called argv[1] times (default 20000), then done(). */
#include <stdlib.h>

volatile long total;

__attribute__((noinline)) void traced(long i) {
  total += i;
}

__attribute__((noinline)) void done(void) {
  __asm__ volatile("");
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 20000;
  for (long i = 0; i < n; i++) traced(i);
  done();
  return 0;
}
