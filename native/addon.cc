// node-addon-api glue: argument checks, errno -> SystemError (built by the JS
// factory handed over in setErrorFactory; errors.h), and nothing else. Policy lives in lib/.
#include <napi.h>
#include <unistd.h>
#include <sys/ptrace.h>

#include <netdb.h>

#include <map>
#include <string>
#include <vector>

#include "errors.h"
#include "napi_args.h"
#include "shims.h"
#include "fd_watcher.h"
#include "sigchld.h"

void RegisterForkexec(Napi::Env env, Napi::Object exports);  // forkexec_binding.cc
void RegisterHost(Napi::Env env, Napi::Object exports);      // host_binding.cc
void RegisterVeriexec(Napi::Env env, Napi::Object exports);  // veriexec_binding.cc
void RegisterFuse(Napi::Env env, Napi::Object exports);      // fuse_binding.cc

namespace {

using hostkit_args::ArgCString;
using hostkit_args::ArgInt;
using hostkit_args::ArgStrings;
using hostkit_args::CStrings;
using hostkit_args::TypeError;

// Linux 6.16; glibc 2.36's sys/ptrace.h does not name it.
constexpr int kPtraceSetSyscallInfo = 0x4212;

struct PtraceRequestInfo {
  int request;
  const char *name;
  size_t buffer_bytes;  // the least a caller's buffer must hold for ptraceBuffer
};

// ptraceBuffer hands the buffer straight to the kernel, so each request it
// accepts names how much the kernel may write (sizes from arch/x86/include/asm/user_64.h).
const PtraceRequestInfo kRequests[] = {
    {PTRACE_TRACEME, "PTRACE_TRACEME", 0},       {PTRACE_PEEKTEXT, "PTRACE_PEEKTEXT", 8},
    {PTRACE_PEEKDATA, "PTRACE_PEEKDATA", 8},     {PTRACE_PEEKUSER, "PTRACE_PEEKUSER", 8},
    {PTRACE_POKETEXT, "PTRACE_POKETEXT", 0},     {PTRACE_POKEDATA, "PTRACE_POKEDATA", 0},
    {PTRACE_POKEUSER, "PTRACE_POKEUSER", 0},     {PTRACE_CONT, "PTRACE_CONT", 0},
    {PTRACE_KILL, "PTRACE_KILL", 0},             {PTRACE_SINGLESTEP, "PTRACE_SINGLESTEP", 0},
    {PTRACE_GETREGS, "PTRACE_GETREGS", 27 * 8},  {PTRACE_SETREGS, "PTRACE_SETREGS", 27 * 8},
    {PTRACE_GETFPREGS, "PTRACE_GETFPREGS", 512}, {PTRACE_SETFPREGS, "PTRACE_SETFPREGS", 512},
    {PTRACE_ATTACH, "PTRACE_ATTACH", 0},         {PTRACE_DETACH, "PTRACE_DETACH", 0},
    {PTRACE_SYSCALL, "PTRACE_SYSCALL", 0},       {PTRACE_SETOPTIONS, "PTRACE_SETOPTIONS", 0},
    {PTRACE_GETEVENTMSG, "PTRACE_GETEVENTMSG", 8}, {PTRACE_GETSIGINFO, "PTRACE_GETSIGINFO", 128},
    {PTRACE_SETSIGINFO, "PTRACE_SETSIGINFO", 128}, {PTRACE_GETREGSET, "PTRACE_GETREGSET", 0},
    {PTRACE_SETREGSET, "PTRACE_SETREGSET", 0},   {PTRACE_SEIZE, "PTRACE_SEIZE", 0},
    {PTRACE_INTERRUPT, "PTRACE_INTERRUPT", 0},   {PTRACE_LISTEN, "PTRACE_LISTEN", 0},
    {PTRACE_GET_SYSCALL_INFO, "PTRACE_GET_SYSCALL_INFO", 0},
    {PTRACE_GETSIGMASK, "PTRACE_GETSIGMASK", 8},   {PTRACE_SETSIGMASK, "PTRACE_SETSIGMASK", 8},
    {kPtraceSetSyscallInfo, "PTRACE_SET_SYSCALL_INFO", 0},
};

const PtraceRequestInfo *FindRequest(int request) {
  for (const auto &r : kRequests)
    if (r.request == request) return &r;
  return nullptr;
}

class Hostkit : public Napi::Addon<Hostkit> {
 public:
  Hostkit(Napi::Env env, Napi::Object exports) {
    DefineAddon(exports, {
        InstanceMethod("setErrorFactory", &Hostkit::SetErrorFactory),
        InstanceMethod("ptrace", &Hostkit::Ptrace),
        InstanceMethod("ptraceBuffer", &Hostkit::PtraceBuffer),
        InstanceMethod("ptraceRegset", &Hostkit::PtraceRegset),
        InstanceMethod("signalWaiting", &Hostkit::SignalWaiting),
        InstanceMethod("waitpid", &Hostkit::Waitpid),
        InstanceMethod("reap", &Hostkit::Reap),
        InstanceMethod("waitReady", &Hostkit::WaitReady),
        InstanceMethod("readSoon", &Hostkit::ReadSoon),
        InstanceMethod("takeInterrupt", &Hostkit::TakeInterrupt),
        InstanceMethod("writeSome", &Hostkit::WriteSome),
        InstanceMethod("frameBinary", &Hostkit::FrameBinary),
        InstanceMethod("frameHex", &Hostkit::FrameHex),
        InstanceMethod("setForeground", &Hostkit::SetForeground),
        InstanceMethod("foreground", &Hostkit::Foreground),
        InstanceMethod("processGroup", &Hostkit::ProcessGroup),
        InstanceMethod("tgkill", &Hostkit::Tgkill),
        InstanceMethod("ioctlBuffer", &Hostkit::IoctlBuffer),
        InstanceMethod("stepRange", &Hostkit::StepRange),
        InstanceMethod("watchedAccess", &Hostkit::WatchedAccess),
        InstanceMethod("cpuid", &Hostkit::Cpuid),
        InstanceMethod("xgetbv", &Hostkit::Xgetbv),
        InstanceMethod("vmRead", &Hostkit::VmRead),
        InstanceMethod("vmReadAsync", &Hostkit::VmReadAsync),
        InstanceMethod("vmWrite", &Hostkit::VmWrite),
        InstanceMethod("pread", &Hostkit::Pread),
        InstanceMethod("holdAddressSpace", &Hostkit::HoldAddressSpace),
        InstanceMethod("pwrite", &Hostkit::Pwrite),
        InstanceMethod("launch", &Hostkit::Launch),
        InstanceMethod("sigchldStart", &Hostkit::SigchldStart),
        InstanceMethod("listenInet", &Hostkit::ListenInet),
        InstanceMethod("listenPath", &Hostkit::ListenPath),
        InstanceMethod("accept", &Hostkit::Accept),
        InstanceMethod("watchReadable", &Hostkit::WatchReadable),
        InstanceMethod("unwatch", &Hostkit::Unwatch),
        InstanceMethod("sigchldRef", &Hostkit::SigchldRef),
    });
    RegisterForkexec(env, exports);
    RegisterHost(env, exports);
    RegisterVeriexec(env, exports);
    RegisterFuse(env, exports);
    env.AddCleanupHook([this] {
      if (sigchld_) sigchld_->Close();
      sigchld_ = nullptr;
    });
  }

