#include "wakeup.h"

#include <time.h>

namespace nsnet::addon {

Wakeup::Wakeup(Napi::Env env, const char* name, std::function<void()> on_wake)
    : env_(env), async_(new uv_async_t), on_wake_(std::move(on_wake)) {
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  async_->data = this;
  uv_async_init(loop, async_, [](uv_async_t* h) { static_cast<Wakeup*>(h->data)->on_wake_(); });
  uv_unref(reinterpret_cast<uv_handle_t*>(async_));
  napi_value resource;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource);
  napi_async_init(env, nullptr, resource, &ctx_);
}

void Wakeup::send() { uv_async_send(async_); }

void Wakeup::hold(int delta) {
  if (closed_) return;
  const int before = holds_;
  holds_ += delta;
  if (before <= 0 && holds_ > 0) uv_ref(reinterpret_cast<uv_handle_t*>(async_));
  if (before > 0 && holds_ <= 0) uv_unref(reinterpret_cast<uv_handle_t*>(async_));
}

void Wakeup::close() {
  if (closed_) return;
  closed_ = true;
  napi_async_destroy(env_, ctx_);
  // The handle's memory must outlive libuv's close.
  uv_close(reinterpret_cast<uv_handle_t*>(async_), [](uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); });
}

namespace {

double thread_cpu_us() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

}  // namespace

Stopwatch::Stopwatch() : t0_(std::chrono::steady_clock::now()), cpu0_(thread_cpu_us()) {}

void Stopwatch::stop(Busy* b) const {
  const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0_).count();
  const double cpu = thread_cpu_us() - cpu0_;
  b->count++;
  if (us > b->max_us) b->max_us = us;
  if (cpu > b->max_cpu_us) b->max_cpu_us = cpu;
  if (us > 2000) b->over_2ms++;
}

}  // namespace nsnet::addon
