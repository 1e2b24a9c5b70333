#include "channel.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <vector>

#include "../io/inet.h"

namespace nsnet::addon {

Napi::Function Channel::Define(Napi::Env env) {
  return DefineClass(env, "Channel",
                     {
                         InstanceMethod<&Channel::Send>("send"),
                         InstanceMethod<&Channel::Drain>("drain"),
                         InstanceMethod<&Channel::Close>("close"),
                         InstanceMethod<&Channel::Ref>("ref"),
                         InstanceMethod<&Channel::Unref>("unref"),
                     });
}

Channel::Channel(const Napi::CallbackInfo& info) : TaggedWrap<Channel>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsFunction() || !info[2].IsFunction())
    NAPI_THROW_VOID(Napi::TypeError::New(env, "new Channel(fd, onData, onEnd)"));
  fd_ = fcntl(info[0].As<Napi::Number>().Int32Value(), F_DUPFD_CLOEXEC, 3);
  if (fd_ < 0) NAPI_THROW_VOID(Napi::Error::New(env, std::string("fd channel: dup: ") + strerror(errno)));
  on_data_ = Napi::Persistent(info[1].As<Napi::Function>());
  on_end_ = Napi::Persistent(info[2].As<Napi::Function>());
  napi_value resource;
  napi_create_string_utf8(env, "nsnet:channel", NAPI_AUTO_LENGTH, &resource);
  napi_async_init(env, nullptr, resource, &ctx_);
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  poll_ = new uv_poll_t;
  poll_->data = this;
  if (const int e = uv_poll_init(loop, poll_, fd_)) {
    delete poll_;
    poll_ = nullptr;
    ::close(fd_);
    fd_ = -1;
    NAPI_THROW_VOID(Napi::Error::New(env, std::string("fd channel: ") + uv_strerror(e)));
  }
  uv_poll_start(poll_, UV_READABLE | UV_DISCONNECT, [](uv_poll_t* h, int status, int) {
    auto* self = static_cast<Channel*>(h->data);
    if (status < 0) self->end(-status);
    else self->readable();
  });
}

// Every message waiting, each with its fds, then back to the loop.
void Channel::readable() {
  Napi::Env env = Env();
  if (buf_.empty()) buf_.resize(65536);
  std::vector<char>& buf = buf_;
  while (fd_ >= 0) {
    std::vector<int> fds;
    const ssize_t n = io::recv_fds(fd_, buf.data(), buf.size(), &fds);
    if (n == -EAGAIN || n == -EINTR) {
      if (n == -EINTR) continue;
      return;
    }
    if (n <= 0) {
      for (int fd : fds) ::close(fd);
      return end(n == 0 ? 0 : static_cast<int>(-n));
    }
    Napi::HandleScope scope(env);
    Napi::Array a = Napi::Array::New(env, fds.size());
    for (size_t i = 0; i < fds.size(); i++) a.Set(static_cast<uint32_t>(i), fds[i]);
    napi_value argv[] = {Napi::Buffer<char>::Copy(env, buf.data(), static_cast<size_t>(n)), a};
    napi_value result;
    // From here the fds are JS's to close; a throwing callback is an uncaught exception.
    if (napi_make_callback(env, ctx_, Value(), on_data_.Value(), 2, argv, &result) == napi_pending_exception) {
      napi_value err;
      napi_get_and_clear_last_exception(env, &err);
      napi_fatal_exception(env, err);
    }
  }
}

// The peer closed (error 0) or the socket failed: onEnd once, then closed.
void Channel::end(int error) {
  if (fd_ < 0) return;
  Napi::Env env = Env();
  Napi::FunctionReference cb = std::move(on_end_);
  close();
  if (cb.IsEmpty()) return;
  Napi::HandleScope scope(env);
  napi_value argv[] = {Napi::Number::New(env, error)};
  napi_value result;
  if (napi_make_callback(env, ctx_, Value(), cb.Value(), 1, argv, &result) == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
}

void Channel::close() {
  if (poll_) {
    uv_poll_stop(poll_);
    // The handle's memory must outlive libuv's close.
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  on_data_.Reset();
}

Napi::Value Channel::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsBuffer()) NAPI_THROW(Napi::TypeError::New(env, "send(data: Buffer, fds?: number[])"), Napi::Value());
  auto data = info[0].As<Napi::Buffer<char>>();
  std::vector<int> fds;
  if (info[1].IsArray()) {
    Napi::Array a = info[1].As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) fds.push_back(a.Get(i).ToNumber().Int32Value());
  }
  if (fd_ < 0) return Napi::Number::New(env, EPIPE);
  const ssize_t n = io::send_fds(fd_, data.Data(), data.Length(), fds);
  // Messages are a line each, far below a socket's buffer: one sent in part is a peer not reading.
  const int e = n < 0 ? static_cast<int>(-n) : static_cast<size_t>(n) < data.Length() ? EAGAIN : 0;
  return Napi::Number::New(env, e);
}

Napi::Value Channel::Drain(const Napi::CallbackInfo& info) {
  readable();
  return info.Env().Undefined();
}

Napi::Value Channel::Close(const Napi::CallbackInfo& info) {
  on_end_.Reset();
  close();
  return info.Env().Undefined();
}

Napi::Value Channel::Ref(const Napi::CallbackInfo& info) {
  if (poll_) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
  return info.Env().Undefined();
}

Napi::Value Channel::Unref(const Napi::CallbackInfo& info) {
  if (poll_) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
  return info.Env().Undefined();
}

}  // namespace nsnet::addon
