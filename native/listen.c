/* Listening sockets made and taken from in C: gdbsock's transport waits for
 * its gdb on one of these instead of a net.Server, whose listen() loads
 * Node's cluster module (with child_process, dgram and dns) at every start. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "shims.h"

/* Node's (and libuv's) backlog for a listening socket. */
#define BACKLOG 511

static int listening(int fd, const struct sockaddr *addr, socklen_t len, const char **failed) {
  if (bind(fd, addr, len) < 0) {
    *failed = "bind";
  } else if (listen(fd, BACKLOG) < 0) {
    *failed = "listen";
  } else {
    return fd;
  }
  int err = errno;
  close(fd);
  return -err;
}

int hk_listen_inet(const char *host, int port, int *bound_port, const char **failed, int *gai_error) {
  char service[8];
  snprintf(service, sizeof service, "%d", port);
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
  struct addrinfo *found = NULL;
  int rc = getaddrinfo(host, service, &hints, &found);
  if (rc != 0) {
    *failed = "getaddrinfo";
    *gai_error = rc;
    return rc == EAI_SYSTEM ? -errno : -EINVAL;
  }
  /* The first address, as Node's lookup before its listen. */
  int fd = socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    freeaddrinfo(found);
    *failed = "socket";
    return -errno;
  }
  int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on); /* as libuv: a port in TIME_WAIT is free again */
  fd = listening(fd, found->ai_addr, found->ai_addrlen, failed);
  freeaddrinfo(found);
  if (fd < 0) return fd;
  struct sockaddr_storage bound;
  socklen_t len = sizeof bound;
  if (getsockname(fd, (struct sockaddr *)&bound, &len) < 0) {
    int err = errno;
    close(fd);
    *failed = "getsockname";
    return -err;
  }
  *bound_port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port : ((struct sockaddr_in *)&bound)->sin_port);
  return fd;
}

int hk_listen_path(const char *path, const char **failed) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof addr.sun_path) {
    *failed = "bind";
    return -ENAMETOOLONG;
  }
  strcpy(addr.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *failed = "socket";
    return -errno;
  }
  return listening(fd, (struct sockaddr *)&addr, sizeof addr, failed);
}

int hk_accept(int fd) {
  for (;;) {
    int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0 && errno == EINTR) continue;
    if (c < 0) return -errno;
    int on = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on); /* fails harmlessly on a unix socket */
    return c;
  }
}
