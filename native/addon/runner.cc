#include "runner.h"

#include <pthread.h>
#include <time.h>

#include <chrono>
#include <cstdlib>

#include "../ns/ns.h"

namespace nsnet::addon {

Executor::Executor(std::string name, int threads, std::function<void()> on_start)
    : name_(std::move(name)), on_start_(std::move(on_start)) {
  for (int i = 0; i < threads; i++) threads_.emplace_back([this, i] { loop(static_cast<size_t>(i)); });
}

void Executor::loop(size_t i) {
  const std::string tname = (name_ + std::to_string(i)).substr(0, 15);
  pthread_setname_np(pthread_self(), tname.c_str());
  if (on_start_) on_start_();
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [this] { return stopping_ || !q_.empty(); });
      if (stopping_) return;
      task = std::move(q_.front());
      q_.pop_front();
    }
    task();
  }
}

void Executor::post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    q_.push_back(std::move(task));
  }
  cv_.notify_one();
}

void Executor::stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    q_.clear();
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

namespace {

// CPU time of the calling thread: unlike wall time, it does not count the
// moments the (virtual) CPU was taken away from us.
double thread_cpu_us() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int netlink_threads() {
  // Most rtnetlink work serialises on rtnl_lock in the kernel; a few threads
  // are enough to keep slow requests (a veth delete) from holding up others.
  const char* v = std::getenv("NSNET_NETLINK_THREADS");
  const int n = v ? std::atoi(v) : 4;
  return n >= 1 && n <= 64 ? n : 4;
}

}  // namespace

Runner::Runner(Napi::Env env)
    : env_(env),
      netlink_("nsnet-nl", netlink_threads(), nullptr),
      ns_("nsnet-ns", 1, [] {
        io::SysError err;
        ns::init_home(&err);  // if this fails, every namespace job reports it
      }) {
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  async_ = new uv_async_t;
  async_->data = this;
  uv_async_init(loop, async_, [](uv_async_t* h) { static_cast<Runner*>(h->data)->drain(); });
  uv_unref(reinterpret_cast<uv_handle_t*>(async_));
  napi_value name;
  napi_create_string_utf8(env, "nsnet", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, nullptr, name, &async_ctx_);
}

Runner::~Runner() { shutdown(); }

void Runner::shutdown() {
  if (down_) return;
  down_ = true;
  netlink_.stop();
  ns_.stop();
  {
    std::lock_guard<std::mutex> lk(done_mu_);
    done_.clear();
  }
  // Threads are joined: whatever was queued or finished but not settled is
  // ours to free (on this, the JS thread), with what it holds.
  for (Job* j : live_) delete j;
  live_.clear();
  napi_async_destroy(env_, async_ctx_);
  // The handle's memory must outlive libuv's close.
  uv_close(reinterpret_cast<uv_handle_t*>(async_), [](uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); });
}

Napi::Promise Runner::submit(Napi::Env env, Job* job, Lane lane) {
  napi_value promise;
  napi_status st = napi_create_promise(env, &job->deferred, &promise);
  if (st != napi_ok) {
    delete job;
    NAPI_THROW(Napi::Error::New(env, "napi_create_promise failed"), Napi::Promise());
  }
  if (down_) {
    napi_reject_deferred(env, job->deferred, Napi::Error::New(env, "nsnet is shutting down").Value());
    delete job;
    return Napi::Promise(env, promise);
  }
  if (live_.empty()) uv_ref(reinterpret_cast<uv_handle_t*>(async_));
  live_.insert(job);
  auto task = [this, job] {
    job->run();
    complete(job);
  };
  (lane == Lane::Namespace ? ns_ : netlink_).post(std::move(task));
  return Napi::Promise(env, promise);
}

void Runner::complete(Job* job) {
  {
    std::lock_guard<std::mutex> lk(done_mu_);
    done_.push_back(job);
  }
  uv_async_send(async_);
}

// Settles the jobs finished so far, and only those: a job that finishes
// while we run waits for the next loop iteration, so a fast chain of awaits
// never starves timers and I/O (Node's threadsafe functions keep draining).
void Runner::drain() {
  std::vector<Job*> batch;
  {
    std::lock_guard<std::mutex> lk(done_mu_);
    batch.swap(done_);
  }
  if (batch.empty()) return;
  const auto t0 = std::chrono::steady_clock::now();
  const double c0 = thread_cpu_us();
  napi_env env = env_;
  {
    Napi::HandleScope scope(env_);
    // One callback scope for the batch: microtasks (the awaits' continuations) run once, when it closes.
    Napi::CallbackScope cb(env, async_ctx_);
    for (Job* j : batch) {
      try {
        Napi::Value v = j->settle(env_);
        napi_resolve_deferred(env, j->deferred, v);
      } catch (const Napi::Error& e) {
        napi_reject_deferred(env, j->deferred, e.Value());
      } catch (const std::exception& e) {
        napi_reject_deferred(env, j->deferred, Napi::Error::New(env, e.what()).Value());
      }
      live_.erase(j);
      delete j;
    }
  }
  if (live_.empty() && !down_) uv_unref(reinterpret_cast<uv_handle_t*>(async_));
  const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = thread_cpu_us() - c0;
  stats_.drains++;
  stats_.jobs += batch.size();
  if (us > stats_.max_drain_us) stats_.max_drain_us = us;
  if (cpu > stats_.max_drain_cpu_us) stats_.max_drain_cpu_us = cpu;
  if (us > 2000) stats_.drains_over_2ms++;
}

}  // namespace nsnet::addon
