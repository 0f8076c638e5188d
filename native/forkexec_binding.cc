// N-API glue for hostkit/forkexec: argument checks and conversions only.
// A failed system call throws a SystemError naming it (errors.h), as in addon.cc.
#include <napi.h>
#include <unistd.h>
#include <uv.h>

#include <string>
#include <vector>

#include "forkexec.h"
#include "errors.h"
#include "napi_args.h"

namespace {

using hostkit_args::ArgInt;
using hostkit_args::ArgStrings;
using hostkit_args::CStrings;
using hostkit_args::TypeError;
using hostkit_errors::Info;
using hostkit_errors::ThrowSystemError;

// sock_filter entries are 8 bytes (linux/filter.h).
bool ArgFilter(const Napi::CallbackInfo &info, size_t i, const void **data, size_t *count) {
  if (!info[i].IsBuffer()) return false;
  auto buf = info[i].As<Napi::Buffer<uint8_t>>();
  if (buf.Length() == 0 || buf.Length() % 8 != 0) return false;
  *data = buf.Data();
  *count = buf.Length() / 8;
  return true;
}

// The calling process, which a failed lock concerns.
Napi::Object Self(Napi::Env env) { return Info(env, "pid", (double)getpid()); }

// seccompInstall(filter, flags) -> listener fd, or 0 without SECCOMP_FILTER_FLAG_NEW_LISTENER.
Napi::Value SeccompInstall(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  const void *data;
  size_t count;
  int64_t flags;
  if (!ArgFilter(info, 0, &data, &count) || !ArgInt(info, 1, &flags))
    return TypeError(env, "seccompInstall(filter, flags)");
  const char *failed = "seccomp";
  long rc = hk_seccomp_install(data, count, (unsigned)flags, &failed);
  if (rc < 0) return ThrowSystemError(env, rc, failed, Self(env));
  return Napi::Number::New(env, (double)rc);
}

// landlockAbi() -> the Landlock ABI version.
Napi::Value LandlockAbi(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int abi = hk_landlock_abi();
  if (abi < 0) return ThrowSystemError(env, abi, "landlock_create_ruleset", Napi::Object::New(env));
  return Napi::Number::New(env, abi);
}

// landlockExecRuleset(paths) -> ruleset fd; a failure names the path it concerned.
Napi::Value LandlockExecRuleset(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::vector<std::string> paths;
  if (!ArgStrings(info[0], &paths)) return TypeError(env, "landlockExecRuleset(paths)");
  std::vector<const char *> p;
  for (auto &s : paths) p.push_back(s.c_str());
  int failed_path = -1;
  const char *failed = "landlock_create_ruleset";
  int rc = hk_landlock_exec_ruleset(p.data(), p.size(), &failed_path, &failed);
  if (rc < 0) {
    Napi::Object extra = Napi::Object::New(env);
    if (failed_path >= 0) extra.Set("path", Napi::String::New(env, paths[(size_t)failed_path]));
    return ThrowSystemError(env, rc, failed, extra);
  }
  return Napi::Number::New(env, rc);
}

// execCalls: a Uint32Array of (audit arch, nr, path arg, argv arg, initial) rows (lib/forkexec/syscalls.ts).
bool IsExecTable(Napi::Value v) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) return false;
  Napi::Uint32Array t = v.As<Napi::Uint32Array>();
  if (t.ElementLength() % 5 != 0 || t.ElementLength() / 5 > HK_EXEC_CALLS_MAX) return false;
  for (size_t i = 0; i < t.ElementLength(); i += 5)
    if (t[i + 2] >= 6 || t[i + 3] >= 6) return false;
  return true;
}

// One per supervisor: wakes the JS thread through a uv_async handle.
struct SupervisorHandle {
  napi_env env;
  uv_async_t async;
  Napi::FunctionReference callback;
  napi_async_context context = nullptr;
  hk_supervisor *supervisor = nullptr;
  bool closed = false;
  // Held by the open uv handle and by the JS External: the last to let go deletes.
  int refs = 2;
  // Drained notes are copied out through this, one buffer per supervisor: notes are large (a path
  // and an argv each), and a buffer shared by all supervisors would be shared by Worker threads too.
  hk_note notes[16];
};

void OnWake(uv_async_t *async) {
  auto *h = static_cast<SupervisorHandle *>(async->data);
  if (h->callback.IsEmpty()) return;
  napi_env env = h->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value global, result;
  napi_get_global(env, &global);
  napi_status s = napi_make_callback(env, h->context, global, h->callback.Value(), 0, nullptr, &result);
  if (s == napi_pending_exception) {
    napi_value error;
    if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
  }
  napi_close_handle_scope(env, scope);
}

