// The native side of hostkit's one error convention (lib/errors.ts): a failed
// system call throws the SystemError that lib/native.ts hands the addon at load
// (setErrorFactory), with code, errno, syscall, and the pid/tid/fd/path it
// concerned. Used by addon.cc and forkexec_binding.cc alike.
#ifndef HOSTKIT_ERRORS_H
#define HOSTKIT_ERRORS_H
#include <napi.h>

#include <string>

namespace hostkit_errors {

// Throws SystemError(-neg_errno, syscall, info) and returns undefined for the caller to return.
Napi::Value ThrowSystemError(Napi::Env env, long neg_errno, const std::string &syscall, Napi::Object info);

// Just { key: value }, the usual `info`.
inline Napi::Object Info(Napi::Env env, const char *key, double value) {
  Napi::Object o = Napi::Object::New(env);
  o.Set(key, Napi::Number::New(env, value));
  return o;
}

// { path }: the file a failed call concerned.
inline Napi::Object PathInfo(Napi::Env env, const std::string &path) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("path", Napi::String::New(env, path));
  return o;
}

}  // namespace hostkit_errors
#endif
