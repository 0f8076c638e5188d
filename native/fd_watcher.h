// A descriptor watched for readability by libuv, calling back on the JS thread:
// the listening socket gdbsock's transport accepts on.
#ifndef HOSTKIT_FD_WATCHER_H
#define HOSTKIT_FD_WATCHER_H
#include <napi.h>
#include <uv.h>

#include "loop_handle.h"

class FdWatcher : public LoopHandle<uv_poll_t> {
 public:
  // Starts watching fd; calls `callback` (no arguments) each time it is readable. The handle
  // is referenced: like a listening server, it keeps Node alive until Close().
  static FdWatcher *Start(Napi::Env env, int fd, Napi::Function callback, int *uv_error);

 private:
  FdWatcher(Napi::Env env, Napi::Function callback) : LoopHandle(env, callback, "hostkit:fd-watcher") {}
  static void OnReadable(uv_poll_t *handle, int, int) { Fire(handle); }
};
#endif
