/* hostkit/veriexec's fanotify reader (lib/veriexec/fanotify.ts): a thread that
 * reads a permission group's events so that the events of this very process are
 * answered (FAN_ALLOW) without JavaScript. The decider runs on Node's main
 * thread; if that thread opened or ran a file under a mark itself (a require(),
 * a readFileSync), it would wait on a permission event only it could answer.
 * Every other event goes to JavaScript in batches; with a supervisor channel
 * the fd number of each is written there first, so that a supervisor holding
 * the group can deny what a dead decider had read but not answered
 * (fanotify_user.c, process_access_response: a response is matched to a
 * pending event by that number alone, whichever process writes it). */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <unistd.h>

#include "veriexec.h"

#define READ_BUFFER 65536

static int write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct pollfd pfd = {fd, POLLOUT, 0};
        poll(&pfd, 1, 100);
        continue;
      }
      return -errno;
    }
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

static void channel_note(struct hk_fan_reader *r, int32_t op, int32_t fd) {
  if (r->channel < 0) return;
  int32_t rec[2] = {op, fd};
  write_all(r->channel, rec, sizeof rec);
}

int hk_fan_respond(struct hk_fan_reader *r, int fd, uint32_t response) {
  struct fanotify_response resp = {fd, response};
  int rc = 0;
  if (write(r->group, &resp, sizeof resp) < 0) rc = -errno;
  /* "done" before close: once closed, the number can come back with the next
   * event, whose "held" must follow this record on the channel. */
  channel_note(r, HK_FAN_DONE, fd);
  close(fd);
  return rc;
}

static int own(const struct hk_fan_reader *r, int32_t pid) {
  for (int i = 0; i < r->own_count; i++)
    if (r->own[i] == pid) return 1;
  return 0;
}

void *hk_fan_reader_main(void *arg) {
  struct hk_fan_reader *r = arg;
  char *buf = malloc(READ_BUFFER);
  int32_t *batch = malloc(sizeof(int32_t) * 4 * (READ_BUFFER / FAN_EVENT_METADATA_LEN));
  if (!buf || !batch) {
    r->error = -ENOMEM;
    r->error_call = "malloc";
    goto out;
  }
  for (;;) {
    struct pollfd pfd[2] = {{r->group, POLLIN, 0}, {r->stop, POLLIN, 0}};
    if (poll(pfd, 2, -1) < 0) {
      if (errno == EINTR) continue;
      r->error = -errno;
      r->error_call = "poll";
      break;
    }
    if (pfd[1].revents) break;
    ssize_t n = read(r->group, buf, READ_BUFFER);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      r->error = -errno;
      r->error_call = "read(fanotify)";
      break;
    }
    /* Every number first, then decisions: the shortest window in which a
     * SIGKILL leaves the supervisor blind to an event we hold. */
    ssize_t left = n;
    for (struct fanotify_event_metadata *m = (void *)buf; FAN_EVENT_OK(m, left); m = FAN_EVENT_NEXT(m, left))
      if (m->fd >= 0 && !own(r, m->pid)) channel_note(r, HK_FAN_HELD, m->fd);
    int count = 0;
    left = n;
    for (struct fanotify_event_metadata *m = (void *)buf; FAN_EVENT_OK(m, left); m = FAN_EVENT_NEXT(m, left)) {
      if (m->vers != FANOTIFY_METADATA_VERSION) {
        r->error = -EPROTO;
        r->error_call = "read(fanotify): metadata version";
        goto out;
      }
      if (m->fd >= 0 && own(r, m->pid)) {
        struct fanotify_response resp = {m->fd, FAN_ALLOW};
        write(r->group, &resp, sizeof resp);
        close(m->fd);
        __atomic_add_fetch(&r->own_events, 1, __ATOMIC_RELAXED);
        continue;
      }
      /* mask's low word holds every event bit we mark, and FAN_Q_OVERFLOW (fd FAN_NOFD). */
      batch[count * 4] = (int32_t)(uint32_t)m->mask;
      batch[count * 4 + 1] = m->fd;
      batch[count * 4 + 2] = m->pid;
      batch[count * 4 + 3] = 0;
      count++;
    }
    if (count > 0) {
      int32_t *copy = malloc(sizeof(int32_t) * 4 * count);
      if (!copy) {
        /* Nobody can decide these: deny rather than leave them waiting. */
        for (int i = 0; i < count; i++)
          if (batch[i * 4 + 1] >= 0) hk_fan_respond(r, batch[i * 4 + 1], FAN_DENY);
        continue;
      }
      memcpy(copy, batch, sizeof(int32_t) * 4 * count);
      r->deliver(r, copy, count);
    }
  }
out:
  free(buf);
  free(batch);
  return NULL;
}