  // Builds the SystemError for -errno `err`; `info` carries pid/tid/path.
  Napi::Value MakeError(Napi::Env env, long err, const std::string &syscall, Napi::Object info) {
    if (make_error_.IsEmpty())
      return Napi::Error::New(env, syscall + " failed with errno " + std::to_string(-err)).Value();
    return make_error_.Call({Napi::Number::New(env, (double)-err), Napi::String::New(env, syscall), info});
  }

  Napi::Value Fail(Napi::Env env, long err, const std::string &syscall, Napi::Object info) {
    Napi::Value e = MakeError(env, err, syscall, info);
    if (!env.IsExceptionPending()) napi_throw(env, e);
    return env.Undefined();
  }

 private:
  Napi::FunctionReference make_error_;
  SigchldWatcher *sigchld_ = nullptr;
  std::map<int, FdWatcher *> watchers_;

  static Napi::Object Info(Napi::Env env, const char *key, double value) { return hostkit_errors::Info(env, key, value); }

  // Addresses and register words: a Number or a BigInt, taken as 64 unsigned bits.
  static bool ArgU64(const Napi::CallbackInfo &info, size_t i, uint64_t *out) {
    if (info[i].IsBigInt()) {
      bool lossless;
      *out = info[i].As<Napi::BigInt>().Uint64Value(&lossless);
      return true;
    }
    int64_t v;
    if (!ArgInt(info, i, &v)) return false;
    *out = (uint64_t)v;
    return true;
  }

  // (buffer, offset, length) with the range checked against the buffer.
  static bool ArgRange(const Napi::CallbackInfo &info, size_t i, uint8_t **data, size_t *len) {
    if (!info[i].IsBuffer()) return false;
    auto buf = info[i].As<Napi::Buffer<uint8_t>>();
    int64_t off, n;
    if (!ArgInt(info, i + 1, &off) || !ArgInt(info, i + 2, &n)) return false;
    if (off < 0 || n < 0 || (uint64_t)(off + n) > buf.Length()) return false;
    *data = buf.Data() + off;
    *len = (size_t)n;
    return true;
  }

  Napi::Value SetErrorFactory(const Napi::CallbackInfo &info) {
    if (!info[0].IsFunction()) return TypeError(info.Env(), "setErrorFactory(fn)");
    make_error_ = Napi::Persistent(info[0].As<Napi::Function>());
    return info.Env().Undefined();
  }

  static std::string PtraceName(int request) {
    const PtraceRequestInfo *r = FindRequest(request);
    return std::string("ptrace(") + (r ? r->name : std::to_string(request)) + ")";
  }