void Wake(void *ctx) { uv_async_send(&static_cast<SupervisorHandle *>(ctx)->async); }

void Unref(SupervisorHandle *h) {
  if (--h->refs == 0) delete h;
}

// Stops the wakes, lets go of the supervisor (freed once its thread ends too) and closes the uv handle.
void CloseHandle(SupervisorHandle *h) {
  if (h->closed) return;
  h->closed = true;
  hk_supervisor_release(h->supervisor);
  h->supervisor = nullptr;
  h->callback.Reset();
  uv_close(reinterpret_cast<uv_handle_t *>(&h->async),
           [](uv_handle_t *handle) { Unref(static_cast<SupervisorHandle *>(handle->data)); });
}

// When this environment goes away first (a Worker, or Node's exit), the thread stops waking
// it: uv_async_send on a closed loop would abort.
void OnEnvCleanup(void *arg) { CloseHandle(static_cast<SupervisorHandle *>(arg)); }

// supervisorStart(listener, pidfd, firstExecPid, denyErrno, signal, keepAlive, onNote, execCalls) -> handle.
// The handle lives until supervisorClose (or its environment's end).
Napi::Value SupervisorStart(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int64_t listener, pidfd, first, deny, sig;
  if (!ArgInt(info, 0, &listener) || !ArgInt(info, 1, &pidfd) || !ArgInt(info, 2, &first) ||
      !ArgInt(info, 3, &deny) || !ArgInt(info, 4, &sig) || !info[5].IsBoolean() || !info[6].IsFunction() ||
      !IsExecTable(info[7]))
    return TypeError(env, "supervisorStart(listener, pidfd, firstExecPid, denyErrno, signal, keepAlive, onNote, execCalls)");
  Napi::Uint32Array table = info[7].As<Napi::Uint32Array>();
  auto *h = new SupervisorHandle();
  h->env = env;
  h->callback = Napi::Persistent(info[6].As<Napi::Function>());
  napi_async_init(env, nullptr, Napi::String::New(env, "hostkit:forkexec-supervisor"), &h->context);
  uv_loop_t *loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  uv_async_init(loop, &h->async, OnWake);
  h->async.data = h;
  if (!info[5].As<Napi::Boolean>().Value()) uv_unref(reinterpret_cast<uv_handle_t *>(&h->async));
  std::vector<hk_exec_call> calls;
  for (size_t i = 0; i + 5 <= table.ElementLength(); i += 5)
    calls.push_back({table[i], (int32_t)table[i + 1], (uint8_t)table[i + 2], (uint8_t)table[i + 3], (uint8_t)table[i + 4]});
  hk_supervisor_policy policy = {calls.data(), calls.size(), (pid_t)first, (int)deny, (int)sig};
  const char *failed = "pthread_create";
  int rc = hk_supervisor_start((int)listener, (int)pidfd, &policy, Wake, h, &h->supervisor, &failed);
  if (rc < 0) {
    napi_async_destroy(env, h->context);
    h->callback.Reset();
    h->closed = true;
    h->refs = 1;  // no External was made
    uv_close(reinterpret_cast<uv_handle_t *>(&h->async),
             [](uv_handle_t *handle) { Unref(static_cast<SupervisorHandle *>(handle->data)); });
    return ThrowSystemError(env, rc, failed, first > 0 ? Info(env, "pid", (double)first) : Self(env));
  }
  napi_add_env_cleanup_hook(env, OnEnvCleanup, h);
  return Napi::External<SupervisorHandle>::New(env, h, [](Napi::Env, SupervisorHandle *handle) { Unref(handle); });
}

// supervisorClose(handle): the caller is done (the child's exit was drained): the supervisor and
// this handle are freed once its thread has ended. Later drains find nothing.
Napi::Value SupervisorClose(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (!info[0].IsExternal()) return TypeError(env, "supervisorClose(handle)");
  auto *h = info[0].As<Napi::External<SupervisorHandle>>().Data();
  if (h->closed) return env.Undefined();
  napi_remove_env_cleanup_hook(env, OnEnvCleanup, h);
  napi_async_destroy(env, h->context);
  h->context = nullptr;
  CloseHandle(h);
  return env.Undefined();
}


