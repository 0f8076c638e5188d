// Argument checks shared by the N-API glue files (addon.cc, forkexec_binding.cc):
// each returns false on a wrong type, and the caller throws a TypeError.
#ifndef HOSTKIT_NAPI_ARGS_H
#define HOSTKIT_NAPI_ARGS_H
#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

namespace hostkit_args {

inline Napi::Value TypeError(Napi::Env env, const std::string &msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

// An integral Number (no fractions, no BigInt).
inline bool ArgInt(const Napi::CallbackInfo &info, size_t i, int64_t *out) {
  if (!info[i].IsNumber()) return false;
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (d != (double)(int64_t)d) return false;
  *out = (int64_t)d;
  return true;
}

// An array of strings without NUL bytes (argv, envp).
inline bool ArgStrings(Napi::Value v, std::vector<std::string> *out) {
  if (!v.IsArray()) return false;
  auto a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value s = a.Get(i);
    if (!s.IsString()) return false;
    out->push_back(s.As<Napi::String>().Utf8Value());
    if (out->back().find('\0') != std::string::npos) return false;
  }
  return true;
}

// A NULL-terminated char* array over `v`, which must outlive it.
inline std::vector<char *> CStrings(std::vector<std::string> &v) {
  std::vector<char *> p;
  for (auto &s : v) p.push_back(&s[0]);
  p.push_back(nullptr);
  return p;
}

}  // namespace hostkit_args
#endif