  // ptrace(request, tid, addr, data): requests whose data is a value, not a pointer.
  Napi::Value Ptrace(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    int64_t request, tid;
    uint64_t addr, data;
    if (!ArgInt(info, 0, &request) || !ArgInt(info, 1, &tid) || !ArgU64(info, 2, &addr) || !ArgU64(info, 3, &data))
      return TypeError(env, "ptrace(request, tid, addr, data)");
    const PtraceRequestInfo *r = FindRequest((int)request);
    if (!r || r->buffer_bytes > 0) return TypeError(env, PtraceName((int)request) + " needs ptraceBuffer");
    long rc = hk_ptrace((int)request, (pid_t)tid, addr, data);
    if (rc < 0) return Fail(env, rc, PtraceName((int)request), Info(env, "tid", (double)tid));
    return Napi::Number::New(env, (double)rc);
  }

  // ptraceBuffer(request, tid, addr, buffer): the kernel reads or writes `buffer`.
  Napi::Value PtraceBuffer(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    int64_t request, tid;
    uint64_t addr;
    if (!ArgInt(info, 0, &request) || !ArgInt(info, 1, &tid) || !ArgU64(info, 2, &addr) || !info[3].IsBuffer())
      return TypeError(env, "ptraceBuffer(request, tid, addr, buffer)");
    auto buf = info[3].As<Napi::Buffer<uint8_t>>();
    const PtraceRequestInfo *r = FindRequest((int)request);
    size_t need = r ? r->buffer_bytes : 0;
    if (request == PTRACE_GET_SYSCALL_INFO || request == kPtraceSetSyscallInfo) need = (size_t)addr;  // addr is the buffer size
    if (!r || need == 0 || buf.Length() < need) {
      Napi::RangeError::New(env, PtraceName((int)request) + ": buffer too small or request not allowed")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    long rc = hk_ptrace_buffer((int)request, (pid_t)tid, addr, buf.Data());
    if (rc < 0) return Fail(env, rc, PtraceName((int)request), Info(env, "tid", (double)tid));
    return Napi::Number::New(env, (double)rc);
  }

  // ptraceRegset(get, tid, noteType, buffer) -> bytes the kernel filled or took.
  Napi::Value PtraceRegset(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    int64_t tid, nt;
    if (!info[0].IsBoolean() || !ArgInt(info, 1, &tid) || !ArgInt(info, 2, &nt) || !info[3].IsBuffer())
      return TypeError(env, "ptraceRegset(get, tid, noteType, buffer)");
    bool get = info[0].As<Napi::Boolean>().Value();
    auto buf = info[3].As<Napi::Buffer<uint8_t>>();
    long rc = hk_ptrace_regset(get, (pid_t)tid, (int)nt, buf.Data(), buf.Length());
    if (rc < 0) {
      Napi::Object extra = Info(env, "tid", (double)tid);
      extra.Set("noteType", Napi::Number::New(env, (double)nt));
      return Fail(env, rc, get ? "ptrace(PTRACE_GETREGSET)" : "ptrace(PTRACE_SETREGSET)", extra);
    }
    return Napi::Number::New(env, (double)rc);
  }

  // signalWaiting(tid, signal) -> whether the stopped thread has `signal` on its own queue, unblocked.
  Napi::Value SignalWaiting(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    int64_t tid, sig;
    if (!ArgInt(info, 0, &tid) || !ArgInt(info, 1, &sig) || sig < 1 || sig > 64) return TypeError(env, "signalWaiting(tid, signal)");
    int rc = hk_signal_waiting((pid_t)tid, (int)sig);
    if (rc < 0) return Fail(env, rc, "ptrace(PTRACE_PEEKSIGINFO)", Info(env, "tid", (double)tid));
    return Napi::Boolean::New(env, rc == 1);
  }

  // waitpid(tid, flags) -> status, or null when the tid has nothing to report.
  Napi::Value Waitpid(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    int64_t tid, flags;
    if (!ArgInt(info, 0, &tid) || !ArgInt(info, 1, &flags)) return TypeError(env, "waitpid(tid, flags)");
    int status = 0;
    int rc = hk_waitpid((pid_t)tid, (int)flags, &status);
    if (rc < 0) return Fail(env, rc, "waitpid", Info(env, "tid", (double)tid));
    if (rc == 0) return env.Null();
    return Napi::Number::New(env, status);
  }

  // reap(tids: Int32Array, out: Int32Array) -> pairs written to out as (tid, status);
  // status -1 means the tid vanished. One call per pass instead of one per thread.
  Napi::Value Reap(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!info[0].IsTypedArray() || !info[1].IsTypedArray() ||
        info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
        info[1].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
      return TypeError(env, "reap(tids: Int32Array, out: Int32Array)");
    Napi::Int32Array tids = info[0].As<Napi::Int32Array>();
    Napi::Int32Array out = info[1].As<Napi::Int32Array>();
    int rc = hk_reap(tids.Data(), (int)tids.ElementLength(), out.Data(), (int)(out.ElementLength() / 2));
    if (rc < 0) return Fail(env, rc, "waitpid", Napi::Object::New(env));
    return Napi::Number::New(env, rc);
  }

  // waitReady(fd, timeoutMs, writable) -> 1 fd ready, 0 timeout, -1 a signal arrived (EINTR).
  Napi::Value WaitReady(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    int64_t fd, timeout;
    if (!ArgInt(info, 0, &fd) || !ArgInt(info, 1, &timeout) || !info[2].IsBoolean())
      return TypeError(env, "waitReady(fd, timeoutMs, writable)");
    int rc = hk_wait_ready((int)fd, info[2].As<Napi::Boolean>().Value(), (int)timeout);
    if (rc == -EINTR) return Napi::Number::New(env, -1);
    if (rc < 0) return Fail(env, rc, "poll", Info(env, "fd", (double)fd));
    return Napi::Number::New(env, rc);
  }

  // readSoon(fd, buffer, spinUs, timeoutMs, yieldToLoop) -> bytes read, 0 at end of stream, -errno (-EAGAIN:
  // nothing came, or, with yieldToLoop, the event loop had something to handle first: a SIGCHLD, another descriptor).
  // Errors come back as numbers: a quiet peer is the common case, not an exception.
  Napi::Value ReadSoon(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    int64_t fd, spin_us, timeout;
    if (!ArgInt(info, 0, &fd) || !info[1].IsBuffer() || !ArgInt(info, 2, &spin_us) || !ArgInt(info, 3, &timeout) ||
        !info[4].IsBoolean())
      return TypeError(env, "readSoon(fd, buffer, spinUs, timeoutMs, yieldToLoop)");
    auto buf = info[1].As<Napi::Buffer<uint8_t>>();
    uv_loop_t *loop = nullptr;
    int wake_fd = -1;
    if (info[4].As<Napi::Boolean>().Value() && napi_get_uv_event_loop(env, &loop) == napi_ok && loop) wake_fd = uv_backend_fd(loop);
    return Napi::Number::New(env, (double)hk_read_soon((int)fd, wake_fd, buf.Data(), buf.Length(), (int)spin_us, (int)timeout));
  }

  // takeInterrupt(fd) -> 1 when the next byte on the socket was gdb's Ctrl-C (0x03), now read; 0 if it is
  // another or none; -errno (-ENOTSOCK: a pipe, which cannot be peeked at). A number, as readSoon's.
  Napi::Value TakeInterrupt(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    int64_t fd;
    if (!ArgInt(info, 0, &fd)) return TypeError(env, "takeInterrupt(fd)");
    return Napi::Number::New(env, hk_take_interrupt((int)fd));
  }

  // writeSome(fd, buffer, offset, length) -> bytes written or -errno (-EAGAIN: the descriptor is full).
  Napi::Value WriteSome(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    int64_t fd;
    uint8_t *data;
    size_t len;
    if (!ArgInt(info, 0, &fd) || !ArgRange(info, 1, &data, &len)) return TypeError(env, "writeSome(fd, buffer, offset, length)");
    return Napi::Number::New(env, (double)hk_write_some((int)fd, data, len));
  }

  // frameBinary(data, offset, length, prefix, out) -> the frame's length in `out` (RSP framing, rsp_frame.c);
  // prefix is a byte or -1; `out` must hold 2 * length + 5 bytes.
  Napi::Value FrameBinary(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    uint8_t *data;
    size_t len;
    int64_t prefix;
    if (!ArgRange(info, 0, &data, &len) || !ArgInt(info, 3, &prefix) || prefix < -1 || prefix > 255 || !info[4].IsBuffer())
      return TypeError(env, "frameBinary(data, offset, length, prefix, out)");
    auto out = info[4].As<Napi::Buffer<uint8_t>>();
    if (out.Length() < HK_FRAME_BINARY_SPACE(len)) return TypeError(env, "frameBinary: out must hold 2 * length + 5 bytes");
    return Napi::Number::New(env, (double)hk_frame_binary(data, len, (int)prefix, out.Data()));
  }

  // frameHex(data, offset, length, out) -> the frame's length: `$`, the bytes in hex, `#` and the checksum.
  Napi::Value FrameHex(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    uint8_t *data;
    size_t len;
    if (!ArgRange(info, 0, &data, &len) || !info[3].IsBuffer()) return TypeError(env, "frameHex(data, offset, length, out)");
    auto out = info[3].As<Napi::Buffer<uint8_t>>();
    if (out.Length() < HK_FRAME_BINARY_SPACE(len)) return TypeError(env, "frameHex: out must hold 2 * length + 5 bytes");
    return Napi::Number::New(env, (double)hk_frame_hex(data, len, out.Data()));
  }

  // setForeground(fd, pgrp) -> the terminal's previous foreground group, or -errno (-ENOTTY: not our terminal).
  Napi::Value SetForeground(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    int64_t fd, pgrp;
    if (!ArgInt(info, 0, &fd) || !ArgInt(info, 1, &pgrp) || pgrp <= 0) return TypeError(env, "setForeground(fd, pgrp)");
    return Napi::Number::New(env, (double)hk_set_foreground((int)fd, (pid_t)pgrp));
  }

  // foreground(fd) -> the terminal's foreground group, or -errno (-ENOTTY: not our controlling terminal).
  Napi::Value Foreground(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    int64_t fd;
    if (!ArgInt(info, 0, &fd)) return TypeError(env, "foreground(fd)");
    return Napi::Number::New(env, (double)hk_foreground((int)fd));
  }

  // processGroup() -> getpgrp(2), which cannot fail.
  Napi::Value ProcessGroup(const Napi::CallbackInfo &info) { return Napi::Number::New(info.Env(), (double)getpgrp()); }

  // tgkill(pid, tid, signal); throws SystemError.
  Napi::Value Tgkill(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    int64_t pid, tid, signal;
    if (!ArgInt(info, 0, &pid) || !ArgInt(info, 1, &tid) || !ArgInt(info, 2, &signal) || pid <= 0 || tid <= 0 || signal < 0)
      return TypeError(env, "tgkill(pid, tid, signal)");
    int rc = hk_tgkill((pid_t)pid, (pid_t)tid, (int)signal);
    if (rc < 0) {
      Napi::Object extra = Info(env, "pid", (double)pid);
      extra.Set("tid", Napi::Number::New(env, (double)tid));
      return Fail(env, rc, "tgkill", extra);
    }
    return env.Undefined();
  }

  // ioctlBuffer(fd, request, buffer, name) -> the ioctl's result; throws SystemError naming ioctl(name).
  Napi::Value IoctlBuffer(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    int64_t fd, request;
    std::string name;
    // The request is 32 bits; JS's (3 << 30) | ... makes the _IOWR ones negative: either spelling is taken.
    if (!ArgInt(info, 0, &fd) || !ArgInt(info, 1, &request) || request < INT32_MIN || request > UINT32_MAX || !info[2].IsBuffer() ||
        !ArgCString(info[3], &name))
      return TypeError(env, "ioctlBuffer(fd, request, buffer, name)");
    auto buffer = info[2].As<Napi::Buffer<uint8_t>>();
    long rc = hk_ioctl_buffer((int)fd, (unsigned long)(uint32_t)request, buffer.Data());
    if (rc < 0) return Fail(env, rc, ("ioctl(" + name + ")").c_str(), Info(env, "fd", (double)fd));
    return Napi::Number::New(env, (double)rc);
  }

  // cpuid(leaf, subleaf) -> [eax, ebx, ecx, edx], or null when the CPU has no such leaf (or is not x86).
  // Not a system call: nothing to throw but a wrong argument.
  Napi::Value Cpuid(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    int64_t leaf, subleaf;
    if (!ArgInt(info, 0, &leaf) || !ArgInt(info, 1, &subleaf) || leaf < 0 || leaf > 0xffffffffLL || subleaf < 0 ||
        subleaf > 0xffffffffLL)
      return TypeError(env, "cpuid(leaf, subleaf)");
    uint32_t regs[4];
    if (hk_cpuid((uint32_t)leaf, (uint32_t)subleaf, regs) < 0) return env.Null();
    Napi::Uint32Array out = Napi::Uint32Array::New(env, 4);
    for (int i = 0; i < 4; i++) out[i] = regs[i];
    return out;
  }

  // xgetbv(index) -> the extended control register as a BigInt, or null where XSAVE is off (or not x86).
  Napi::Value Xgetbv(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    int64_t index;
    if (!ArgInt(info, 0, &index) || index != 0) return TypeError(env, "xgetbv(0)");
    uint64_t value;
    if (hk_xgetbv((uint32_t)index, &value) < 0) return env.Null();
    return Napi::BigInt::New(env, value);
  }

  // stepRange(tid, signal, start, end, avoid: BigUint64Array, pcOffset, spinUs, budgetUs, regs: Buffer, stepCode,
  //           watch?: BigUint64Array of HK_WATCH_WORDS, insns?: BigUint64Array of HK_INSN_WORDS * 2^k)
  //   -> the wait status (>= 0) of the stop that ended it, or what happened instead: 'running' (left
  //   stepping), 'vanished' (ECHILD), 'left' (a plain step out of the range, its general registers
  //   in `regs`), 'watched' (a plain step after which a watched slot changed or that touched an
  //   access slot, registers in `regs`), 'undecoded' (stopped before an instruction `insns` lacks).
  //   Those are expected outcomes, not errors; a failed ptrace throws.
  Napi::Value StepRange(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    int64_t tid, signal, pc_offset, spin_us, budget_us, step_code;
    uint64_t start, end;
    if (!ArgInt(info, 0, &tid) || !ArgInt(info, 1, &signal) || !ArgU64(info, 2, &start) || !ArgU64(info, 3, &end) ||
        !info[4].IsTypedArray() || info[4].As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array ||
        !ArgInt(info, 5, &pc_offset) || !ArgInt(info, 6, &spin_us) || !ArgInt(info, 7, &budget_us) ||
        !info[8].IsBuffer() || !ArgInt(info, 9, &step_code) || !OptionalWords(info, 10, true) || !OptionalWords(info, 11, false))
      return TypeError(env, "stepRange(tid, signal, start, end, avoid, pcOffset, spinUs, budgetUs, regs, stepCode, watch?, insns?)");
    Napi::TypedArrayOf<uint64_t> avoid = info[4].As<Napi::TypedArrayOf<uint64_t>>();
    auto regs = info[8].As<Napi::Buffer<uint8_t>>();
    struct hk_step_range r = {(pid_t)tid, (int)signal, start, end, avoid.Data(), (int)avoid.ElementLength(),
                              (size_t)pc_offset, spin_us, budget_us, regs.Data(), regs.Length(), (int)step_code,
                              WordsOf(info[10]), WordsOf(info[11]), InsnEntries(info[11])};
    const char *failed = "ptrace(PTRACE_SINGLESTEP)";
    int rc = hk_step_range(&r, &failed);
    if (rc == HK_STEP_RUNNING) return Napi::String::New(env, "running");
    if (rc == HK_STEP_VANISHED) return Napi::String::New(env, "vanished");
    if (rc == HK_STEP_LEFT) return Napi::String::New(env, "left");
    if (rc == HK_STEP_WATCHED) return Napi::String::New(env, "watched");
    if (rc == HK_STEP_UNDECODED) return Napi::String::New(env, "undecoded");
    if (rc < 0) return Fail(env, rc, failed, Info(env, "tid", (double)tid));
    return Napi::Number::New(env, rc);
  }

  // watchedAccess(tid, regs: Buffer, pcOffset, watch: BigUint64Array of HK_WATCH_WORDS, insns: BigUint64Array)
  //   -> the access slots (bits) the instruction at regs' pc touches when stepped from there, or
  //   -1 when `insns` lacks it (its pc then in watch[HK_WATCH_UNDECODED]).
  Napi::Value WatchedAccess(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    int64_t tid, pc_offset;
    if (!ArgInt(info, 0, &tid) || !info[1].IsBuffer() || !ArgInt(info, 2, &pc_offset) || info[3].IsUndefined() ||
        !OptionalWords(info, 3, true) || info[4].IsUndefined() || !OptionalWords(info, 4, false))
      return TypeError(env, "watchedAccess(tid, regs, pcOffset, watch, insns)");
    auto regs = info[1].As<Napi::Buffer<uint8_t>>();
    uint64_t bits = 0;
    int rc = hk_watched_access((pid_t)tid, regs.Data(), regs.Length(), (size_t)pc_offset, WordsOf(info[3]), WordsOf(info[4]),
                               InsnEntries(info[4]), &bits);
    if (rc == HK_STEP_UNDECODED) return Napi::Number::New(env, -1);
    if (rc < 0) return Fail(env, rc, "watchedAccess", Info(env, "tid", (double)tid));
    return Napi::Number::New(env, (double)bits);
  }

  // stepRange's watch (HK_WATCH_WORDS words) or insns (a power of two of HK_INSN_WORDS-word entries): absent, or 64-bit words.
  static bool OptionalWords(const Napi::CallbackInfo &info, size_t at, bool watch) {
    if (info[at].IsUndefined()) return true;
    if (!info[at].IsTypedArray()) return false;
    auto words = info[at].As<Napi::TypedArray>();
    if (words.TypedArrayType() != napi_biguint64_array) return false;
    size_t n = words.ElementLength();
    if (watch) return n == HK_WATCH_WORDS;
    size_t entries = n / HK_INSN_WORDS;
    return n % HK_INSN_WORDS == 0 && entries > 0 && entries <= (1u << 24) && (entries & (entries - 1)) == 0;
  }

  static uint64_t *WordsOf(Napi::Value v) {
    return v.IsUndefined() ? nullptr : v.As<Napi::TypedArrayOf<uint64_t>>().Data();
  }

  static uint32_t InsnEntries(Napi::Value v) {
    return v.IsUndefined() ? 0 : (uint32_t)(v.As<Napi::TypedArray>().ElementLength() / HK_INSN_WORDS);
  }

  Napi::Value VmTransfer(const Napi::CallbackInfo &info, bool write) {
    Napi::Env env = info.Env();
    int64_t pid;
    uint64_t addr;
    uint8_t *data;
    size_t len;
    if (!ArgInt(info, 0, &pid) || !ArgU64(info, 1, &addr) || !ArgRange(info, 2, &data, &len))
      return TypeError(env, "(pid, address, buffer, offset, length)");
    ssize_t rc = write ? hk_vm_write((pid_t)pid, addr, data, len) : hk_vm_read((pid_t)pid, addr, data, len);
    if (rc < 0) {
      Napi::Object extra = Info(env, "pid", (double)pid);
      extra.Set("address", Napi::BigInt::New(env, addr));
      return Fail(env, rc, write ? "process_vm_writev" : "process_vm_readv", extra);
    }
    return Napi::Number::New(env, (double)rc);
  }
  Napi::Value VmRead(const Napi::CallbackInfo &info) { return VmTransfer(info, false); }
  Napi::Value VmWrite(const Napi::CallbackInfo &info) { return VmTransfer(info, true); }

  class VmReadWorker : public Napi::AsyncWorker {
   public:
    VmReadWorker(Hostkit *addon, Napi::Function cb, Napi::Object buffer, pid_t pid, uint64_t addr, uint8_t *data,
                 size_t len)
        : Napi::AsyncWorker(cb, "hostkit:vmRead"), addon_(addon), buffer_(Napi::Persistent(buffer)), pid_(pid),
          addr_(addr), data_(data), len_(len) {}
    void Execute() override { rc_ = hk_vm_read(pid_, addr_, data_, len_); }
    void OnOK() override {
      Napi::Env env = Env();
      if (rc_ >= 0) {
        Callback().Call({env.Null(), Napi::Number::New(env, (double)rc_)});
        return;
      }
      Napi::Object extra = Info(env, "pid", (double)pid_);
      extra.Set("address", Napi::BigInt::New(env, addr_));
      Callback().Call({addon_->MakeError(env, rc_, "process_vm_readv", extra)});
    }

   private:
    Hostkit *addon_;
    Napi::ObjectReference buffer_;  // keeps the memory alive while the pool thread fills it
    pid_t pid_;
    uint64_t addr_;
    uint8_t *data_;
    size_t len_;
    ssize_t rc_ = 0;
  };

  // vmReadAsync(pid, address, buffer, offset, length, callback(err, bytes)): on the libuv pool.
  Napi::Value VmReadAsync(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    int64_t pid;
    uint64_t addr;
    uint8_t *data;
    size_t len;
    if (!ArgInt(info, 0, &pid) || !ArgU64(info, 1, &addr) || !ArgRange(info, 2, &data, &len) || !info[5].IsFunction())
      return TypeError(env, "vmReadAsync(pid, address, buffer, offset, length, callback)");
    auto *w = new VmReadWorker(this, info[5].As<Napi::Function>(), info[2].As<Napi::Object>(), (pid_t)pid, addr,
                               data, len);
    w->Queue();
    return env.Undefined();
  }

  Napi::Value FdTransfer(const Napi::CallbackInfo &info, bool write) {
    Napi::Env env = info.Env();
    int64_t fd;
    uint64_t pos;
    uint8_t *data;
    size_t len;
    if (!ArgInt(info, 0, &fd) || !ArgRange(info, 1, &data, &len) || !ArgU64(info, 4, &pos))
      return TypeError(env, "(fd, buffer, offset, length, position)");
    ssize_t rc = write ? hk_pwrite((int)fd, data, len, pos) : hk_pread((int)fd, data, len, pos);
    if (rc < 0) {
      Napi::Object extra = Info(env, "fd", (double)fd);
      extra.Set("address", Napi::BigInt::New(env, pos));
      return Fail(env, rc, write ? "pwrite" : "pread", extra);
    }
    return Napi::Number::New(env, (double)rc);
  }
  Napi::Value Pread(const Napi::CallbackInfo &info) { return FdTransfer(info, false); }

  // holdAddressSpace(name) -> the pid of the process holding this one's memory (address_space.c).
  Napi::Value HoldAddressSpace(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    std::string name;
    if (!ArgCString(info[0], &name)) return TypeError(env, "holdAddressSpace(name)");
    pid_t rc = hk_hold_address_space(name.c_str());
    if (rc < 0) return Fail(env, rc, "clone", Napi::Object::New(env));
    return Napi::Number::New(env, rc);
  }
  Napi::Value Pwrite(const Napi::CallbackInfo &info) { return FdTransfer(info, true); }

  // launch(path, argv, envp, cwd|null, [stdin, stdout, stderr], options, newProcessGroup[, noRandomization]) -> pid
  // path and each argv element: a string or a Buffer of raw bytes.
  Napi::Value Launch(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    std::string path;
    std::vector<std::string> argv, envp;
    int64_t options;
    if (!ArgCString(info[0], &path) || !ArgStrings(info[1], &argv) || !ArgStrings(info[2], &envp) ||
        !(info[3].IsString() || info[3].IsNull()) || !info[4].IsArray() || !ArgInt(info, 5, &options) ||
        !info[6].IsBoolean() || !(info[7].IsUndefined() || info[7].IsBoolean()))
      return TypeError(env, "launch(path, argv, envp, cwd, stdio, options, newProcessGroup, noRandomization)");
    std::string cwd = info[3].IsString() ? info[3].As<Napi::String>().Utf8Value() : "";
    std::vector<char *> cargv = CStrings(argv), cenvp = CStrings(envp);
    hk_launch_request req = {};
    req.path = path.c_str();
    req.argv = cargv.data();
    req.envp = cenvp.data();
    req.cwd = info[3].IsString() ? cwd.c_str() : nullptr;
    auto stdio = info[4].As<Napi::Array>();
    for (uint32_t i = 0; i < 3; i++) {
      Napi::Value v = stdio.Get(i);
      req.stdio[i] = v.IsNumber() ? v.As<Napi::Number>().Int32Value() : -1;
    }
    req.options = (unsigned long)options;
    req.new_process_group = info[6].As<Napi::Boolean>().Value();
    req.no_randomization = info[7].IsBoolean() && info[7].As<Napi::Boolean>().Value();
    pid_t pid = 0;
    hk_launch_stage stage;
    int rc = hk_launch(&req, &pid, &stage);
    if (rc < 0) {
      return Fail(env, rc, hk_launch_stage_name(stage), hostkit_errors::PathInfo(env, stage == HK_STAGE_CHDIR ? cwd : path));
    }
    return Napi::Number::New(env, pid);
  }

  // sigchldStart(callback): one watcher per addon instance.
  Napi::Value SigchldStart(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!info[0].IsFunction()) return TypeError(env, "sigchldStart(callback)");
    if (sigchld_) return env.Undefined();
    int uv_error = 0;
    sigchld_ = SigchldWatcher::Start(env, info[0].As<Napi::Function>(), &uv_error);
    if (!sigchld_) return Fail(env, uv_error, "uv_signal_start", Napi::Object::New(env));
    return env.Undefined();
  }

