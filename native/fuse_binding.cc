// N-API glue for hostkit/veriexec's FUSE server (fuse.c): argument checks and
// conversions only. Requests come from the reader thread to JS through a
// thread-safe function, in the order the kernel gave them. Answers a caller
// expects are numbers (-errno): a lookup that finds nothing, a reply to a
// request the kernel withdrew (-ENOENT), an unmount of what is not mounted.
#include <errno.h>
#include <napi.h>
#include <stdlib.h>
#include <string.h>

#include <string>

#include "errors.h"
#include "fuse.h"
#include "napi_args.h"

namespace {

using hostkit_args::ArgCString;
using hostkit_args::ArgInt;
using hostkit_args::TypeError;
using hostkit_errors::ThrowSystemError;

// fuseMount(mountpoint, source, fstype, flags, options) -> the /dev/fuse fd.
Napi::Value FuseMount(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string mountpoint, source, fstype, options;
  int64_t flags;
  if (!ArgCString(info[0], &mountpoint) || !ArgCString(info[1], &source) || !ArgCString(info[2], &fstype) || !ArgInt(info, 3, &flags) ||
      !ArgCString(info[4], &options))
    return TypeError(env, "fuseMount(mountpoint, source, fstype, flags, options)");
  const char *failed = "mount";
  int rc = hk_fuse_mount(mountpoint.c_str(), source.c_str(), fstype.c_str(), (unsigned long)flags, options.c_str(), &failed);
  if (rc < 0) return ThrowSystemError(env, rc, failed, hostkit_errors::PathInfo(env, mountpoint));
  return Napi::Number::New(env, rc);
}

// fuseUnmount(mountpoint, flags) -> 0 | -errno.
Napi::Value FuseUnmount(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string mountpoint;
  int64_t flags;
  if (!ArgCString(info[0], &mountpoint) || !ArgInt(info, 1, &flags)) return TypeError(env, "fuseUnmount(mountpoint, flags)");
  return Napi::Number::New(env, hk_fuse_unmount(mountpoint.c_str(), (int)flags));
}

// fuseOpenBeneath(dirfd, path, flags) -> fd | -errno.
Napi::Value FuseOpenBeneath(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string path;
  int64_t dirfd, flags;
  if (!ArgInt(info, 0, &dirfd) || !ArgCString(info[1], &path) || !ArgInt(info, 2, &flags))
    return TypeError(env, "fuseOpenBeneath(dirfd, path, flags)");
  return Napi::Number::New(env, hk_fuse_open_beneath((int)dirfd, path.c_str(), (int)flags));
}

// fuseReadlinkBeneath(dirfd, path) -> Buffer | -errno.
Napi::Value FuseReadlinkBeneath(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string path;
  int64_t dirfd;
  if (!ArgInt(info, 0, &dirfd) || !ArgCString(info[1], &path)) return TypeError(env, "fuseReadlinkBeneath(dirfd, path)");
  char target[4096];
  ssize_t n = hk_fuse_readlink_beneath((int)dirfd, path.c_str(), target, sizeof target);
  if (n < 0) return Napi::Number::New(env, (double)n);
  if ((size_t)n == sizeof target) return Napi::Number::New(env, -ENAMETOOLONG);
  return Napi::Buffer<char>::Copy(env, target, (size_t)n);
}

// fuseWrite(fd, buffer) -> bytes | -errno (-ENOENT: the kernel no longer waits for that answer).
Napi::Value FuseWrite(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int64_t fd;
  if (!ArgInt(info, 0, &fd) || !info[1].IsBuffer()) return TypeError(env, "fuseWrite(fd, buffer)");
  auto buf = info[1].As<Napi::Buffer<uint8_t>>();
  return Napi::Number::New(env, (double)hk_fuse_write((int)fd, buf.Data(), buf.Length()));
}

// A notification written on libuv's pool: the kernel may wait for page locks
// that only a reply from this thread would release (an invalidation racing a read).
class WriteWorker : public Napi::AsyncWorker {
 public:
  WriteWorker(Napi::Function callback, int fd, Napi::Buffer<uint8_t> buf)
      : Napi::AsyncWorker(callback), fd_(fd), data_(buf.Data()), len_(buf.Length()), keep_(Napi::Persistent(buf)) {}
  void Execute() override { rc_ = hk_fuse_write(fd_, data_, len_); }
  void OnOK() override { Callback().Call({Napi::Number::New(Env(), (double)rc_)}); }

