#include "fd_watcher.h"

FdWatcher *FdWatcher::Start(Napi::Env env, int fd, Napi::Function callback, int *uv_error) {
  uv_loop_t *loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  auto *w = new FdWatcher(env, callback);
  if (!w->Initialized(uv_poll_init(loop, &w->handle_, fd), uv_error)) return nullptr;
  if (!w->Started(uv_poll_start(&w->handle_, UV_READABLE, OnReadable), uv_error)) return nullptr;
  return w;
}
