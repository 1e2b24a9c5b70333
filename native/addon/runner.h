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
//      * one namespace thread, the only thread on the request path that
//        calls setns()/unshare(); it enters a namespace, does its job (create
//        a namespace, open a socket inside one, touch a sysctl) and returns
//        home before the next, and
//      * one recycle thread, which does the same for a pool's background
//        work (a recycled namespace's reset), so that a reset never holds up
//        a request queued behind it on the namespace thread;
//  - a finished job is handed back through one uv_async handle, referenced
//    only while jobs are in flight (an idle addon never keeps the process
//    alive); each wake-up settles the jobs finished so far in one batch and
//    returns to the loop, so timers and I/O always get their turn;
//  - the environment's cleanup hook stops and joins every thread.
//
// Hand-offs without sleeping. A one-message request takes the kernel a few
// microseconds, but waking a thread whose CPU has gone idle costs far more
// (an inter-processor interrupt; on a VM, an exit to the hypervisor and
// back), and each request would pay that twice: once to wake the worker,
// once to wake the JS thread. So, when the process may use two CPUs or more:
//  - a worker that finishes a job polls its queue for a short while (one
//    thread per lane at a time) before it sleeps, so the next request of a
//    sequence finds it running;
//  - the JS thread, having handed a quick job (see Job::quick) to a worker
//    polling on another CPU, polls for that job's end for at most a few
//    tens of microseconds before it returns. It never runs the request itself and
//    never settles it there: the job's wake-up is already pending when it
//    returns, so the loop's next turn settles it without sleeping, and the
//    loop still turns between two requests;
//  - a caller that will post a namespace job after some work of its own (a
//    create storing its plan) may wake the namespace thread first
//    (prewake_namespace), which then polls for the job for a bounded time.
// NSNET_SPIN_US sets the worker's window (0 turns both off).
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
  // Set by the caller: one small request on an open socket, expected to be
  // done in microseconds, so the JS thread may wait for it briefly.
  bool quick = false;
  // Set by the worker once the job's wake-up is sent.
  std::atomic<bool> finished{false};
};

// Threads the addon owns, draining one FIFO of tasks.
class Executor {
 public:
  // spin_us: how long a thread that finished a task polls for the next one
  // before it sleeps (0: never). lazy: the threads start with the first
  // task, for a lane most processes never use. post() and stop() are
  // called from one thread (the JS thread).
  Executor(std::string name, int threads, int spin_us, std::function<void()> on_start, bool lazy = false);
  ~Executor() { stop(); }
  // When a thread was polling the queue, so that the task starts at once,
  // the CPU it was last seen on; else -1.
  int post(std::function<void()> task);
  // Wakes a sleeping thread ahead of a task the caller will post soon (it
  // has some work of its own to do first), to poll for it for at most us
  // microseconds: the wake-up of an idle CPU then overlaps the caller's
  // work instead of delaying the task. Nothing when a thread polls already.
  void prewake(int us);
  // Lets running tasks finish, drops the queued ones, joins.
  void stop();

 private:
  void start();
  void loop(size_t i);
  void poll_for_work(int us);

  std::string name_;
  const int spin_us_;
  std::function<void()> on_start_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> q_;
  int sleeping_ = 0;  // threads waiting on cv_
  int prewake_us_ = 0;  // a prewake() no thread has taken yet
  bool stopping_ = false;
  std::atomic<size_t> queued_{0};
  std::atomic<bool> polling_{false};  // one thread at a time
  std::atomic<int> polling_cpu_{-1};
  std::atomic<bool> stop_polling_{false};
  const int count_;
  std::vector<std::thread> threads_;
};

enum class Lane { Netlink, Namespace, Recycle };

// How long the JS thread spends in the addon's hands: settling promises and
// running their continuations (microtasks) happens inside drain().
struct Stats {
  uint64_t jobs = 0;
  Busy drains;
  // The JS thread's waits for quick jobs (see Job::quick), and how many ended
  // with the job done.
  Busy waits;
  uint64_t waits_done = 0;
};

// One per Node environment.
class Runner {
 public:
  explicit Runner(Napi::Env env);
  ~Runner();
  Napi::Promise submit(Napi::Env env, Job* job, Lane lane);
  // Executor::prewake for the namespace lane, the one a create's trip
  // waits on after its plan; only that one has shown a gain.
  void prewake_namespace(int us);
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
  Executor recycle_;
  Stats stats_;         // JS thread only
  const int wait_us_;   // the JS thread's longest wait for a quick job
  bool down_ = false;
};

}  // namespace nsnet::addon
