// Which of a netlink socket's answers belong to which request. Pure: no I/O,
// so what Socket receives and what the fuzzer makes up (native/fuzz/
// fuzz_replies.cc) go through the same code.
#pragma once

#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "error.h"

namespace nsnet::io {

// The kernel's answer to one request of a batch.
struct Reply {
  int error = 0;          // negative errno from the ACK, 0 for success
  std::string message;    // extended ACK text
  bool has_offset = false;
  uint32_t offset = 0;    // into this request
};

// An answer other than an ACK (a GET's reply, an echo) to request `index`.
using OnMessage = std::function<void(size_t index, const nlmsghdr* h)>;

// Matches the answers to `count` requests numbered first_seq.. that port
// `portid` sent in one batch, by sequence number: an NLMSG_ERROR settles
// request i's Reply; other answers go to on_msg(i, h). Anything else (another
// port's, an older batch's, a request's after its ACK) is not ours and is
// skipped, so a batch abandoned on error never lends its answers to the next.
class AckMatcher {
 public:
  AckMatcher(uint32_t portid, uint32_t first_seq, size_t count, std::vector<Reply>* replies, const OnMessage& on_msg);
  // An nf_tables batch: answers numbered begin_seq (its BATCH_BEGIN) are the
  // batch's own, in *batch (a stale generation, a failed commit); other
  // answers with it (NFT_MSG_NEWGEN) go to on_msg(SIZE_MAX, h).
  void expect_batch(uint32_t begin_seq, Reply* batch);

  // One datagram. False, with err, if it holds a malformed NLMSG_ERROR or a
  // message that overruns it.
  bool feed(const uint8_t* buf, size_t len, SysError* err);
  // Requests still without an ACK.
  size_t pending() const { return pending_; }
  // The batch as a whole was refused: its requests may never be answered.
  bool refused() const { return refused_; }

 private:
  uint32_t portid_, first_seq_;
  size_t count_, pending_;
  std::vector<Reply>* replies_;
  std::vector<bool> done_;
  const OnMessage& on_msg_;
  bool batch_ = false;
  uint32_t begin_seq_ = 0;
  Reply* batch_reply_ = nullptr;
  bool refused_ = false;
};

// Matches the answers to one dump request (port `portid`, number seq): each
// item goes to on_msg(0, h); NLMSG_DONE or NLMSG_ERROR ends it, in *status.
class DumpMatcher {
 public:
  DumpMatcher(uint32_t portid, uint32_t seq, const OnMessage& on_msg, Reply* status);
  // One datagram; false, with err, for a malformed status or a message that
  // overruns it. What follows the end in the same datagram is not looked at.
  bool feed(const uint8_t* buf, size_t len, SysError* err);
  bool finished() const { return finished_; }
  // The kernel flagged a part NLM_F_DUMP_INTR: the table changed under it.
  bool interrupted() const { return interrupted_; }

 private:
  uint32_t portid_, seq_;
  const OnMessage& on_msg_;
  Reply* status_;
  bool finished_ = false;
  bool interrupted_ = false;
};

}  // namespace nsnet::io
