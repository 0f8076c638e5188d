/*
 * The floor for socket mode: a C server on the kernel's coredump socket
 * that acks KERNEL and reads every byte into nothing. What the kernel's own
 * writing costs, before anyone stores or compresses anything.
 *   coredump-socket-floor PATH COUNT: serves COUNT cores, then exits.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  strncpy(addr.sun_path, argv[1], sizeof addr.sun_path - 1);
  unlink(argv[1]);
  int server = socket(AF_UNIX, SOCK_STREAM, 0);
  if (server < 0 || bind(server, (struct sockaddr *)&addr, sizeof addr) || listen(server, 4096)) { perror("listen"); return 1; }
  chmod(argv[1], 0600);
  printf("listening %s\n", argv[1]);
  fflush(stdout);
  static char buf[1 << 20];
  for (int served = 0; served < atoi(argv[2]); served++) {
    int fd = accept(server, NULL, NULL);
    if (fd < 0) continue;
    unsigned char head[16];
    if (recv(fd, head, sizeof head, MSG_WAITALL) != sizeof head) { close(fd); continue; }
    if (memcmp(head, "\177ELF", 4) != 0) {
      uint64_t ack[2] = {16, 1}; /* size 16, spare 0; mask COREDUMP_KERNEL */
      uint32_t mark;
      if (send(fd, ack, sizeof ack, MSG_NOSIGNAL) != sizeof ack || recv(fd, &mark, 4, MSG_WAITALL) != 4 || mark != 0) { close(fd); continue; }
    }
    while (read(fd, buf, sizeof buf) > 0) {
    }
    close(fd);
  }
  unlink(argv[1]);
  return 0;
}
