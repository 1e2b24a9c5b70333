// Event streams: a multicast rtnetlink socket per watcher, read by one epoll
// thread per environment (the Hub), parsed here, queued in a bounded queue.
//
// No silent loss. The kernel drops multicast messages for a reader whose
// socket buffer is full and tells it so once, with ENOBUFS. Then, and when a
// dump reports NLM_F_DUMP_INTR, the monitor queues a Resync marker and
// dumps everything again on the same socket, so dump answers and live events
// arrive in one order (list then watch, as Kubernetes informers do); a
// Synced marker ends the dump.
//
// Backpressure. When the queue is full the Hub stops reading the socket
// until the consumer has taken half of it. Meanwhile the kernel queues into
// the socket buffer, and past that drops: that is the ENOBUFS path above. So
// memory is bounded by the queue limit plus the socket buffer, and a slow
// consumer loses nothing it cannot rebuild.
//
// No N-API here: the addon's glue (addon/watch.cc) is told through on_ready
// that a consumer who asked for events can have some.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "resync.h"
#include "socket.h"

namespace nsnet::io {

struct MonitorOptions {
  uint32_t what = kLinks | kAddrs | kRoutes | kNeighs;
  int rcvbuf = 4 << 20;         // bytes of socket buffer (SO_RCVBUFFORCE)
  size_t queue_limit = 1 << 16; // events parsed but not yet taken
  bool list = false;            // dump current state first
};

class Hub;

class Monitor : public std::enable_shared_from_this<Monitor>, private ResyncPort {
 public:
  // Takes ownership of s (opened inside the namespace): joins the groups,
  // sets the buffer size, makes it non-blocking.
  static std::shared_ptr<Monitor> create(Socket* s, const MonitorOptions& o, SysError* err);
  ~Monitor();

  int fd() const { return sock_->fd(); }

  // JS thread. The consumer wants events: the Hub reports this monitor
  // ready as soon as it has some (at once if it has).
  void want();
  // JS thread. Moves up to max events to out (clears wanted); resumes
  // reading if the queue has drained enough.
  void take(std::vector<Event>* out, size_t max);

  struct Stats {
    size_t queued = 0, max_queued = 0;
    uint64_t resyncs = 0;
    bool paused = false;
  };
  Stats stats();

  // For the glue: the JS handle this monitor belongs to.
  void* user = nullptr;

 private:
  friend class Hub;
  friend struct MonitorProbe;  // native/test: the Hub's side, without a Hub thread
  Monitor(Socket* s, const MonitorOptions& o) : sock_(s), opt_(o), resync_(o.what, s->portid(), this) {}

  // Hub thread.
  void start();
  void on_readable(uint8_t* buf, size_t cap);
  void on_datagram(const uint8_t* buf, size_t len) { resync_.on_datagram(buf, len); }
  void poke();
  void end_stream(int err);  // queues an Error event: the stream is over
  // ResyncPort, on the Hub thread.
  void queue(Event&& e) override;
  void resync_begins() override;
  bool request_dump(uint16_t type, uint8_t family, uint32_t* seq) override;
  // Any thread; returns true if the Hub must report it ready.
  bool push(Event&& e);
  bool push_locked(Event&& e);

  std::unique_ptr<Socket> sock_;
  MonitorOptions opt_;
  Hub* hub_ = nullptr;
  uint64_t id_ = 0;

  // Hub thread only.
  Resync resync_;
  bool started_ = false;
  bool poked_ = false;  // asked for a reply to restart a stalled dump
  // The socket's drop count (SK_MEMINFO_DROPS) when last checked. After an
  // overflow the kernel reports ENOBUFS again only once the receive queue
  // has been empty, so drops in between are silent: an empty queue is when
  // we compare.
  uint32_t drops_ = 0;
  bool dropped_since_check();
  bool dead_ = false;

  std::mutex mu_;             // guards what follows
  std::deque<Event> q_;
  bool wanted_ = false;
  bool signalled_ = false;    // reported ready, not yet taken
  bool paused_ = false;       // Hub stopped reading: the queue is full
  size_t max_queued_ = 0;
  uint64_t resyncs_ = 0;
};

// One epoll thread serving every monitor of an environment.
class Hub {
 public:
  // on_ready runs on any thread when a monitor that was asked for events has some.
  explicit Hub(std::function<void(std::shared_ptr<Monitor>)> on_ready);
  ~Hub() { stop(); }
  bool add(const std::shared_ptr<Monitor>& m, SysError* err);
  void remove(const std::shared_ptr<Monitor>& m);
  void stop();

 private:
  friend class Monitor;
  void loop();
  void kick(uint64_t id);   // run resume/start for this monitor on the Hub thread
  void ready(Monitor* m) { on_ready_(m->shared_from_this()); }
  void set_reading(Monitor* m, bool on);
  std::vector<uint8_t> buf_;

  std::function<void(std::shared_ptr<Monitor>)> on_ready_;
  int epfd_ = -1;
  int evfd_ = -1;
  std::mutex mu_;
  std::unordered_map<uint64_t, std::shared_ptr<Monitor>> monitors_;
  std::vector<uint64_t> kicks_;
  uint64_t next_id_ = 1;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace nsnet::io
