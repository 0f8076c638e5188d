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

struct hk_fan_reader {
  int group;   /* the fanotify group, O_NONBLOCK */
  int stop;    /* an eventfd: readable once the thread must end */
  int channel; /* the supervisor's socket, or -1 */
  int own_count;
  int32_t own[HK_FAN_MAX_OWN]; /* pids whose events are allowed at once: ours, the supervisor's */
  uint64_t own_events;         /* how many were */
  int error;                   /* why the thread ended early: -errno, and the call */
  const char *error_call;
  /* Hands a malloc'd batch of (mask, fd, pid, 0) quadruples to JavaScript, which frees it. */
  void (*deliver)(struct hk_fan_reader *r, int32_t *batch, int count);
  void *context;
};

void *hk_fan_reader_main(void *reader);
/* Writes the response for event fd, notes it done on the channel, closes fd; 0 or -errno of the write. */
int hk_fan_respond(struct hk_fan_reader *r, int fd, uint32_t response);

#ifdef __cplusplus
}
#endif
#endif
