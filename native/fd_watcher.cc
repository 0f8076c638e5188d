#include "fd_watcher.h"

FdWatcher::FdWatcher(Napi::Env env, Napi::Function callback) : callback_(env, callback, "hostkit:fd-watcher") {
  handle_.data = this;
}

FdWatcher *FdWatcher::Start(Napi::Env env, int fd, Napi::Function callback, int *uv_error) {
  uv_loop_t *loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  auto *w = new FdWatcher(env, callback);
  int r = uv_poll_init(loop, &w->handle_, fd);
  if (r != 0) {
    *uv_error = r;
    w->callback_.Reset();
    delete w;  // never initialized: nothing for libuv to close
    return nullptr;
  }
  r = uv_poll_start(&w->handle_, UV_READABLE, OnReadable);
  if (r != 0) {
    *uv_error = r;
    w->Close();
    return nullptr;
  }
  return w;
}

void FdWatcher::Close() {
  auto *h = reinterpret_cast<uv_handle_t *>(&handle_);
  if (uv_is_closing(h)) return;
  callback_.Reset();
  uv_close(h, OnClose);
}

void FdWatcher::OnClose(uv_handle_t *handle) { delete static_cast<FdWatcher *>(handle->data); }

void FdWatcher::OnReadable(uv_poll_t *handle, int, int) { static_cast<FdWatcher *>(handle->data)->callback_.Call(); }
