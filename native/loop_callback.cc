#include "loop_callback.h"

LoopCallback::LoopCallback(Napi::Env env, Napi::Function fn, const char *resource_name) : env_(env), fn_(Napi::Persistent(fn)) {
  napi_async_init(env, nullptr, Napi::String::New(env, resource_name), &context_);
}

void LoopCallback::Reset() {
  fn_.Reset();
  if (context_) napi_async_destroy(env_, context_);
  context_ = nullptr;
}

void LoopCallback::Call() {
  if (fn_.IsEmpty()) return;
  // Raw N-API on purpose: while Node tears its environment down JS can no
  // longer run, napi_make_callback then fails without an exception, and that
  // must be ignored rather than turned into a fatal error.
  napi_handle_scope scope;
  if (napi_open_handle_scope(env_, &scope) != napi_ok) return;
  napi_value global, result;
  napi_get_global(env_, &global);
  napi_status s = napi_make_callback(env_, context_, global, fn_.Value(), 0, nullptr, &result);
  if (s == napi_pending_exception) {
    // A throwing listener becomes an ordinary uncaught exception.
    napi_value error;
    if (napi_get_and_clear_last_exception(env_, &error) == napi_ok) napi_fatal_exception(env_, error);
  }
  napi_close_handle_scope(env_, scope);
}
