/* The floor for a snapshot's memory pass, in plain C on one thread: read
 * LENGTH bytes at ADDRESS of PID with process_vm_readv in 8 MiB chunks,
 * skip all-zero pages, pwrite the others into OUT, ftruncate to size.
 * Prints the seconds it took. Usage: snapshot-floor PID ADDRESS_HEX LENGTH OUT */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (8u << 20)
#define PAGE 4096u

int main(int argc, char **argv) {
  if (argc != 5) return 2;
  pid_t pid = atoi(argv[1]);
  unsigned long address = strtoul(argv[2], 0, 16);
  size_t length = strtoull(argv[3], 0, 10);
  int fd = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return 1;
  static const char zero[PAGE];
  char *buf = malloc(CHUNK);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (size_t done = 0; done < length; done += CHUNK) {
    size_t n = length - done < CHUNK ? length - done : CHUNK;
    struct iovec local = {buf, n}, remote = {(void *)(address + done), n};
    if (process_vm_readv(pid, &local, 1, &remote, 1, 0) != (ssize_t)n) memset(buf, 0, n);
    for (size_t p = 0; p < n; p += PAGE)
      if (memcmp(buf + p, zero, PAGE) != 0 && pwrite(fd, buf + p, PAGE, done + p) != PAGE) return 1;
  }
  if (ftruncate(fd, length) || close(fd)) return 1;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("%.3f\n", (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
  return 0;
}
