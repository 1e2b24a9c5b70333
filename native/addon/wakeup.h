// How addon threads hand work back to the JS thread, and how long the JS
// thread then spends in the addon's hands. Shared by the promise runner
// (runner.h) and the event streams (watch.h).
#pragma once

#include <napi.h>
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>

namespace nsnet::addon {

// A uv_async handle on an environment's loop and the async context its
// callbacks run in. The handle is referenced only while held, so an idle
// addon never keeps the process alive; a wake-up runs on_wake once on the
// JS thread however many sends came before it.
class Wakeup {
 public:
  Wakeup(Napi::Env env, const char* name, std::function<void()> on_wake);
  ~Wakeup() { close(); }
  Wakeup(const Wakeup&) = delete;
  Wakeup& operator=(const Wakeup&) = delete;

  // Any thread, until close().
  void send();
  // JS thread: keeps the loop alive while the holds add up to more than zero.
  void hold(int delta);
  napi_async_context context() const { return ctx_; }
  // JS thread. After it, on_wake never runs again.
  void close();

 private:
  napi_env env_;
  uv_async_t* async_;
  napi_async_context ctx_ = nullptr;
  std::function<void()> on_wake_;
  int holds_ = 0;
  bool closed_ = false;
};

// Times of the JS thread's visits to the addon: wall time, and the thread's
// CPU time, which unlike wall time does not count the moments the (virtual)
// CPU was taken away from it.
struct Busy {
  uint64_t count = 0;
  double max_us = 0;
  double max_cpu_us = 0;
  uint64_t over_2ms = 0;  // wall time
};

class Stopwatch {
 public:
  Stopwatch();
  // Adds the time since construction to b.
  void stop(Busy* b) const;

 private:
  std::chrono::steady_clock::time_point t0_;
  double cpu0_;
};

}  // namespace nsnet::addon
