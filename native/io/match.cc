#include "match.h"

#include <errno.h>

#include "../nl/nl.h"

namespace nsnet::io {

namespace {

void settle(const nl::Ack& ack, Reply* r) {
  r->error = ack.error;
  r->message.assign(ack.message);
  r->has_offset = ack.has_offset;
  r->offset = ack.offset;
}

}  // namespace

AckMatcher::AckMatcher(uint32_t portid, uint32_t first_seq, size_t count, std::vector<Reply>* replies,
                       const OnMessage& on_msg)
    : portid_(portid), first_seq_(first_seq), count_(count), pending_(count), replies_(replies), done_(count, false),
      on_msg_(on_msg) {
  replies_->assign(count, Reply{});
}

void AckMatcher::expect_batch(uint32_t begin_seq, Reply* batch) {
  batch_ = true;
  begin_seq_ = begin_seq;
  batch_reply_ = batch;
  *batch = Reply{};
}

bool AckMatcher::feed(const uint8_t* buf, size_t len, SysError* err) {
  nl::MsgIter it(buf, len);
  while (const nlmsghdr* h = it.next()) {
    if (h->nlmsg_pid != portid_) continue;
    const bool is_begin = batch_ && h->nlmsg_seq == begin_seq_;
    const uint32_t i = h->nlmsg_seq - first_seq_;
    if (!is_begin && (i >= count_ || done_[i])) continue;
    if (h->nlmsg_type == NLMSG_ERROR) {
      nl::Ack ack;
      if (!nl::decode_ack(h, &ack)) return fail(err, EBADMSG, "malformed NLMSG_ERROR");
      if (is_begin) {
        settle(ack, batch_reply_);
        refused_ = refused_ || ack.error != 0;
      } else {
        settle(ack, &(*replies_)[i]);
        done_[i] = true;
        pending_--;
      }
    } else if (h->nlmsg_type != NLMSG_NOOP && h->nlmsg_type != NLMSG_DONE && on_msg_) {
      on_msg_(is_begin ? SIZE_MAX : i, h);
    }
  }
  return !it.truncated() || fail(err, EBADMSG, "truncated netlink message");
}

DumpMatcher::DumpMatcher(uint32_t portid, uint32_t seq, const OnMessage& on_msg, Reply* status)
    : portid_(portid), seq_(seq), on_msg_(on_msg), status_(status) {}

bool DumpMatcher::feed(const uint8_t* buf, size_t len, SysError* err) {
  nl::MsgIter it(buf, len);
  while (const nlmsghdr* h = it.next()) {
    if (h->nlmsg_pid != portid_ || h->nlmsg_seq != seq_) continue;
    if (h->nlmsg_flags & NLM_F_DUMP_INTR) interrupted_ = true;
    if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
      nl::Ack ack;
      if (!nl::decode_ack(h, &ack)) return fail(err, EBADMSG, "malformed dump status");
      status_->error = ack.error;
      status_->message.assign(ack.message);
      finished_ = true;
      return true;
    }
    if (h->nlmsg_type != NLMSG_NOOP) on_msg_(0, h);
  }
  return !it.truncated() || fail(err, EBADMSG, "truncated netlink message");
}

}  // namespace nsnet::io
