// What an event stream (monitor.h) is made of, and its dump and resync
// state machine apart from the socket: which answers belong to the running
// dump, when a phase ends and the next begins, when lost events or an
// interrupted dump mean starting over. Pure (no I/O): the Monitor hands it
// datagrams and losses and does what it asks through a ResyncPort, and the
// fuzzer (native/fuzz/fuzz_resync.cc) does the same with made-up ones.
#pragma once

#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>
#include <utility>
#include <variant>
#include <vector>

#include "../nl/rtnl.h"

namespace nsnet::io {

enum class EvKind : uint8_t { Link, Addr, Route, Neigh, Resync, Synced, Error };
enum class EvAction : uint8_t { New, Change, Del };
enum class ResyncReason : uint8_t { Initial, Overflow, Interrupted };

struct Event {
  EvKind kind = EvKind::Link;
  EvAction action = EvAction::New;
  ResyncReason reason = ResyncReason::Initial;
  int err = 0;  // Error: the errno that ended the stream
  std::variant<std::monostate, rtnl::LinkInfo, rtnl::AddrInfo, rtnl::RouteInfo, rtnl::NeighInfo> obj;
};

// What a monitor subscribes to (and dumps).
enum What : uint32_t { kLinks = 1, kAddrs = 2, kRoutes = 4, kNeighs = 8 };

// Turns one notification (or dump answer) into an event. Returns false for
// a message that is not one of ours (cloned routes, bridge FDB entries ...).
bool parse_event(const nlmsghdr* h, Event* out);

// What the state machine asks of the stream it runs.
class ResyncPort {
 public:
  virtual ~ResyncPort() = default;
  // Hands an event to the consumer's queue.
  virtual void queue(Event&& e) = 0;
  // A resync is starting: whatever was lost until now, its dump recovers.
  virtual void resync_begins() {}
  // Sends the dump request for (RTM_GET*, family), numbered *seq. False
  // ends the stream: the port reports why, and the machine stops.
  virtual bool request_dump(uint16_t type, uint8_t family, uint32_t* seq) = 0;
};

class Resync {
 public:
  // Dumps what `what` subscribes to, in that order, answered to `portid`.
  Resync(uint32_t what, uint32_t portid, ResyncPort* port);

  // Queues a Resync marker (why) and dumps everything; a Synced marker
  // follows the last phase, unless events were lost meanwhile or a part was
  // interrupted, in which case the dump starts over.
  void begin(ResyncReason why);
  // Events were lost (ENOBUFS, drops, a truncated datagram): resync now, or
  // once the dump in flight ends (the kernel runs one dump per socket).
  void lost();
  // Everything read from the socket: dump answers and live events.
  void on_datagram(const uint8_t* buf, size_t len);

  bool dumping() const { return dumping_; }
  // A dump request could not be sent: the stream is over.
  bool over() const { return over_; }

 private:
  void send_phase();

  std::vector<std::pair<uint16_t, uint8_t>> phases_;  // (RTM_GET*, family) per dump request
  uint32_t portid_;
  ResyncPort* port_;
  size_t phase_ = 0;
  bool dumping_ = false;
  uint32_t dump_seq_ = 0;
  bool interrupted_ = false;
  bool again_ = false;  // events were lost during this dump: do it again
  bool over_ = false;
};

}  // namespace nsnet::io
