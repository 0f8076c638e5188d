/* hostkit/veriexec's fanotify reader (veriexec_fanotify.c). Same convention as
 * shims.h: >= 0 on success, -errno on failure. */
#ifndef HOSTKIT_VERIEXEC_H
#define HOSTKIT_VERIEXEC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Records on the supervisor channel: two int32s, an op and an event fd. */
enum { HK_FAN_HELD = 1, HK_FAN_DONE = 2, HK_FAN_BYE = 3 };

#define HK_FAN_MAX_OWN 8

/* What identifies a file's state for a remembered allow: any change to the file
 * (content, a rename over it, a new link) changes one of these. */
struct hk_fan_key {
  uint64_t dev, ino, size, mtime_ns, ctime_ns, path_hash;
  uint32_t mode, mask; /* mask: FAN_OPEN_EXEC_PERM or FAN_OPEN_PERM */
};

struct hk_fan_reader {
  int group;   /* the fanotify group, O_NONBLOCK */
  int stop;    /* an eventfd: readable once the thread must end */
  int channel; /* the supervisor's socket, or -1 */
  int own_count;
  int32_t own[HK_FAN_MAX_OWN]; /* pids whose events are allowed at once: ours, the supervisor's */
  uint64_t own_events;         /* how many were */
  int error;                   /* why the thread ended early: -errno, and the call */
  const char *error_call;
  /* Allows JavaScript gave with "remember": answered on this thread when the
   * same file state comes again (slots 0: none). Direct-mapped; guarded by cache_lock. */
  void *cache_lock; /* a pthread_mutex_t, allocated by hk_fan_cache_init */
  struct hk_fan_key *cache;
  uint32_t cache_slots;
  uint64_t cache_hits;
  /* Hands a malloc'd batch of (mask, fd, pid, 0) quadruples to JavaScript, which frees it. */
  void (*deliver)(struct hk_fan_reader *r, int32_t *batch, int count);
  void *context;
};

void *hk_fan_reader_main(void *reader);
/* Writes the response for event fd, notes it done on the channel, closes fd; 0 or -errno of the write.
 * With remember_mask (the event's mask) and FAN_ALLOW, the file's state is remembered first. */
int hk_fan_respond(struct hk_fan_reader *r, int fd, uint32_t response, uint32_t remember_mask);
/* The cache of remembered allows: made with `slots` entries (0: none), emptied, freed. */
int hk_fan_cache_init(struct hk_fan_reader *r, uint32_t slots);
void hk_fan_cache_clear(struct hk_fan_reader *r);
void hk_fan_cache_free(struct hk_fan_reader *r);

#ifdef __cplusplus
}
#endif
#endif
