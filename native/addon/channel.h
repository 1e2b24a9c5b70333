// N-API glue for a unix stream socket whose messages carry fds
// (SCM_RIGHTS): the daemon's DNS door, where a process that created a
// sandbox hands over the resolver sockets it opened in the sandbox's
// namespace. Node reads its own sockets with read(), which drops the fds a
// message carries, so such a connection is taken from Node (a copy of its
// fd) and read here: a uv_poll handle on the JS thread's loop says when it
// is readable, and recvmsg and sendmsg run non-blocking. Like peerCred's
// getsockopt they never wait (a full socket is EAGAIN), so no thread is
// involved and none is woken.
#pragma once

#include <napi.h>
#include <uv.h>

#include <vector>

#include "handle.h"

namespace nsnet::addon {

class Channel : public TaggedWrap<Channel> {
 public:
  static constexpr napi_type_tag kTag = {0x6e736e657463686eull, 0x2d4f81a6c39b7e05ull};
  static constexpr const char* kName = "fd channel";
  static Napi::Function Define(Napi::Env env);

  // new Channel(fd, onData(data: Buffer, fds: number[]), onEnd(errno)): reads a copy of fd.
  explicit Channel(const Napi::CallbackInfo& info);
  ~Channel() override {
    close();
    if (ctx_) napi_async_destroy(Env(), ctx_);
  }

 private:
  void readable();  // JS thread, from the poll handle
  void end(int error);
  void close();

  // send(data: Buffer, fds?: number[]) -> 0, or the errno that kept it (or all of it) from being sent.
  Napi::Value Send(const Napi::CallbackInfo& info);
  // drain(): reads what is waiting now, as a wake-up would (onData runs within the call).
  Napi::Value Drain(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);

  int fd_ = -1;
  uv_poll_t* poll_ = nullptr;
  napi_async_context ctx_ = nullptr;
  Napi::FunctionReference on_data_, on_end_;
  std::vector<char> buf_;
};

}  // namespace nsnet::addon
