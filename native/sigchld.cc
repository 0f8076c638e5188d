#include "sigchld.h"

#include <signal.h>

SigchldWatcher *SigchldWatcher::Start(Napi::Env env, Napi::Function callback, int *uv_error) {
  uv_loop_t *loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  auto *w = new SigchldWatcher(env, callback);
  if (!w->Initialized(uv_signal_init(loop, &w->handle_), uv_error)) return nullptr;
  if (!w->Started(uv_signal_start(&w->handle_, OnSignal, SIGCHLD), uv_error)) return nullptr;
  uv_unref(reinterpret_cast<uv_handle_t *>(&w->handle_));
  return w;
}

void SigchldWatcher::Ref(bool keep_alive) {
  auto *h = reinterpret_cast<uv_handle_t *>(&handle_);
  if (keep_alive) uv_ref(h);
  else uv_unref(h);
}
