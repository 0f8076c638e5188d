// A libuv handle (a signal, a polled descriptor) with the JS function its
// callbacks call: what every such watcher shares, from a failed start to the
// close that frees it. Watchers derive from it and call Fire from their libuv
// callback.
#ifndef HOSTKIT_LOOP_HANDLE_H
#define HOSTKIT_LOOP_HANDLE_H
#include <napi.h>
#include <uv.h>

#include "loop_callback.h"

template <typename Handle>
class LoopHandle {
 public:
  // Stops at once; deletes this once libuv has closed the handle.
  void Close() {
    auto *h = reinterpret_cast<uv_handle_t *>(&handle_);
    if (uv_is_closing(h)) return;
    callback_.Reset();
    uv_close(h, OnClose);
  }

 protected:
  LoopHandle(Napi::Env env, Napi::Function fn, const char *resource_name) : callback_(env, fn, resource_name) {
    handle_.data = this;
  }
  virtual ~LoopHandle() = default;

  // Whether uv_*_init returned 0; if not, sets *uv_error and deletes this (libuv never had the handle).
  bool Initialized(int r, int *uv_error) {
    if (r == 0) return true;
    *uv_error = r;
    callback_.Reset();
    delete this;
    return false;
  }

  // Whether uv_*_start returned 0; if not, sets *uv_error and closes this.
  bool Started(int r, int *uv_error) {
    if (r == 0) return true;
    *uv_error = r;
    Close();
    return false;
  }

  // Calls the JS function of the watcher that owns `handle`.
  static void Fire(Handle *handle) { static_cast<LoopHandle *>(handle->data)->callback_.Call(); }

  Handle handle_;

 private:
  static void OnClose(uv_handle_t *handle) { delete static_cast<LoopHandle *>(handle->data); }

  LoopCallback callback_;
};
#endif