// supervisorDrain(handle) -> { notes: [...], dropped }
Napi::Value SupervisorDrain(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (!info[0].IsExternal()) return TypeError(env, "supervisorDrain(handle)");
  auto *h = info[0].As<Napi::External<SupervisorHandle>>().Data();
  hk_note *notes = h->notes;
  Napi::Array list = Napi::Array::New(env);
  uint64_t dropped = 0;
  while (h->supervisor) {
    size_t n = hk_supervisor_drain(h->supervisor, notes, 16, &dropped);
    for (size_t i = 0; i < n; i++) {
      const hk_note &note = notes[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("kind", Napi::Number::New(env, note.kind));
      o.Set("tid", Napi::Number::New(env, note.tid));
      o.Set("pid", Napi::Number::New(env, note.pid));
      o.Set("arch", Napi::Number::New(env, note.arch));
      o.Set("nr", Napi::Number::New(env, note.nr));
      Napi::Array args = Napi::Array::New(env, 6);
      for (uint32_t a = 0; a < 6; a++) args.Set(a, Napi::BigInt::New(env, note.args[a]));
      o.Set("args", args);
      o.Set("allowed", Napi::Boolean::New(env, note.allowed != 0));
      o.Set("status", Napi::Number::New(env, note.status));
      if (note.path_len >= 0) o.Set("path", Napi::Buffer<char>::Copy(env, note.path, (size_t)note.path_len));
      if (note.argv_len >= 0) o.Set("argv", Napi::Buffer<char>::Copy(env, note.argv, (size_t)note.argv_len));
      o.Set("truncated", Napi::Boolean::New(env, note.truncated != 0));
      list.Set(list.Length(), o);
    }
    if (n < 16) break;
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("notes", list);
  result.Set("dropped", Napi::Number::New(env, (double)dropped));
  return result;
}

// forkexecSpawn(path, argv, envp, filter, landlockFd) -> { pid, listener, pidfd, statusFd }
Napi::Value ForkexecSpawn(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::vector<std::string> argv, envp;
  const void *filter;
  size_t count;
  int64_t landlock, exec_fd = -1;
  if (!info[0].IsString() || !ArgStrings(info[1], &argv) || !ArgStrings(info[2], &envp) ||
      !ArgFilter(info, 3, &filter, &count) || !ArgInt(info, 4, &landlock) ||
      (info.Length() > 5 && !ArgInt(info, 5, &exec_fd)))
    return TypeError(env, "forkexecSpawn(path, argv, envp, filter, landlockFd, execFd = -1)");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::vector<char *> cargv = CStrings(argv), cenvp = CStrings(envp);
  hk_fe_spawn_request req = {path.c_str(), cargv.data(), cenvp.data(), filter, count, (int)landlock, (int)exec_fd};
  pid_t pid = 0;
  int listener = -1, pidfd = -1, status_fd = -1;
  hk_fe_stage stage;
  int rc = hk_fe_spawn(&req, &pid, &listener, &pidfd, &status_fd, &stage);
  if (rc < 0) return ThrowSystemError(env, rc, hk_fe_stage_name(stage), hostkit_errors::PathInfo(env, path));
  Napi::Object o = Napi::Object::New(env);
  o.Set("pid", Napi::Number::New(env, pid));
  o.Set("listener", Napi::Number::New(env, listener));
  o.Set("pidfd", Napi::Number::New(env, pidfd));
  o.Set("statusFd", Napi::Number::New(env, status_fd));
  return o;
}

// forkexecSpawnResult(statusFd, path, pid) -> undefined once the exec happened; a failure names
// the step of the child's that failed, with the program's path and the child's pid.
Napi::Value ForkexecSpawnResult(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int64_t fd, pid;
  if (!ArgInt(info, 0, &fd) || !info[1].IsString() || !ArgInt(info, 2, &pid))
    return TypeError(env, "forkexecSpawnResult(statusFd, path, pid)");
  hk_fe_stage stage;
  int rc = hk_fe_spawn_result((int)fd, &stage);
  if (rc < 0) {
    Napi::Object extra = Info(env, "pid", (double)pid);
    extra.Set("path", info[1]);
    return ThrowSystemError(env, rc, hk_fe_stage_name(stage), extra);
  }
  return env.Undefined();
}

}  // namespace

void RegisterForkexec(Napi::Env env, Napi::Object exports) {
  exports.Set("seccompInstall", Napi::Function::New(env, SeccompInstall, "seccompInstall"));
  exports.Set("landlockAbi", Napi::Function::New(env, LandlockAbi, "landlockAbi"));
  exports.Set("landlockExecRuleset", Napi::Function::New(env, LandlockExecRuleset, "landlockExecRuleset"));
  exports.Set("supervisorStart", Napi::Function::New(env, SupervisorStart, "supervisorStart"));
  exports.Set("supervisorClose", Napi::Function::New(env, SupervisorClose, "supervisorClose"));
  exports.Set("supervisorDrain", Napi::Function::New(env, SupervisorDrain, "supervisorDrain"));
  exports.Set("forkexecSpawn", Napi::Function::New(env, ForkexecSpawn, "forkexecSpawn"));
  exports.Set("forkexecSpawnResult", Napi::Function::New(env, ForkexecSpawnResult, "forkexecSpawnResult"));
}
