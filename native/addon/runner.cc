#include "runner.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "../ns/ns.h"
#include "convert.h"

namespace nsnet::addon {

namespace {

using Clock = std::chrono::steady_clock;

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// Polls until done() or us microseconds have passed; done()'s last answer.
// With `yield`, it gives way between checks to anything else runnable on
// its CPU (the thread it waits for may be queued there).
template <class Done>
bool poll_until(int us, bool yield, Done done) {
  const Clock::time_point end = Clock::now() + std::chrono::microseconds(us);
  for (;;) {
    if (done()) return true;
    if (Clock::now() >= end) return done();
    yield ? (void)sched_yield() : cpu_relax();
  }
}

}  // namespace

Executor::Executor(std::string name, int threads, int spin_us, std::function<void()> on_start, bool lazy)
    : name_(std::move(name)), spin_us_(spin_us), on_start_(std::move(on_start)), count_(threads) {
  if (!lazy) start();
}

void Executor::start() {
  for (int i = 0; i < count_; i++) threads_.emplace_back([this, i] { loop(static_cast<size_t>(i)); });
}

void Executor::poll_for_work(int us) {
  if (us <= 0 || polling_.exchange(true)) return;
  // It yields: the JS thread may be runnable on this CPU, waiting for it.
  poll_until(us, true, [this] {
    polling_cpu_.store(sched_getcpu(), std::memory_order_relaxed);
    return queued_.load(std::memory_order_relaxed) > 0 || stop_polling_.load(std::memory_order_relaxed);
  });
  // Before the queue is read under the lock: a post that still saw us
  // polling skipped the notify, and we must find its task there.
  polling_.store(false);
}

void Executor::loop(size_t i) {
  const std::string tname = (name_ + std::to_string(i)).substr(0, 15);
  pthread_setname_np(pthread_self(), tname.c_str());
  if (on_start_) on_start_();
  for (bool worked = false;;) {
    if (worked) poll_for_work(spin_us_);
    worked = false;
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lk(mu_);
      sleeping_++;
      cv_.wait(lk, [this] { return stopping_ || !q_.empty() || prewake_us_ > 0; });
      sleeping_--;
      if (stopping_) return;
      if (q_.empty()) {
        // Woken ahead of a task (prewake): poll for it, else sleep again.
        const int us = prewake_us_;
        prewake_us_ = 0;
        lk.unlock();
        poll_for_work(us);
        lk.lock();
        if (stopping_) return;
        if (q_.empty()) continue;
      }
      task = std::move(q_.front());
      q_.pop_front();
      queued_.fetch_sub(1, std::memory_order_relaxed);
    }
    task();
    worked = true;
  }
}

int Executor::post(std::function<void()> task) {
  bool sleeper;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (threads_.empty() && !stopping_) start();  // a lazy one's first task
    q_.push_back(std::move(task));
    queued_.fetch_add(1, std::memory_order_relaxed);
    sleeper = sleeping_ > 0;
  }
  // A polling thread takes the task without being woken (see poll_for_work).
  const bool hot = polling_.load();
  if (!hot && sleeper) cv_.notify_one();
  return hot ? polling_cpu_.load(std::memory_order_relaxed) : -1;
}

void Executor::prewake(int us) {
  if (us <= 0 || spin_us_ <= 0 || polling_.load()) return;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (threads_.empty() || stopping_ || sleeping_ == 0 || !q_.empty()) return;
    prewake_us_ = us;
  }
  cv_.notify_one();
}

void Executor::stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    q_.clear();
    queued_.store(0);
  }
  stop_polling_.store(true);
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

namespace {

// NSNET_SPIN_US (default 50): the worker's polling window; spinning only
// pays where the worker and the JS thread can run at once.
int spin_us() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) < 2) return 0;
  const char* v = std::getenv("NSNET_SPIN_US");
  const int n = v ? std::atoi(v) : 50;
  return n >= 0 && n <= 10000 ? n : 50;
}

int netlink_threads() {
  // Most rtnetlink work serialises on rtnl_lock in the kernel; a few threads
  // are enough to keep slow requests (a veth delete) from holding up others.
  const char* v = std::getenv("NSNET_NETLINK_THREADS");
  const int n = v ? std::atoi(v) : 4;
  return n >= 1 && n <= 64 ? n : 4;
}

// A thread that enters namespaces learns its way home first.
void enter_home() {
  io::SysError err;
  ns::init_home(&err);  // if this fails, every job of the thread that enters a namespace reports it
}

}  // namespace

Runner::Runner(Napi::Env env)
    : env_(env),
      wakeup_(env, "nsnet", [this] { drain(); }),
      netlink_("nsnet-nl", netlink_threads(), spin_us(), nullptr),
      ns_("nsnet-ns", 1, spin_us(), enter_home),
      recycle_("nsnet-recycle", 1, 0, enter_home, true),
      wait_us_(std::min(spin_us(), 30)) {}

Runner::~Runner() { shutdown(); }

void Runner::shutdown() {
  if (down_) return;
  down_ = true;
  netlink_.stop();
  ns_.stop();
  recycle_.stop();
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
  const int worker_cpu = (lane == Lane::Namespace ? ns_ : lane == Lane::Recycle ? recycle_ : netlink_).post(std::move(task));
  // Waiting only helps a worker on another CPU; on ours, it would only keep
  // the worker from running.
  if (job->quick && wait_us_ > 0 && worker_cpu >= 0 && worker_cpu != sched_getcpu()) {
    // The job is settled by the loop's next turn either way (see runner.h).
    const Stopwatch watch;
    if (poll_until(wait_us_, false, [job] { return job->finished.load(std::memory_order_acquire); })) stats_.waits_done++;
    watch.stop(&stats_.waits);
  }
  return Napi::Promise(env, promise);
}

void Runner::prewake_namespace(int us) {
  if (!down_) ns_.prewake(us);
}

void Runner::complete(Job* job) {
  // All under the lock, which drain() needs before it can free the job: a JS
  // thread that sees `finished` finds the wake-up already pending.
  std::lock_guard<std::mutex> lk(done_mu_);
  done_.push_back(job);
  wakeup_.send();
  job->finished.store(true, std::memory_order_release);
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