 private:
  int fd_;
  const uint8_t *data_;
  size_t len_;
  Napi::Reference<Napi::Buffer<uint8_t>> keep_;
  ssize_t rc_ = 0;
};

// fuseWriteAsync(fd, buffer, callback(bytes | -errno)).
Napi::Value FuseWriteAsync(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int64_t fd;
  if (!ArgInt(info, 0, &fd) || !info[1].IsBuffer() || !info[2].IsFunction()) return TypeError(env, "fuseWriteAsync(fd, buffer, callback)");
  (new WriteWorker(info[2].As<Napi::Function>(), (int)fd, info[1].As<Napi::Buffer<uint8_t>>()))->Queue();
  return env.Undefined();
}

struct Request {
  uint8_t *data;  // null: the reader ended, with `err`
  size_t len;
  int err;
};

struct Reader {
  Napi::ThreadSafeFunction tsfn;
  struct hk_fuse_reader *reader = nullptr;
  bool freed = false;
};

void CallJs(Napi::Env env, Napi::Function callback, Request *req) {
  if (env != nullptr && callback != nullptr) {
    if (req->data) {
      uint8_t *data = req->data;
      callback.Call({Napi::Buffer<uint8_t>::New(env, data, req->len, [](Napi::Env, uint8_t *p) { free(p); }), Napi::Number::New(env, 0)});
    } else {
      callback.Call({env.Null(), Napi::Number::New(env, req->err)});
    }
  } else {
    free(req->data);
  }
  delete req;
}

void Deliver(void *ctx, const uint8_t *request, size_t len) {
  auto *r = static_cast<Reader *>(ctx);
  auto *req = new Request{static_cast<uint8_t *>(malloc(len)), len, 0};
  if (!req->data) {
    delete req;
    return;  // dropped: the kernel's request waits until interrupted or aborted
  }
  memcpy(req->data, request, len);
  if (r->tsfn.BlockingCall(req, CallJs) != napi_ok) {
    free(req->data);
    delete req;
  }
}

void Ended(void *ctx, int err) {
  auto *r = static_cast<Reader *>(ctx);
  auto *req = new Request{nullptr, 0, err};
  if (r->tsfn.BlockingCall(req, CallJs) != napi_ok) delete req;
  r->tsfn.Release();
}

// fuseReaderStart(fd, bufferSize, onRequest(request: Buffer | null, err)) -> handle.
Napi::Value FuseReaderStart(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int64_t fd, size;
  if (!ArgInt(info, 0, &fd) || !ArgInt(info, 1, &size) || size < 8192 || !info[2].IsFunction())
    return TypeError(env, "fuseReaderStart(fd, bufferSize >= 8192, onRequest)");
  auto *r = new Reader();
  // At most 64 requests wait for JS; beyond that the reader thread waits too.
  r->tsfn = Napi::ThreadSafeFunction::New(env, info[2].As<Napi::Function>(), "hostkit-fuse-reader", 64, 1);
  int err = 0;
  const char *failed = "pthread_create";
  r->reader = hk_fuse_reader_start((int)fd, (size_t)size, Deliver, Ended, r, &err, &failed);
  if (!r->reader) {
    r->tsfn.Release();
    delete r;
    return ThrowSystemError(env, err, failed, hostkit_errors::Info(env, "fd", (double)fd));
  }
  return Napi::External<Reader>::New(env, r);
}

Reader *ArgReader(const Napi::CallbackInfo &info) {
  if (!info[0].IsExternal()) return nullptr;
  Reader *r = info[0].As<Napi::External<Reader>>().Data();
  return r->freed ? nullptr : r;
}

// fuseReaderStop(handle): the thread ends soon after, and onRequest(null, 0) says so.
Napi::Value FuseReaderStop(const Napi::CallbackInfo &info) {
  Reader *r = ArgReader(info);
  if (!r) return TypeError(info.Env(), "fuseReaderStop(handle) of a live reader");
  hk_fuse_reader_stop(r->reader);
  return info.Env().Undefined();
}

// fuseReaderRef(handle, keepAlive): whether the reader keeps the event loop alive.
Napi::Value FuseReaderRef(const Napi::CallbackInfo &info) {
  Reader *r = ArgReader(info);
  if (!r || !info[1].IsBoolean()) return TypeError(info.Env(), "fuseReaderRef(handle, keepAlive)");
  if (info[1].As<Napi::Boolean>().Value())
    r->tsfn.Ref(info.Env());
  else
    r->tsfn.Unref(info.Env());
  return info.Env().Undefined();
}

// fuseReaderFree(handle): after onRequest(null, err) only.
Napi::Value FuseReaderFree(const Napi::CallbackInfo &info) {
  Reader *r = ArgReader(info);
  if (!r) return TypeError(info.Env(), "fuseReaderFree(handle) of a live reader");
  hk_fuse_reader_free(r->reader);
  r->freed = true;  // the External keeps the small Reader; it is not reused
  return info.Env().Undefined();
}

}  // namespace

void RegisterFuse(Napi::Env env, Napi::Object exports) {
  exports.Set("fuseMount", Napi::Function::New(env, FuseMount, "fuseMount"));
  exports.Set("fuseUnmount", Napi::Function::New(env, FuseUnmount, "fuseUnmount"));
  exports.Set("fuseOpenBeneath", Napi::Function::New(env, FuseOpenBeneath, "fuseOpenBeneath"));
  exports.Set("fuseReadlinkBeneath", Napi::Function::New(env, FuseReadlinkBeneath, "fuseReadlinkBeneath"));
  exports.Set("fuseWrite", Napi::Function::New(env, FuseWrite, "fuseWrite"));
  exports.Set("fuseWriteAsync", Napi::Function::New(env, FuseWriteAsync, "fuseWriteAsync"));
  exports.Set("fuseReaderStart", Napi::Function::New(env, FuseReaderStart, "fuseReaderStart"));
  exports.Set("fuseReaderStop", Napi::Function::New(env, FuseReaderStop, "fuseReaderStop"));
  exports.Set("fuseReaderRef", Napi::Function::New(env, FuseReaderRef, "fuseReaderRef"));
  exports.Set("fuseReaderFree", Napi::Function::New(env, FuseReaderFree, "fuseReaderFree"));
}
