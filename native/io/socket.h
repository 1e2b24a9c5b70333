// A netlink socket bound to the namespace it was created in. Requests are
// sent in batches (several messages, one sendmsg) and their answers matched
// by sequence number (match.h); dumps are retried when the kernel flags
// them inconsistent. The socket is blocking: it is only ever used from the
// addon's own worker threads, never from the JS thread.
#pragma once

#include <linux/netlink.h>

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "../nl/nl.h"
#include "error.h"
#include "match.h"

namespace nsnet::io {

class Socket {
 public:
  // Opens a socket of the given netlink protocol in the calling thread's
  // network namespace, with extended ACKs, capped ACKs and strict checks on.
  static Socket* open(int protocol, SysError* err);
  ~Socket();
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  int fd() const { return fd_; }
  uint32_t portid() const { return portid_; }
  // Reserves n consecutive sequence numbers and returns the first.
  uint32_t reserve_seq(uint32_t n) { uint32_t s = seq_; seq_ += n; return s; }
  // Serialises users: one batch or dump in flight per socket at a time.
  std::mutex& mu() { return mu_; }

  // Sends buf to the kernel in one sendmsg.
  bool send(const uint8_t* buf, size_t len, SysError* err);
  // Receives one datagram from the kernel into buf (anyone else's is
  // skipped, EINTR retried): its length, or -errno (-EAGAIN: with nowait,
  // nothing queued; without, SO_RCVTIMEO expired). *truncated tells that it
  // did not fit in cap (MSG_TRUNC): the rest of it is lost.
  ssize_t receive(uint8_t* buf, size_t cap, bool nowait, bool* truncated);

  using OnMessage = io::OnMessage;
  // Appends a request numbered seq to b (an rtnl::encode_* or nft::encode_*).
  using Encode = std::function<bool(nl::Builder& b, uint32_t seq)>;

  // Sends one request (NLM_F_ACK is added) and waits for its ACK, in
  // *status; any other answer (a GET's reply) goes to on_msg(0, h) first.
  bool request(const Encode& enc, const OnMessage& on_msg, Reply* status, SysError* err);

  // Sends `count` requests numbered first_seq.. (in one sendmsg, or in as
  // few as the socket's buffers allow), and waits for an
  // ACK for each (every request must carry NLM_F_ACK). Any other answer to
  // request i (a GET's reply) is passed to on_msg(i, h) first.
  bool transact(const uint8_t* buf, size_t len, uint32_t first_seq, size_t count, std::vector<Reply>* replies,
                const OnMessage& on_msg, SysError* err);

  // Sends an nf_tables batch (NFNL_MSG_BATCH_BEGIN numbered begin_seq, then
  // `count` requests numbered first_seq.., then BATCH_END) in one sendmsg
  // and collects an ACK per request. The kernel runs the whole batch inside
  // that sendmsg, so every answer is queued by the time it returns. An
  // answer to the batch itself (a stale generation, a failed commit) lands
  // in *batch. Other answers (echoes of what was created) go to on_msg(i, h),
  // with i = SIZE_MAX when they carry begin_seq.
  bool transact_batch(const uint8_t* buf, size_t len, uint32_t begin_seq, uint32_t first_seq, size_t count,
                      std::vector<Reply>* replies, Reply* batch, const OnMessage& on_msg, SysError* err);

  // Runs a dump of the request enc builds; every answer goes to on_msg(0, h).
  // A dump the kernel marks interrupted (NLM_F_DUMP_INTR) is discarded
  // through `reset` and redone.
  bool dump(const Encode& enc, const OnMessage& on_msg, const std::function<void()>& reset, Reply* status,
            SysError* err);

 private:
  explicit Socket(int fd, uint32_t portid) : fd_(fd), portid_(portid) {}
  // Reads the receive buffer's size, and what follows from it.
  void read_rcvbuf();
  // Makes the receive buffer at least `bytes` (as far as the kernel lets).
  void grow_rcvbuf(size_t bytes);
  // Receives one whole datagram into this thread's buffer; returns its
  // length or -1. With nowait, returns 0 when nothing is queued.
  ssize_t recv(SysError* err, bool nowait = false);

  int fd_;
  uint32_t portid_;
  uint32_t seq_ = 1;
  // Requests whose answers the socket's buffer surely holds at once, and
  // the most bytes the kernel takes in one sendmsg.
  size_t rcvbuf_ = 0;
  size_t max_in_flight_ = 16;
  size_t max_send_ = 64 * 1024;
  std::mutex mu_;
};

// Collects a dump into *out: decode(h, &item) tells whether a message is an
// item to keep.
template <class Item, class Decode>
bool dump_into(Socket& s, const Socket::Encode& enc, const Decode& decode, std::vector<Item>* out, Reply* status,
               SysError* err) {
  auto on_msg = [&](size_t, const nlmsghdr* h) {
    Item item;
    if (decode(h, &item)) out->push_back(std::move(item));
  };
  return s.dump(enc, on_msg, [&] { out->clear(); }, status, err);
}

}  // namespace nsnet::io
