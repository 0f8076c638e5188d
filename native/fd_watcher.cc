#include "fd_watcher.h"

FdWatcher::FdWatcher(Napi::Env env, Napi::Function callback) : env_(env), callback_(Napi::Persistent(callback)) {
  handle_.data = this;
  napi_async_init(env, nullptr, Napi::String::New(env, "hostkit:fd-watcher"), &context_);
}

FdWatcher *FdWatcher::Start(Napi::Env env, int fd, Napi::Function callback, int *uv_error) {
  uv_loop_t *loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  auto *w = new FdWatcher(env, callback);
  int r = uv_poll_init(loop, &w->handle_, fd);
  if (r != 0) {
    *uv_error = r;
    w->callback_.Reset();
    napi_async_destroy(env, w->context_);
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
  if (context_) napi_async_destroy(env_, context_);
  context_ = nullptr;
  uv_close(h, OnClose);
}

void FdWatcher::OnClose(uv_handle_t *handle) { delete static_cast<FdWatcher *>(handle->data); }

void FdWatcher::OnReadable(uv_poll_t *handle, int, int) {
  auto *w = static_cast<FdWatcher *>(handle->data);
  if (w->callback_.IsEmpty()) return;
  // As SigchldWatcher: raw N-API, so a callback during Node's teardown fails quietly.
  napi_env env = w->env_;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value global, result;
  napi_get_global(env, &global);
  napi_status s = napi_make_callback(env, w->context_, global, w->callback_.Value(), 0, nullptr, &result);
  if (s == napi_pending_exception) {
    napi_value error;
    if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
  }
  napi_close_handle_scope(env, scope);
}
