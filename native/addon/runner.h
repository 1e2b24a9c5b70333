// The addon's threads and the promise runner.
//
// Threading model. The kernel executes an rtnetlink request inside the
// sender's sendmsg(), holding rtnl_lock; one request can block for an RCU
// grace period (deleting a veth waits for one). So:
//  - the JS thread never sends netlink; it only queues jobs and settles
//    promises;
//  - libuv's thread pool is never used (it is shared with fs and DNS);
//  - each Node environment (main thread or worker_thread) owns
//      * a small pool of netlink threads that run batches and dumps on
//        sockets already open in their namespace (no setns needed), and
//      * one namespace thread, the only thread that calls setns()/unshare();
//        it enters a namespace, does its job (create a namespace, open a
//        socket inside one, touch a sysctl) and returns home before the next.
//  - a finished job is handed back through one uv_async handle, referenced
//    only while jobs are in flight (an idle addon never keeps the process
//    alive); each wake-up settles the jobs finished so far in one batch and
//    returns to the loop, so timers and I/O always get their turn;
//  - the environment's cleanup hook stops and joins every thread.
#pragma once

#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "../io/error.h"
#include "wakeup.h"

namespace nsnet::addon {

// Work done off the JS thread, then settled on it.
class Job {
 public:
  virtual ~Job() = default;
  // On an addon thread. A failure set in err rejects the promise with a
  // system error (see from_sys).
  virtual void run() = 0;
  // On the JS thread, when err is clear: the resolved value. Throw a
  // Napi::Error to reject.
  virtual Napi::Value value(Napi::Env env) = 0;

  io::SysError err;
  napi_deferred deferred = nullptr;
};

// Threads the addon owns, draining one FIFO of tasks.
class Executor {
 public:
  Executor(std::string name, int threads, std::function<void()> on_start);
  ~Executor() { stop(); }
  void post(std::function<void()> task);
  // Lets running tasks finish, drops the queued ones, joins.
  void stop();

 private:
  void loop(size_t i);

  std::string name_;
  std::function<void()> on_start_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> q_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

enum class Lane { Netlink, Namespace };

// How long the JS thread spends in the addon's hands: settling promises and
// running their continuations (microtasks) happens inside drain().
struct Stats {
  uint64_t jobs = 0;
  Busy drains;
};

// One per Node environment.
class Runner {
 public:
  explicit Runner(Napi::Env env);
  ~Runner();
  Napi::Promise submit(Napi::Env env, Job* job, Lane lane);
  void shutdown();
  Stats& stats() { return stats_; }

 private:
  void complete(Job* job);  // any thread
  void drain();             // JS thread

  Napi::Env env_;
  Wakeup wakeup_;
  std::mutex done_mu_;
  std::vector<Job*> done_;
  // JS thread only: submitted, not yet settled, each holding the wakeup.
  std::unordered_set<Job*> live_;
  Executor netlink_;
  Executor ns_;
  Stats stats_;         // JS thread only
  bool down_ = false;
};

}  // namespace nsnet::addon