  // listenInet(host, port) -> [fd, port bound], or the name of getaddrinfo's failure ('ENOTFOUND', 'EAI_AGAIN', ...).
  Napi::Value ListenInet(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    std::string host;
    int64_t port;
    if (!ArgCString(info[0], &host) || !ArgInt(info, 1, &port) || port < 0 || port > 65535) return TypeError(env, "listenInet(host, port)");
    int bound = 0, gai_error = 0;
    const char *failed = "socket";
    int fd = hk_listen_inet(host.c_str(), (int)port, &bound, &failed, &gai_error);
    if (gai_error != 0 && gai_error != EAI_SYSTEM) return Napi::String::New(env, GaiCode(gai_error));
    if (fd < 0) {
      Napi::Object extra = Napi::Object::New(env);
      extra.Set("hint", Napi::String::New(env, host + " port " + std::to_string(port)));
      return Fail(env, fd, failed, extra);
    }
    Napi::Array out = Napi::Array::New(env, 2);
    out.Set(0u, Napi::Number::New(env, fd));
    out.Set(1u, Napi::Number::New(env, bound));
    return out;
  }

  // listenPath(path) -> a listening unix socket's fd.
  Napi::Value ListenPath(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    std::string path;
    if (!ArgCString(info[0], &path)) return TypeError(env, "listenPath(path)");
    const char *failed = "socket";
    int fd = hk_listen_path(path.c_str(), &failed);
    if (fd < 0) return Fail(env, fd, failed, hostkit_errors::PathInfo(env, path));
    return Napi::Number::New(env, fd);
  }

