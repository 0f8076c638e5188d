#include "sigchld.h"

#include <signal.h>

SigchldWatcher::SigchldWatcher(Napi::Env env, Napi::Function callback)
    : env_(env), callback_(Napi::Persistent(callback)) {
  handle_.data = this;
  napi_async_init(env, nullptr, Napi::String::New(env, "hostkit:sigchld"), &context_);
}

SigchldWatcher *SigchldWatcher::Start(Napi::Env env, Napi::Function callback, int *uv_error) {
  uv_loop_t *loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  auto *w = new SigchldWatcher(env, callback);
  int r = uv_signal_init(loop, &w->handle_);
  if (r == 0) r = uv_signal_start(&w->handle_, OnSignal, SIGCHLD);
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
  if (context_) napi_async_destroy(env_, context_);
  context_ = nullptr;
  uv_close(h, OnClose);
}

void SigchldWatcher::OnClose(uv_handle_t *handle) { delete static_cast<SigchldWatcher *>(handle->data); }

void SigchldWatcher::OnSignal(uv_signal_t *handle, int) {
  auto *w = static_cast<SigchldWatcher *>(handle->data);
  if (w->callback_.IsEmpty()) return;
  // Raw N-API on purpose: while Node tears its environment down JS can no
  // longer run, napi_make_callback then fails without an exception, and that
  // must be ignored rather than turned into a fatal error.
  napi_env env = w->env_;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value global, result;
  napi_get_global(env, &global);
  napi_status s = napi_make_callback(env, w->context_, global, w->callback_.Value(), 0, nullptr, &result);
  if (s == napi_pending_exception) {
    // A throwing listener becomes an ordinary uncaught exception.
    napi_value error;
    if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
  }
  napi_close_handle_scope(env, scope);
}
