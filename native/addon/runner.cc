#include "runner.h"

#include <pthread.h>

#include <cstdlib>

#include "../ns/ns.h"
#include "convert.h"

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
      wakeup_(env, "nsnet", [this] { drain(); }),
      netlink_("nsnet-nl", netlink_threads(), nullptr),
      ns_("nsnet-ns", 1, [] {
        io::SysError err;
        ns::init_home(&err);  // if this fails, every namespace job reports it
      }) {}

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
  wakeup_.close();
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
  wakeup_.hold(1);
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
  wakeup_.send();
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
  const Stopwatch watch;
  napi_env env = env_;
  {
    Napi::HandleScope scope(env_);
    // One callback scope for the batch: microtasks (the awaits' continuations) run once, when it closes.
    Napi::CallbackScope cb(env, wakeup_.context());
    for (Job* j : batch) {
      try {
        if (j->err) throw from_sys(env_, j->err);
        napi_resolve_deferred(env, j->deferred, j->value(env_));
      } catch (const Napi::Error& e) {
        napi_reject_deferred(env, j->deferred, e.Value());
      } catch (const std::exception& e) {
        napi_reject_deferred(env, j->deferred, Napi::Error::New(env, e.what()).Value());
      }
      live_.erase(j);
      delete j;
    }
  }
  wakeup_.hold(-static_cast<int>(batch.size()));
  stats_.jobs += batch.size();
  watch.stop(&stats_.drains);
}

}  // namespace nsnet::addon
