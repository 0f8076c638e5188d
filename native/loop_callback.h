// A JS function that libuv's callbacks (a signal, a readable descriptor) call
// on the JS thread: its reference, its async context, and the one way to call it.
#ifndef HOSTKIT_LOOP_CALLBACK_H
#define HOSTKIT_LOOP_CALLBACK_H
#include <napi.h>

class LoopCallback {
 public:
  LoopCallback(Napi::Env env, Napi::Function fn, const char *resource_name);
  // Calls the function with no arguments; nothing once Reset().
  void Call();
  // Drops the function and its async context (before the libuv handle closes).
  void Reset();

 private:
  napi_env env_;
  Napi::FunctionReference fn_;
  napi_async_context context_ = nullptr;
};
#endif
