/* The system calls under hostkit/veriexec's FUSE server (fuse.c): mounting
 * over /dev/fuse, the thread that reads the kernel's requests, writing
 * replies and notifications, and opening the source tree without leaving it.
 * The protocol itself (include/uapi/linux/fuse.h) is TypeScript:
 * lib/veriexec/fuse/. Same convention as shims.h: >= 0 on success, -errno on
 * failure, and `failed` names the call that failed. */
#ifndef HOSTKIT_FUSE_H
#define HOSTKIT_FUSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Opens /dev/fuse and mounts it at `mountpoint` with `flags` (MS_*) and
 * "fd=N," followed by `options`. The fd (close-on-exec) on success. */
int hk_fuse_mount(const char *mountpoint, const char *source, const char *fstype, unsigned long flags, const char *options,
                  const char **failed);
/* umount2(2). */
int hk_fuse_unmount(const char *mountpoint, int flags);

/* openat2(2) of `path` beneath `dirfd` with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS
 * | RESOLVE_NO_MAGICLINKS: no "..", absolute path or symbolic link on the way
 * takes it out of the tree (a link as the last component needs O_PATH | O_NOFOLLOW). */
int hk_fuse_open_beneath(int dirfd, const char *path, int flags);
/* The target of the symbolic link `path` beneath `dirfd` (found as above): its length, or -errno. */
ssize_t hk_fuse_readlink_beneath(int dirfd, const char *path, char *buf, size_t len);

/* One write(2) of a reply or a notification, retried on EINTR. */
ssize_t hk_fuse_write(int fd, const void *buf, size_t len);

/* The reader: a thread that polls the fd (made non-blocking) and hands each
 * request to deliver(); it ends when hk_fuse_reader_stop() is called (err 0)
 * or the connection does (-ENODEV once unmounted and aborted), calling
 * ended(err) last. deliver() must copy what it keeps. */
struct hk_fuse_reader;
typedef void (*hk_fuse_deliver)(void *ctx, const uint8_t *request, size_t len);
typedef void (*hk_fuse_ended)(void *ctx, int err);
struct hk_fuse_reader *hk_fuse_reader_start(int fd, size_t buffer_size, hk_fuse_deliver deliver, hk_fuse_ended ended, void *ctx,
                                            int *err, const char **failed);
void hk_fuse_reader_stop(struct hk_fuse_reader *r);
/* Waits for the thread (after ended()) and frees the reader. */
void hk_fuse_reader_free(struct hk_fuse_reader *r);

#ifdef __cplusplus
}
#endif
#endif
