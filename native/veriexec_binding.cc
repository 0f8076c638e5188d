// N-API glue for hostkit/veriexec's fanotify reader (veriexec_fanotify.c):
// a thread per group, its batches handed to JavaScript through a thread-safe
// function, and the response write. Policy lives in lib/veriexec/.
#include <errno.h>
#include <napi.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "errors.h"
#include "napi_args.h"
#include "veriexec.h"

namespace {

using hostkit_args::ArgCString;
using hostkit_args::ArgInt;
using hostkit_args::TypeError;
using hostkit_errors::ThrowSystemError;

struct Reader {
  hk_fan_reader c;
  pthread_t thread;
  bool running = false;
  Napi::ThreadSafeFunction tsfn;
};

struct Batch {
  int32_t *quads;
  int count;
};

void CallJs(Napi::Env env, Napi::Function callback, Batch *batch) {
  if (env != nullptr && callback != nullptr) {
    auto array = Napi::Int32Array::New(env, (size_t)batch->count * 4);
    memcpy(array.Data(), batch->quads, sizeof(int32_t) * 4 * batch->count);
    callback.Call({array});
  }
  free(batch->quads);
  delete batch;
}

void Deliver(hk_fan_reader *c, int32_t *quads, int count) {
  auto *r = static_cast<Reader *>(c->context);
  auto *batch = new Batch{quads, count};
  if (r->tsfn.NonBlockingCall(batch, CallJs) != napi_ok) {
    // Node is going away: nobody will decide these.
    for (int i = 0; i < count; i++)
      if (quads[i * 4 + 1] >= 0) hk_fan_respond(c, quads[i * 4 + 1], 2 /* FAN_DENY */, 0);
    free(quads);
    delete batch;
  }
}

Reader *Unwrap(Napi::Value v) {
  if (!v.IsExternal()) return nullptr;
  return v.As<Napi::External<Reader>>().Data();
}

void StopThread(Reader *r) {
  if (!r->running) return;
  uint64_t one = 1;
  if (write(r->c.stop, &one, sizeof one) < 0) { /* an eventfd write cannot fail here */ }
  pthread_join(r->thread, nullptr);
  r->running = false;
  r->tsfn.Release();
}

// fanotifyReaderStart(group, channel | -1, ownPids: number[], onBatch(Int32Array), cacheSlots = 0) -> handle.
Napi::Value ReaderStart(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int64_t group, channel, slots = 0;
  if (!ArgInt(info, 0, &group) || !ArgInt(info, 1, &channel) || !info[2].IsArray() || !info[3].IsFunction() ||
      (info.Length() > 4 && (!ArgInt(info, 4, &slots) || slots < 0 || slots > (1 << 20))))
    return TypeError(env, "fanotifyReaderStart(group, channel, ownPids: number[], onBatch, cacheSlots = 0)");
  auto pids = info[2].As<Napi::Array>();
  if (pids.Length() > HK_FAN_MAX_OWN) return TypeError(env, "fanotifyReaderStart: at most 8 own pids");
  auto *r = new Reader();
  memset(&r->c, 0, sizeof r->c);
  r->c.group = (int)group;
  r->c.channel = (int)channel;
  r->c.own_count = (int)pids.Length();
  for (uint32_t i = 0; i < pids.Length(); i++) r->c.own[i] = pids.Get(i).As<Napi::Number>().Int32Value();
  r->c.deliver = Deliver;
  r->c.context = r;
  if (hk_fan_cache_init(&r->c, (uint32_t)slots) < 0) {
    delete r;
    return ThrowSystemError(env, -ENOMEM, "calloc", Napi::Object::New(env));
  }
  r->c.stop = eventfd(0, EFD_CLOEXEC);
  if (r->c.stop < 0) {
    int e = errno;
    hk_fan_cache_free(&r->c);
    delete r;
    return ThrowSystemError(env, -e, "eventfd", Napi::Object::New(env));
  }
  r->tsfn = Napi::ThreadSafeFunction::New(env, info[3].As<Napi::Function>(), "hostkit:veriexec", 0, 1);
  int rc = pthread_create(&r->thread, nullptr, hk_fan_reader_main, &r->c);
  if (rc != 0) {
    r->tsfn.Release();
    close(r->c.stop);
    hk_fan_cache_free(&r->c);
    delete r;
    return ThrowSystemError(env, -rc, "pthread_create", Napi::Object::New(env));
  }
  r->running = true;
  return Napi::External<Reader>::New(env, r, [](Napi::Env, Reader *r) {
    StopThread(r);
    close(r->c.stop);
    hk_fan_cache_free(&r->c);
    delete r;
  });
}

// fanotifyRespond(handle, fd, response, rememberMask = 0) -> 0 | -errno (-ENOENT: no such event pending).
Napi::Value Respond(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Reader *r = Unwrap(info[0]);
  int64_t fd, response, mask = 0;
  if (!r || !ArgInt(info, 1, &fd) || !ArgInt(info, 2, &response) || response < 0 || response > 0xffffffffLL ||
      (info.Length() > 3 && (!ArgInt(info, 3, &mask) || mask < 0 || mask > 0xffffffffLL)))
    return TypeError(env, "fanotifyRespond(handle, fd, response: u32, rememberMask: u32)");
  return Napi::Number::New(env, hk_fan_respond(&r->c, (int)fd, (uint32_t)response, (uint32_t)mask));
}

// fanotifyReaderForget(handle): the remembered allows are dropped (the decider's rules changed).
Napi::Value ReaderForget(const Napi::CallbackInfo &info) {
  Reader *r = Unwrap(info[0]);
  if (!r) return TypeError(info.Env(), "fanotifyReaderForget(handle)");
  hk_fan_cache_clear(&r->c);
  return info.Env().Undefined();
}

Napi::Value ReaderState(Napi::Env env, Reader *r) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("running", Napi::Boolean::New(env, r->running));
  out.Set("ownEvents", Napi::Number::New(env, (double)__atomic_load_n(&r->c.own_events, __ATOMIC_RELAXED)));
  out.Set("cacheHits", Napi::Number::New(env, (double)__atomic_load_n(&r->c.cache_hits, __ATOMIC_RELAXED)));
  out.Set("errno", Napi::Number::New(env, r->c.error));
  out.Set("syscall", r->c.error_call ? Napi::String::New(env, r->c.error_call) : env.Null());
  return out;
}

