// N-API glue for `hostkit doctor` and `hostkit measure` (probe.c, measure.c):
// argument checks and conversions only. A probe's -errno is an answer (the
// facility is missing), returned as a number; a measurement that fails throws
// a SystemError naming the call (errors.h).
#include <napi.h>

#include "errors.h"
#include "host.h"
#include "napi_args.h"

namespace {

using hostkit_args::ArgInt;
using hostkit_args::TypeError;
using hostkit_errors::ThrowSystemError;

// probeSetSyscallInfo() -> { rc: 0 | -errno, syscall }.
Napi::Value ProbeSetSyscallInfo(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  const char *failed = "ptrace(PTRACE_SET_SYSCALL_INFO)";
  int rc = hk_probe_set_syscall_info(&failed);
  Napi::Object out = Napi::Object::New(env);
  out.Set("rc", Napi::Number::New(env, rc));
  out.Set("syscall", Napi::String::New(env, failed));
  return out;
}

// probeSeccompAction(action) -> 0 | -errno.
Napi::Value ProbeSeccompAction(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int64_t action;
  if (!ArgInt(info, 0, &action) || action < 0 || action > 0xffffffffLL) return TypeError(env, "probeSeccompAction(action: u32)");
  return Napi::Number::New(env, hk_probe_seccomp_action((uint32_t)action));
}

// probeSeccompNotifSizes() -> [notif, resp, data] | -errno.
Napi::Value ProbeSeccompNotifSizes(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  uint16_t sizes[3];
  int rc = hk_probe_seccomp_notif_sizes(sizes);
  if (rc < 0) return Napi::Number::New(env, rc);
  Napi::Array out = Napi::Array::New(env, 3);
  for (uint32_t i = 0; i < 3; i++) out.Set(i, Napi::Number::New(env, sizes[i]));
  return out;
}

// measure(kind, n, filter | null) -> mean nanoseconds per operation.
Napi::Value Measure(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int64_t kind, n;
  if (!ArgInt(info, 0, &kind) || !ArgInt(info, 1, &n) || n <= 0 || !(info[2].IsBuffer() || info[2].IsNull()))
    return TypeError(env, "measure(kind, n > 0, filter: Buffer | null)");
  struct hk_measure_job job = {(int)kind, (uint64_t)n, nullptr, 0};
  if (info[2].IsBuffer()) {
    auto buf = info[2].As<Napi::Buffer<uint8_t>>();
    if (buf.Length() % 8 != 0 || buf.Length() / 8 > 4096) return TypeError(env, "measure: filter is whole sock_filter entries (8 bytes), at most 4096");
    job.filter = buf.Data();
    job.filter_count = buf.Length() / 8;
  }
  double ns = 0;
  const char *failed = "measure";
  int rc = hk_measure(&job, &ns, &failed);
  if (rc < 0) return ThrowSystemError(env, rc, failed, Napi::Object::New(env));
  return Napi::Number::New(env, ns);
}

}  // namespace

void RegisterHost(Napi::Env env, Napi::Object exports) {
  exports.Set("probeSetSyscallInfo", Napi::Function::New(env, ProbeSetSyscallInfo, "probeSetSyscallInfo"));
  exports.Set("probeSeccompAction", Napi::Function::New(env, ProbeSeccompAction, "probeSeccompAction"));
  exports.Set("probeSeccompNotifSizes", Napi::Function::New(env, ProbeSeccompNotifSizes, "probeSeccompNotifSizes"));
  exports.Set("measure", Napi::Function::New(env, Measure, "measure"));
}
