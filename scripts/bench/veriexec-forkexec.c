/* veriexec-guard bench: fork+execve(argv[2]) argv[1] times, each waited for;
 * prints the mean microseconds per fork+exec+exit. Exits 1 at the first
 * child that did not exit 0 (a denied exec). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  long n = atol(argv[1]);
  char *const args[] = {argv[2], NULL};
  char *const env[] = {NULL};
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < n; i++) {
    pid_t pid = fork();
    if (pid == 0) {
      execve(argv[2], args, env);
      _exit(127);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "run %ld failed\n", i);
      return 1;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%.2f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e3 / n);
  return 0;
}
