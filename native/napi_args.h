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

// A string (as UTF-8) or a Buffer (its bytes as they are: Linux paths, argv and
// environments need not be UTF-8) without a NUL byte, which would end it early
// once it is a C string.
inline bool ArgCString(Napi::Value v, std::string *out) {
  if (v.IsString()) {
    *out = v.As<Napi::String>().Utf8Value();
  } else if (v.IsBuffer()) {
    auto bytes = v.As<Napi::Buffer<char>>();
    out->assign(bytes.Data(), bytes.Length());
  } else {
    return false;
  }
  return out->find('\0') == std::string::npos;
}

// An array of what ArgCString takes (argv, envp).
inline bool ArgStrings(Napi::Value v, std::vector<std::string> *out) {
  if (!v.IsArray()) return false;
  auto a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    out->emplace_back();
    if (!ArgCString(a.Get(i), &out->back())) return false;
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
