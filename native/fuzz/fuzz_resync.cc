// libFuzzer target for the event stream's dump and resync state machine
// (native/io/resync.h), driven as the Monitor drives it but by the fuzzer:
// an arbitrary sequence of datagrams (dump parts for the dump in flight,
// for an earlier one and for none, live events, DUMP_INTR flags, ENOBUFS
// errors that answer a dump request, truncated messages), losses (ENOBUFS
// on the socket, drops) and dump requests that fail to send.
//
// Beyond ASan/UBSan it checks the promises the stream makes to a consumer:
//  - one dump in flight: a request is only sent once the previous one has
//    ended (its DONE or error is in the datagram being read);
//  - Synced only ends a Resync whose dump asked for every phase, in order,
//    and saw the last one end; never without a Resync before it;
//  - a loss (lost(), a datagram that ends in a truncated message) is
//    followed by a Resync (reason overflow) before any Synced, and
//    a dump part flagged interrupted by a Resync (interrupted, or overflow
//    when both happened); never a Resync for an interruption there was not;
//  - a dump that ends makes progress: the next phase, a new Resync, Synced;
//  - once a request fails to send, nothing more is queued or sent;
//  - only Initial comes from the caller; Error never comes from the machine.
//
// Build: native/CMakeLists.txt (target fuzz_resync) or scripts/fuzz.sh.

#include <cstdint>
#include <utility>
#include <vector>

#include "../io/resync.h"
#include "fuzz.h"

namespace io = nsnet::io;
namespace nl = nsnet::nl;
using nsnet::fuzz::Reader;

namespace {

// The phases a monitor of `what` dumps, in order (as its socket is told).
std::vector<std::pair<uint16_t, uint8_t>> phases_of(uint32_t what) {
  std::vector<std::pair<uint16_t, uint8_t>> p;
  if (what & io::kLinks) p.push_back({RTM_GETLINK, AF_UNSPEC});
  if (what & io::kAddrs) p.push_back({RTM_GETADDR, AF_UNSPEC});
  if (what & io::kRoutes) p.push_back({RTM_GETROUTE, AF_UNSPEC});
  if (what & io::kNeighs) {
    p.push_back({RTM_GETNEIGH, AF_INET});
    p.push_back({RTM_GETNEIGH, AF_INET6});
  }
  return p;
}

// What d says about dump `seq` for `port`, from its message number `from`
// on: whether it ends there (its DONE, or an error other than the ENOBUFS
// that only says its first part did not fit), at which message, and whether
// a part up to that end is flagged interrupted.
struct DumpNews {
  bool ends = false;
  bool interrupted = false;
  size_t end = SIZE_MAX;
};
DumpNews news_of(const std::vector<uint8_t>& d, uint32_t port, uint32_t seq, size_t from = 0) {
  DumpNews n;
  nl::MsgIter it(d.data(), d.size());
  for (size_t i = 0; const nlmsghdr* h = it.next(); i++) {
    if (i < from || h->nlmsg_pid != port || h->nlmsg_seq != seq) continue;
    n.interrupted = n.interrupted || (h->nlmsg_flags & NLM_F_DUMP_INTR);
    if (h->nlmsg_type == NLMSG_DONE) n.ends = true;
    if (h->nlmsg_type == NLMSG_ERROR) {
      nl::Ack ack;
      n.ends = !nl::decode_ack(h, &ack) || ack.error != -ENOBUFS;
    }
    if (n.ends) {
      n.end = i;
      break;
    }
  }
  return n;
}
bool ends_dump(const std::vector<uint8_t>& d, uint32_t port, uint32_t seq) { return news_of(d, port, seq).ends; }

// A dump in flight while a datagram was read, and where it began: when the
// dump before it ended, or (a loss found at the end, after Synced) past the
// datagram's last message.
struct Flight {
  uint32_t seq;
  bool at_end;
};

// The news of each dump in flight while d was read, in order, each from
// where it began: only the messages after that are its.
std::vector<DumpNews> news_of_flights(const std::vector<uint8_t>& d, uint32_t port, const std::vector<Flight>& flights) {
  std::vector<DumpNews> out;
  size_t from = 0;
  for (const Flight& f : flights) {
    if (f.at_end) from = SIZE_MAX;
    out.push_back(news_of(d, port, f.seq, from));
    from = out.back().ends ? out.back().end + 1 : SIZE_MAX;
  }
  return out;
}

struct Port : io::ResyncPort {
  uint32_t port = 0;
  std::vector<std::pair<uint16_t, uint8_t>> phases;
  Reader* r = nullptr;
  uint32_t next_seq = 1;

  // What the machine has done, as the consumer and the socket see it.
  bool in_flight = false;
  uint32_t flight_seq = 0;
  const std::vector<uint8_t>* reading = nullptr;  // the datagram being fed
  std::vector<Flight> flights;                    // the dumps in flight while it is
  bool synced_since_request = false;
  // The last two markers queued: a loss found at a datagram's end queues
  // Resync (and with no phases, Synced) last.
  io::Event last, before_last;
  bool cycle_open = false;                        // a Resync not yet Synced
  size_t asked = 0;                               // requests since that Resync
  bool owes_overflow = false;                     // a loss not yet answered by a Resync
  bool owes_resync = false;                       // an interrupted part, likewise
  bool initial_allowed = false;
  bool over = false;
  size_t queued = 0, requests = 0, synced = 0;

