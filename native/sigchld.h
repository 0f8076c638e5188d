// SIGCHLD as a libuv signal handle: the tracer's wake-up on the JS main thread.
#ifndef HOSTKIT_SIGCHLD_H
#define HOSTKIT_SIGCHLD_H
#include <napi.h>
#include <uv.h>

#include "loop_handle.h"

class SigchldWatcher : public LoopHandle<uv_signal_t> {
 public:
  // Starts watching; calls `callback` (no arguments) on the JS thread after each SIGCHLD.
  // The handle starts unreferenced so an idle tracer never keeps Node alive.
  static SigchldWatcher *Start(Napi::Env env, Napi::Function callback, int *uv_error);
  void Ref(bool keep_alive);

 private:
  SigchldWatcher(Napi::Env env, Napi::Function callback) : LoopHandle(env, callback, "hostkit:sigchld") {}
  static void OnSignal(uv_signal_t *handle, int) { Fire(handle); }
};
#endif
