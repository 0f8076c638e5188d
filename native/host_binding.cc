// N-API glue for `hostkit doctor` and `hostkit measure` (probe.c, measure.c):
// argument checks and conversions only. A probe's -errno is an answer (the
// facility is missing), returned as a number; a measurement that fails throws
// a SystemError naming the call (errors.h).
#include <errno.h>
#include <napi.h>

#include "errors.h"
#include "host.h"
#include "napi_args.h"

namespace {

using hostkit_args::ArgInt;
using hostkit_args::TypeError;
using hostkit_errors::ThrowSystemError;

// A probe that tries a call on a child of ours: { rc, syscall }, the call that failed (or would have).
Napi::Value ProbeOutcome(Napi::Env env, int (*probe)(const char **failed), const char *call) {
  const char *failed = call;
  int rc = probe(&failed);
  Napi::Object out = Napi::Object::New(env);
  out.Set("rc", Napi::Number::New(env, rc));
  out.Set("syscall", Napi::String::New(env, failed));
  return out;
}

// probeSetSyscallInfo() -> { rc: 0 | -errno, syscall }.
Napi::Value ProbeSetSyscallInfo(const Napi::CallbackInfo &info) {
  return ProbeOutcome(info.Env(), hk_probe_set_syscall_info, "ptrace(PTRACE_SET_SYSCALL_INFO)");
}

// probeDebugRegisters() -> { rc: 1 (they fire) | 0 (they do not) | -errno, syscall }.
Napi::Value ProbeDebugRegisters(const Napi::CallbackInfo &info) {
  return ProbeOutcome(info.Env(), hk_probe_debug_registers, "ptrace(PTRACE_POKEUSER)");
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

// mapShared(fd, length) -> an ArrayBuffer over a MAP_SHARED mapping, unmapped when collected.
Napi::Value MapShared(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int64_t fd, len;
  if (!ArgInt(info, 0, &fd) || !ArgInt(info, 1, &len) || len <= 0) return TypeError(env, "mapShared(fd, length > 0)");
  const char *failed = "mmap";
  void *p = hk_map_shared((int)fd, (size_t)len, &failed);
  if (!p) return ThrowSystemError(env, -errno, failed, hostkit_errors::Info(env, "fd", (double)fd));
  size_t length = (size_t)len;
  return Napi::ArrayBuffer::New(env, p, length, [length](Napi::Env, void *data) { hk_unmap_shared(data, length); });
}

// The 4-byte word at `offset` of an ArrayBuffer from mapShared, or null when out of range or unaligned.
uint32_t *Word(const Napi::CallbackInfo &info) {
  if (!info[0].IsArrayBuffer() || !info[1].IsNumber()) return nullptr;
  auto buf = info[0].As<Napi::ArrayBuffer>();
  int64_t offset;
  if (!ArgInt(info, 1, &offset) || offset < 0 || offset % 4 != 0 || (size_t)offset + 4 > buf.ByteLength()) return nullptr;
  return reinterpret_cast<uint32_t *>(static_cast<char *>(buf.Data()) + offset);
}

// futexWait(buffer, offset, expected, timeoutMs) -> 0 woken, 1 not `expected` any more, -errno (-ETIMEDOUT).
Napi::Value FutexWait(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  uint32_t *word = Word(info);
  int64_t expected, timeout;
  if (!word || !ArgInt(info, 2, &expected) || !ArgInt(info, 3, &timeout)) return TypeError(env, "futexWait(buffer, offset, expected, timeoutMs)");
  return Napi::Number::New(env, hk_futex_wait(word, (uint32_t)expected, (int)timeout));
}

// futexWake(buffer, offset, count) -> waiters woken.
Napi::Value FutexWake(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  uint32_t *word = Word(info);
  int64_t count;
  if (!word || !ArgInt(info, 2, &count)) return TypeError(env, "futexWake(buffer, offset, count)");
  int rc = hk_futex_wake(word, (int)count);
  if (rc < 0) return ThrowSystemError(env, rc, "futex(FUTEX_WAKE)", Napi::Object::New(env));
  return Napi::Number::New(env, rc);
}

}  // namespace

void RegisterHost(Napi::Env env, Napi::Object exports) {
  exports.Set("probeSetSyscallInfo", Napi::Function::New(env, ProbeSetSyscallInfo, "probeSetSyscallInfo"));
  exports.Set("probeDebugRegisters", Napi::Function::New(env, ProbeDebugRegisters, "probeDebugRegisters"));
  exports.Set("probeSeccompAction", Napi::Function::New(env, ProbeSeccompAction, "probeSeccompAction"));
  exports.Set("probeSeccompNotifSizes", Napi::Function::New(env, ProbeSeccompNotifSizes, "probeSeccompNotifSizes"));
  exports.Set("measure", Napi::Function::New(env, Measure, "measure"));
  exports.Set("mapShared", Napi::Function::New(env, MapShared, "mapShared"));
  exports.Set("futexWait", Napi::Function::New(env, FutexWait, "futexWait"));
  exports.Set("futexWake", Napi::Function::New(env, FutexWake, "futexWake"));
}