  void queue(io::Event&& e) override {
    INVARIANT(!over);
    INVARIANT(e.kind != io::EvKind::Error);
    queued++;
    if (e.kind == io::EvKind::Resync || e.kind == io::EvKind::Synced) {
      before_last = last;
      last.kind = e.kind;
      last.reason = e.reason;
    }
    if (e.kind == io::EvKind::Resync) {
      if (e.reason == io::ResyncReason::Initial) INVARIANT(initial_allowed);
      if (e.reason == io::ResyncReason::Overflow) owes_overflow = false;
      if (e.reason == io::ResyncReason::Interrupted) INVARIANT(owes_resync || interrupted_here());
      if (e.reason != io::ResyncReason::Initial) owes_resync = false;
      initial_allowed = false;
      cycle_open = true;
      asked = 0;
    } else if (e.kind == io::EvKind::Synced) {
      INVARIANT(cycle_open);
      INVARIANT(!owes_overflow && !owes_resync);
      INVARIANT(asked == phases.size());
      // The last phase has ended in what is being read (or there was none).
      if (in_flight) INVARIANT(reading && ends_dump(*reading, port, flight_seq));
      in_flight = false;
      cycle_open = false;
      synced_since_request = true;
      synced++;
    }
  }

  // A dump that was in flight during this datagram has a part flagged
  // interrupted in it (one that began within the datagram included).
  bool interrupted_here() const {
    if (!reading) return false;
    for (const DumpNews& n : news_of_flights(*reading, port, flights))
      if (n.interrupted) return true;
    return false;
  }

  bool request_dump(uint16_t type, uint8_t family, uint32_t* seq) override {
    INVARIANT(!over);
    // One dump per socket: the one before has ended in what is being read.
    if (in_flight) INVARIANT(reading && ends_dump(*reading, port, flight_seq));
    INVARIANT(cycle_open && asked < phases.size());
    INVARIANT(phases[asked] == std::make_pair(type, family));
    asked++;
    requests++;
    in_flight = false;
    if (r->u8() == 0xff) {  // the socket is gone
      over = true;
      return false;
    }
    *seq = next_seq++;
    flight_seq = *seq;
    flights.push_back({*seq, synced_since_request});
    synced_since_request = false;
    in_flight = true;
    return true;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader r{data, size};
  Port p;
  p.r = &r;
  p.port = r.u32() | 1;
  const uint32_t what = r.u8() & 15;
  p.phases = phases_of(what);
  io::Resync m(what, p.port, &p);

  if (r.bit()) {  // MonitorOptions::list
    p.initial_allowed = true;
    m.begin(io::ResyncReason::Initial);
  }
  for (int step = 0; r.n && step < 64 && !m.over(); step++) {
    INVARIANT(m.dumping() == p.in_flight);
    if (r.u8() < 24) {
      p.owes_overflow = true;
      m.lost();
      continue;
    }
    // Numbers worth answering: the dump in flight, the ones before it, none.
    const std::vector<uint32_t> seqs = {p.flight_seq, p.flight_seq, p.flight_seq, p.flight_seq - 1, 0, p.next_seq};
    const std::vector<uint32_t> ports = {p.port, p.port, p.port, 0};
    const std::vector<uint8_t> d = nsnet::fuzz::make_datagram(r, seqs, ports);
    const DumpNews news = p.in_flight ? news_of(d, p.port, p.flight_seq) : DumpNews{};
    if (news.interrupted) p.owes_resync = true;
    const size_t requests = p.requests, synced = p.synced;
    p.reading = &d;
    p.flights.assign(p.in_flight ? 1 : 0, Flight{p.flight_seq, false});
    p.synced_since_request = !p.in_flight;  // a request with none running comes from a loss at the end
    m.on_datagram(d.data(), d.size());
    p.reading = nullptr;
    // A dump that began within the datagram (when the one before it ended)
    // and is still running may have had a part flagged after that already.
    if (p.in_flight && p.flights.size() > 1 && news_of_flights(d, p.port, p.flights).back().interrupted)
      p.owes_resync = true;
    // A datagram that ends in a truncated message lost events: a Resync
    // (overflow) comes now, or once the dump in flight ends.
    nl::MsgIter walk(d.data(), d.size());
    while (walk.next()) {
    }
    const auto overflow = [](const io::Event& e) {
      return e.kind == io::EvKind::Resync && e.reason == io::ResyncReason::Overflow;
    };
    if (walk.truncated() && !overflow(p.last) && !(p.last.kind == io::EvKind::Synced && overflow(p.before_last)))
      p.owes_overflow = true;
    // A dump that ended moved on: a request (next phase or a new Resync),
    // Synced, or the end of the stream.
    if (news.ends) INVARIANT(p.requests > requests || p.synced > synced || p.over);
  }
  INVARIANT(m.over() == p.over);
  return 0;
}
