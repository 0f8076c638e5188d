#include "sigchld.h"

#include <signal.h>

SigchldWatcher::SigchldWatcher(Napi::Env env, Napi::Function callback) : callback_(env, callback, "hostkit:sigchld") {
  handle_.data = this;
}

SigchldWatcher *SigchldWatcher::Start(Napi::Env env, Napi::Function callback, int *uv_error) {
  uv_loop_t *loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  auto *w = new SigchldWatcher(env, callback);
  int r = uv_signal_init(loop, &w->handle_);
  if (r != 0) {
    *uv_error = r;
    w->callback_.Reset();
    delete w;  // never initialized: nothing for libuv to close
    return nullptr;
  }
  r = uv_signal_start(&w->handle_, OnSignal, SIGCHLD);
  if (r != 0) {
    *uv_error = r;
    w->Close();
    return nullptr;
  }
  uv_unref(reinterpret_cast<uv_handle_t *>(&w->handle_));
  return w;
}

void SigchldWatcher::Ref(bool keep_alive) {
  auto *h = reinterpret_cast<uv_handle_t *>(&handle_);
  if (keep_alive) uv_ref(h); else uv_unref(h);
}

void SigchldWatcher::Close() {
  auto *h = reinterpret_cast<uv_handle_t *>(&handle_);
  if (uv_is_closing(h)) return;
  callback_.Reset();
  uv_close(h, OnClose);
}

void SigchldWatcher::OnClose(uv_handle_t *handle) { delete static_cast<SigchldWatcher *>(handle->data); }

void SigchldWatcher::OnSignal(uv_signal_t *handle, int) { static_cast<SigchldWatcher *>(handle->data)->callback_.Call(); }