  // accept(fd) -> a connection's fd, or -EAGAIN when none waits.
  Napi::Value Accept(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    int64_t fd;
    if (!ArgInt(info, 0, &fd)) return TypeError(env, "accept(fd)");
    int c = hk_accept((int)fd);
    if (c < 0 && c != -EAGAIN) return Fail(env, c, "accept4", Info(env, "fd", (double)fd));
    return Napi::Number::New(env, c);
  }

  // watchReadable(fd, callback): callback() on the JS thread whenever fd is readable, until unwatch(fd).
  Napi::Value WatchReadable(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    int64_t fd;
    if (!ArgInt(info, 0, &fd) || !info[1].IsFunction()) return TypeError(env, "watchReadable(fd, callback)");
    if (watchers_.count((int)fd)) return TypeError(env, "watchReadable: fd is watched already");
    int uv_error = 0;
    FdWatcher *w = FdWatcher::Start(env, (int)fd, info[1].As<Napi::Function>(), &uv_error);
    if (!w) return Fail(env, uv_error, "uv_poll_start", Info(env, "fd", (double)fd));
    watchers_[(int)fd] = w;
    return env.Undefined();
  }

  // unwatch(fd): the watch ends now (no callback after this returns).
  Napi::Value Unwatch(const Napi::CallbackInfo &info) {
    int64_t fd;
    if (!ArgInt(info, 0, &fd)) return TypeError(info.Env(), "unwatch(fd)");
    auto it = watchers_.find((int)fd);
    if (it != watchers_.end()) {
      it->second->Close();
      watchers_.erase(it);
    }
    return info.Env().Undefined();
  }

