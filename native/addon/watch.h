// N-API glue for event streams (see io/monitor.h for the stream itself).
//
// Delivery is pulled: the JS side calls pull() when it can take a batch, and
// the addon calls back once, with up to `batch` events converted in one go.
// The wake-up goes through one uv_async handle per environment, so a pull
// made inside a callback is served on the next turn of the loop: a burst
// never keeps the JS thread from timers and I/O.
#pragma once

#include <napi.h>

#include <memory>
#include <mutex>
#include <vector>

#include "../io/monitor.h"
#include "handle.h"
#include "runner.h"
#include "wakeup.h"

namespace nsnet::addon {

class Watches : public std::enable_shared_from_this<Watches> {
 public:
  explicit Watches(Napi::Env env);
  ~Watches();
  static Napi::Function Define(Napi::Env env);
  // watchOpen(ns, { what, rcvbuf, queueLimit, batch, list }, cb) -> Promise<WatchHandle>
  Napi::Value open(Runner& runner, const Napi::CallbackInfo& info);
  void shutdown();

  // JS thread.
  io::Hub& hub();
  // An open, referenced watch keeps the loop alive.
  void ref(int delta) { wakeup_.hold(delta); }

  // How long deliveries hold the JS thread (conversion + the callback + its microtasks).
  Busy deliveries;

 private:
  void drain();

  Napi::Env env_;
  Napi::FunctionReference ctor_;
  Wakeup wakeup_;
  std::unique_ptr<io::Hub> hub_;
  std::mutex mu_;
  std::vector<std::shared_ptr<io::Monitor>> ready_;
  bool down_ = false;
  friend class WatchHandle;
};

class WatchHandle : public TaggedWrap<WatchHandle> {
 public:
  static constexpr napi_type_tag kTag = {0x6e736e6574776174ull, 0x51c2e8a04d7b9f13ull};
  static constexpr const char* kName = "watch handle";
  explicit WatchHandle(const Napi::CallbackInfo& info) : TaggedWrap<WatchHandle>(info) {}
  ~WatchHandle() override { close(); }

  std::shared_ptr<Watches> watches;
  std::shared_ptr<io::Monitor> monitor;
  Napi::FunctionReference cb;
  size_t batch = 256;
  bool refed = false;

  void close();

 private:
  friend class Watches;
  Napi::Value Pull(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
};

}  // namespace nsnet::addon
