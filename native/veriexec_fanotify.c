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
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
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

/* The state of the file behind an event fd: its stat and a hash (FNV-1a) of the path it was opened by. */
static int key_of(int fd, uint32_t mask, struct hk_fan_key *k) {
  struct stat st;
  if (fstat(fd, &st) < 0) return -errno;
  char link[64], path[4096];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path);
  if (n < 0) return -errno;
  uint64_t h = 1469598103934665603ULL;
  for (ssize_t i = 0; i < n; i++) h = (h ^ (unsigned char)path[i]) * 1099511628211ULL;
  memset(k, 0, sizeof *k);
  k->dev = st.st_dev;
  k->ino = st.st_ino;
  k->size = (uint64_t)st.st_size;
  k->mtime_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000ULL + (uint64_t)st.st_mtim.tv_nsec;
  k->ctime_ns = (uint64_t)st.st_ctim.tv_sec * 1000000000ULL + (uint64_t)st.st_ctim.tv_nsec;
  k->path_hash = h;
  k->mode = st.st_mode;
  /* The kind, as fanotify.ts tells it: an exec's event may carry FAN_OPEN_PERM beside FAN_OPEN_EXEC_PERM. */
  k->mask = (mask & FAN_OPEN_EXEC_PERM) ? FAN_OPEN_EXEC_PERM : FAN_OPEN_PERM;
  return 0;
}

static uint32_t slot_of(const struct hk_fan_reader *r, const struct hk_fan_key *k) {
  /* Mixed so that every field reaches the low bits: an exec and the open that follows it (same file, two masks) must not share a slot. */
  uint64_t h = k->ino ^ k->path_hash ^ k->ctime_ns ^ k->mask; /* splitmix64's finalizer: every input bit reaches every output bit */
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return (uint32_t)(h % r->cache_slots);
}

int hk_fan_cache_init(struct hk_fan_reader *r, uint32_t slots) {
  r->cache_slots = 0;
  if (slots == 0) return 0;
  pthread_mutex_t *lock = malloc(sizeof *lock);
  r->cache = calloc(slots, sizeof *r->cache);
  if (!lock || !r->cache) {
    free(lock);
    free(r->cache);
    r->cache = NULL;
    return -ENOMEM;
  }
  pthread_mutex_init(lock, NULL);
  r->cache_lock = lock;
  r->cache_slots = slots;
  return 0;
}

void hk_fan_cache_clear(struct hk_fan_reader *r) {
  if (!r->cache_slots) return;
  pthread_mutex_lock(r->cache_lock);
  memset(r->cache, 0, sizeof *r->cache * r->cache_slots);
  pthread_mutex_unlock(r->cache_lock);
}

void hk_fan_cache_free(struct hk_fan_reader *r) {
  if (!r->cache_slots) return;
  pthread_mutex_destroy(r->cache_lock);
  free(r->cache_lock);
  free(r->cache);
  r->cache = NULL;
  r->cache_slots = 0;
}

static void remember(struct hk_fan_reader *r, int fd, uint32_t mask) {
  struct hk_fan_key k;
  if (!r->cache_slots || key_of(fd, mask, &k) < 0) return;
  pthread_mutex_lock(r->cache_lock);
  r->cache[slot_of(r, &k)] = k;
  pthread_mutex_unlock(r->cache_lock);
}

static int remembered(struct hk_fan_reader *r, int fd, uint32_t mask) {
  struct hk_fan_key k;
  if (!r->cache_slots || key_of(fd, mask, &k) < 0) return 0;
  pthread_mutex_lock(r->cache_lock);
  int hit = memcmp(&r->cache[slot_of(r, &k)], &k, sizeof k) == 0;
  pthread_mutex_unlock(r->cache_lock);
  return hit;
}

int hk_fan_respond(struct hk_fan_reader *r, int fd, uint32_t response, uint32_t remember_mask) {
  if (remember_mask && response == FAN_ALLOW) remember(r, fd, remember_mask);
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
      /* A file state JavaScript allowed before, unchanged since: answered here, with no hop to Node's thread. */
      if (m->fd >= 0 && remembered(r, m->fd, (uint32_t)m->mask)) {
        hk_fan_respond(r, m->fd, FAN_ALLOW, 0);
        __atomic_add_fetch(&r->cache_hits, 1, __ATOMIC_RELAXED);
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
          if (batch[i * 4 + 1] >= 0) hk_fan_respond(r, batch[i * 4 + 1], FAN_DENY, 0);
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
