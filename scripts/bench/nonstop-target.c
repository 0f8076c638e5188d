/* The non-stop benchmark's program (scripts/bench/gdbsock-nonstop.js): THREADS
 * threads, one after another, each calling hit() once, where gdb's breakpoint
 * is; as gdb.threads/multi-create-ns-info-thr.exp, whose time this follows. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define THREADS 64

volatile int hits;

__attribute__((noinline)) void hit(void) { hits++; }

static void *worker(void *arg) {
  (void)arg;
  hit();
  return NULL;
}

int main(void) {
  for (int i = 0; i < THREADS; i++) {
    pthread_t t;
    if (pthread_create(&t, NULL, worker, NULL) != 0) return 1;
    pthread_join(t, NULL);
  }
  printf("hits %d\n", hits);
  return 0;
}