// fanotifyReaderState(handle) -> { running, ownEvents, cacheHits, errno (0: none), syscall }.
Napi::Value ReaderStateJs(const Napi::CallbackInfo &info) {
  Reader *r = Unwrap(info[0]);
  if (!r) return TypeError(info.Env(), "fanotifyReaderState(handle)");
  return ReaderState(info.Env(), r);
}

// fanotifyReaderStop(handle) -> its state: ends the thread (idempotent).
Napi::Value ReaderStop(const Napi::CallbackInfo &info) {
  Reader *r = Unwrap(info[0]);
  if (!r) return TypeError(info.Env(), "fanotifyReaderStop(handle)");
  StopThread(r);
  return ReaderState(info.Env(), r);
}

// fanotifyChannelBye(handle): tells the supervisor this decider leaves on purpose.
Napi::Value ChannelBye(const Napi::CallbackInfo &info) {
  Reader *r = Unwrap(info[0]);
  if (!r) return TypeError(info.Env(), "fanotifyChannelBye(handle)");
  if (r->c.channel >= 0) {
    int32_t rec[2] = {HK_FAN_BYE, -1};
    if (write(r->c.channel, rec, sizeof rec) < 0) { /* the supervisor is gone: nothing to tell */ }
  }
  return info.Env().Undefined();
}

// unixConnect(path) -> a connected, blocking SOCK_STREAM fd (close-on-exec).
Napi::Value UnixConnect(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string path;
  if (!ArgCString(info[0], &path)) return TypeError(env, "unixConnect(path)");
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return TypeError(env, "unixConnect: path longer than 107 bytes");
  memcpy(addr.sun_path, path.data(), path.size());
  auto fail = [&](const char *call, int e) { return ThrowSystemError(env, -e, call, hostkit_errors::PathInfo(env, path)); };
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail("socket", errno);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    int e = errno;
    close(fd);
    return fail("connect", e);
  }
  return Napi::Number::New(env, fd);
}

}  // namespace

void RegisterVeriexec(Napi::Env env, Napi::Object exports) {
  exports.Set("fanotifyReaderStart", Napi::Function::New(env, ReaderStart, "fanotifyReaderStart"));
  exports.Set("fanotifyRespond", Napi::Function::New(env, Respond, "fanotifyRespond"));
  exports.Set("fanotifyReaderForget", Napi::Function::New(env, ReaderForget, "fanotifyReaderForget"));
  exports.Set("fanotifyReaderState", Napi::Function::New(env, ReaderStateJs, "fanotifyReaderState"));
  exports.Set("fanotifyReaderStop", Napi::Function::New(env, ReaderStop, "fanotifyReaderStop"));
  exports.Set("fanotifyChannelBye", Napi::Function::New(env, ChannelBye, "fanotifyChannelBye"));
  exports.Set("unixConnect", Napi::Function::New(env, UnixConnect, "unixConnect"));
}
