// libFuzzer target for reply matching (native/io/match.h): what Socket does
// with the datagrams a request, a batch, an nf_tables batch or a dump gets
// back, fed instead with made-up datagrams: answers for this port and for
// others, for this batch's numbers, the ones before and after it, and any;
// ACKs, errors with and without extended ACKs, DONE, dump parts flagged
// interrupted, messages that overrun their datagram.
//
// Beyond ASan/UBSan it checks what the socket relies on: a request's Reply
// is settled once and never changes after; pending() counts exactly the
// requests without one; on_msg sees only our port's answers, for a request
// of this batch (or, in an nf_tables batch, its BATCH_BEGIN), never an ACK,
// DONE or NOOP, and always a whole message inside the datagram; a dump
// ends at its own DONE or error and nothing else.
//
// Build: native/CMakeLists.txt (target fuzz_replies) or scripts/fuzz.sh.

#include <cstdint>
#include <vector>

#include "../io/match.h"
#include "fuzz.h"

namespace io = nsnet::io;
using nsnet::fuzz::Reader;

namespace {

bool same(const io::Reply& a, const io::Reply& b) {
  return a.error == b.error && a.message == b.message && a.has_offset == b.has_offset && a.offset == b.offset;
}

bool inside(const nlmsghdr* h, const std::vector<uint8_t>& d) {
  const auto* p = reinterpret_cast<const uint8_t*>(h);
  return p >= d.data() && h->nlmsg_len >= sizeof(nlmsghdr) && p + h->nlmsg_len <= d.data() + d.size();
}

// Feeds d to a matcher as the socket does, with on_msg told which datagram
// it is reading; a failure may only be the one for malformed answers.
template <class Matcher>
bool feed(Matcher& m, const std::vector<uint8_t>& d, const std::vector<uint8_t>** reading) {
  *reading = &d;
  io::SysError err;
  const bool ok = m.feed(d.data(), d.size(), &err);
  *reading = nullptr;
  INVARIANT(ok || err.err == EBADMSG);
  return ok;
}

void acks(Reader& r) {
  const uint32_t port = r.u32() | 1;
  const uint32_t first = r.u32();
  const size_t count = 1 + r.u8() % 16;
  const bool batch = r.bit();
  const uint32_t begin = first - 1;  // as ops::nft_transact numbers a batch
  // Our numbers, the neighbours of the range, and the wrap-around.
  const std::vector<uint32_t> seqs = {first, first + 1, first + static_cast<uint32_t>(count) - 1, begin,
                                      first + static_cast<uint32_t>(count), first - 2, 0, UINT32_MAX};
  const std::vector<uint32_t> ports = {port, port, port, 0, port + 1};

  std::vector<io::Reply> replies;
  io::Reply batch_reply;
  const std::vector<uint8_t>* current = nullptr;
  io::OnMessage on_msg = [&](size_t i, const nlmsghdr* h) {
    INVARIANT(h->nlmsg_pid == port);
    INVARIANT(h->nlmsg_type != NLMSG_ERROR && h->nlmsg_type != NLMSG_DONE && h->nlmsg_type != NLMSG_NOOP);
    INVARIANT(current && inside(h, *current));
    if (i == SIZE_MAX) INVARIANT(batch && h->nlmsg_seq == begin);
    else INVARIANT(i < count && h->nlmsg_seq == static_cast<uint32_t>(first + i));  // numbers wrap
  };
  io::AckMatcher m(port, first, count, &replies, on_msg);
  if (batch) m.expect_batch(begin, &batch_reply);
  INVARIANT(replies.size() == count && m.pending() == count);

  std::vector<bool> settled(count, false);
  std::vector<io::Reply> before;
  for (int round = 0; r.n && round < 32; round++) {
    const std::vector<uint8_t> d = nsnet::fuzz::make_datagram(r, seqs, ports);
    before = replies;
    const bool refused = m.refused();
    const size_t pending = m.pending();
    const bool ok = feed(m, d, &current);
    INVARIANT(replies.size() == count);
    size_t answered = 0;
    for (size_t i = 0; i < count; i++) {
      // A settled Reply stays as it was: later answers are not ours.
      if (settled[i]) INVARIANT(same(replies[i], before[i]));
      settled[i] = settled[i] || !same(replies[i], io::Reply{}) || !same(replies[i], before[i]);
      answered += settled[i];
    }
    // An ACK of success (error 0, no text) settles a request without
    // changing its Reply, so pending() may count less than `answered` says;
    // never more.
    INVARIANT(m.pending() <= count - answered && m.pending() <= pending);
    for (const io::Reply& x : replies) INVARIANT(x.error <= 0);
    if (batch) INVARIANT(batch_reply.error <= 0);
    INVARIANT(!refused || m.refused());
    if (m.refused()) INVARIANT(batch);
    if (!ok) return;  // the socket gives up here
  }
}

void dump(Reader& r) {
  const uint32_t port = r.u32() | 1;
  const uint32_t seq = r.u32();
  const std::vector<uint32_t> seqs = {seq, seq, seq - 1, seq + 1, 0};
  const std::vector<uint32_t> ports = {port, port, 0, port ^ 0x80000000u};
  io::Reply status;
  const std::vector<uint8_t>* current = nullptr;
  size_t items = 0;
  io::OnMessage on_msg = [&](size_t i, const nlmsghdr* h) {
    INVARIANT(i == 0 && h->nlmsg_pid == port && h->nlmsg_seq == seq);
    INVARIANT(h->nlmsg_type != NLMSG_ERROR && h->nlmsg_type != NLMSG_DONE && h->nlmsg_type != NLMSG_NOOP);
    INVARIANT(current && inside(h, *current));
    items++;
  };
  io::DumpMatcher m(port, seq, on_msg, &status);
  for (int round = 0; r.n && round < 32 && !m.finished(); round++) {
    const std::vector<uint8_t> d = nsnet::fuzz::make_datagram(r, seqs, ports);
    const bool interrupted = m.interrupted();
    const bool ok = feed(m, d, &current);
    INVARIANT(!interrupted || m.interrupted());
    if (!m.finished()) INVARIANT(status.error == 0 && status.message.empty());
    if (m.finished()) INVARIANT(status.error <= 0);
    if (!ok) return;
  }
  (void)items;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader r{data, size};
  if (r.bit()) acks(r);
  else dump(r);
  return 0;
}