  // Node's names for getaddrinfo's failures (its dns errors' codes).
  static const char *GaiCode(int rc) {
    switch (rc) {
      case EAI_NONAME:
#ifdef EAI_NODATA
      case EAI_NODATA:
#endif
        return "ENOTFOUND";
      case EAI_AGAIN:
        return "EAI_AGAIN";
      case EAI_FAIL:
        return "EAI_FAIL";
      case EAI_FAMILY:
        return "EAI_FAMILY";
      case EAI_MEMORY:
        return "EAI_MEMORY";
      case EAI_SERVICE:
        return "EAI_SERVICE";
      default:
        return "EAI_FAIL";
    }
  }

  // sigchldRef(keepAlive): referenced while tracees run, so awaiting their events keeps Node alive.
  Napi::Value SigchldRef(const Napi::CallbackInfo &info) {
    if (sigchld_ && info[0].IsBoolean()) sigchld_->Ref(info[0].As<Napi::Boolean>().Value());
    return info.Env().Undefined();
  }
};

}  // namespace

Napi::Value hostkit_errors::ThrowSystemError(Napi::Env env, long neg_errno, const std::string &syscall,
                                             Napi::Object info) {
  return env.GetInstanceData<Hostkit>()->Fail(env, neg_errno, syscall, info);
}

NODE_API_ADDON(Hostkit)
