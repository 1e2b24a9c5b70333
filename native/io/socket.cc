#include "socket.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

namespace nsnet::io {

namespace {

// A datagram holds at most one dump batch, which the kernel caps at 32 KiB
// for a reader with a large buffer; 64 KiB leaves room for a later kernel.
constexpr size_t kRecvBuf = 64 * 1024;
// Large dumps and bursts of ACKs must not overflow the socket queue.
constexpr int kSockBuf = 4 * 1024 * 1024;
constexpr int kDumpRetries = 20;
// A GET or dump request: a header and a few names.
constexpr size_t kRequestBuf = 512;
constexpr size_t kMaxRequest = 64 * 1024;

// One receive buffer per thread, not per socket: a socket is used by one
// thread at a time, so a new namespace's socket allocates (and faults in)
// no buffer of its own.
uint8_t* recv_buffer() {
  thread_local std::vector<uint8_t> buf(kRecvBuf);
  return buf.data();
}

// A message header for one buffer, to or from the netlink address peer.
msghdr one_buffer(sockaddr_nl* peer, iovec* iov) {
  msghdr mh{};
  mh.msg_name = peer;
  mh.msg_namelen = sizeof *peer;
  mh.msg_iov = iov;
  mh.msg_iovlen = 1;
  return mh;
}

}  // namespace

Socket* Socket::open(int protocol, SysError* err) {
  int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  if (fd < 0) return fail(err, errno, "socket(AF_NETLINK)"), nullptr;
  const int one = 1;
  // CAP_ACK keeps ACKs small (no echo of the request); EXT_ACK gives the
  // kernel's reason; STRICT_CHK makes dumps honour our filters and reject
  // malformed headers instead of guessing.
  if (setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one) < 0 ||
      setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one) < 0 ||
      setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof one) < 0) {
    const int e = errno;
    ::close(fd);
    return fail(err, e, "setsockopt(SOL_NETLINK)"), nullptr;
  }
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &kSockBuf, sizeof kSockBuf) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &kSockBuf, sizeof kSockBuf);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &kSockBuf, sizeof kSockBuf) < 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &kSockBuf, sizeof kSockBuf);
  // A kernel that never answers must not pin a worker forever.
  timeval tv{60, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  socklen_t sl = sizeof sa;
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &sl) < 0) {
    const int e = errno;
    ::close(fd);
    return fail(err, e, "bind(AF_NETLINK)"), nullptr;
  }
  auto* s = new Socket(fd, sa.nl_pid);
  s->seq_ = static_cast<uint32_t>(time(nullptr));
  // What the buffer holds (twice what was asked, or less without
  // CAP_NET_ADMIN), over a bound on one answer's size in it: an ACK takes
  // about 1 KiB, a link's GET reply up to about 5.
  s->read_rcvbuf();
  // netlink_sendmsg refuses a message longer than the send buffer less 32.
  int sndbuf = 0;
  socklen_t wl = sizeof sndbuf;
  if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &wl) == 0 && sndbuf > 4096) s->max_send_ = static_cast<size_t>(sndbuf) - 32;
  return s;
}

void Socket::read_rcvbuf() {
  int rcvbuf = 0;
  socklen_t rl = sizeof rcvbuf;
  if (getsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &rl) < 0) return;
  rcvbuf_ = static_cast<size_t>(rcvbuf);
  max_in_flight_ = std::max<size_t>(16, rcvbuf_ / 8192);
}

void Socket::grow_rcvbuf(size_t bytes) {
  bytes = std::min<size_t>(bytes, size_t{1} << 30);
  if (bytes <= rcvbuf_) return;
  // The kernel doubles what it is asked (its bookkeeping), so ask half.
  const int ask = static_cast<int>(bytes / 2 + 1);
  if (setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &ask, sizeof ask) < 0)
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &ask, sizeof ask);
  read_rcvbuf();
}

Socket::~Socket() {
  if (fd_ >= 0) ::close(fd_);
}

bool Socket::send(const uint8_t* buf, size_t len, SysError* err) {
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  iovec iov{const_cast<uint8_t*>(buf), len};
  msghdr mh = one_buffer(&kernel, &iov);
  for (;;) {
    const ssize_t n = ::sendmsg(fd_, &mh, 0);
    if (n >= 0) return static_cast<size_t>(n) == len || fail(err, EMSGSIZE, "sendmsg(short)");
    if (errno != EINTR) return fail(err, errno, "sendmsg");
  }
}

ssize_t Socket::receive(uint8_t* buf, size_t cap, bool nowait, bool* truncated) {
  sockaddr_nl from{};
  iovec iov{buf, cap};
  msghdr mh = one_buffer(&from, &iov);
  for (;;) {
    const ssize_t n = ::recvmsg(fd_, &mh, nowait ? MSG_DONTWAIT : 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    // Only the kernel (port 0) may answer us.
    if (from.nl_pid != 0) continue;
    *truncated = (mh.msg_flags & MSG_TRUNC) != 0;
    return n;
  }
}

ssize_t Socket::recv(SysError* err, bool nowait) {
  bool truncated = false;
  const ssize_t n = receive(recv_buffer(), kRecvBuf, nowait, &truncated);
  if (n == -EAGAIN && nowait) return 0;
  if (n < 0) return fail(err, n == -EAGAIN ? ETIMEDOUT : static_cast<int>(-n), "recvmsg"), -1;
  if (truncated) return fail(err, EMSGSIZE, "recvmsg(truncated)"), -1;
  return n;
}

bool Socket::transact(const uint8_t* buf, size_t len, uint32_t first_seq, size_t count, std::vector<Reply>* replies,
                      const OnMessage& on_msg, SysError* err) {
  // The kernel runs each request inside sendmsg and queues its answer on
  // this socket there and then: answers that overflow the socket's buffer
  // are lost (ENOBUFS). So a sendmsg carries at most max_in_flight_
  // requests, and at most max_send_ bytes (the kernel refuses a longer
  // one). The requests' bounds are checked whole before anything is sent.
  std::vector<size_t> starts;
  starts.reserve(count + 1);
  for (size_t off = 0; off < len;) {
    const auto* h = reinterpret_cast<const nlmsghdr*>(buf + off);
    if (len - off < sizeof(nlmsghdr) || h->nlmsg_len < sizeof(nlmsghdr) || h->nlmsg_len > len - off)
      return fail(err, EINVAL, "batch request overruns it");
    starts.push_back(off);
    off += std::min<size_t>(NLMSG_ALIGN(h->nlmsg_len), len - off);
  }
  if (starts.size() != count) return fail(err, EINVAL, "batch holds another number of requests than counted");
  starts.push_back(len);
  replies->assign(count, Reply{});
  for (size_t at = 0; at < count;) {
    size_t n = 1;
    while (at + n < count && n < max_in_flight_ && starts[at + n + 1] - starts[at] <= max_send_) n++;
    const size_t off = starts[at], end = starts[at + n];
    std::vector<Reply> part;
    const OnMessage shifted = on_msg ? OnMessage([&](size_t i, const nlmsghdr* h) { on_msg(at + i, h); }) : OnMessage();
    AckMatcher m(portid_, first_seq + static_cast<uint32_t>(at), n, &part, shifted);
    if (!send(buf + off, end - off, err)) return false;
    while (m.pending()) {
      const ssize_t got = recv(err);
      if (got < 0 || !m.feed(recv_buffer(), static_cast<size_t>(got), err)) return false;
    }
    std::move(part.begin(), part.end(), replies->begin() + static_cast<std::ptrdiff_t>(at));
    at += n;
  }
  return true;
}

bool Socket::transact_batch(const uint8_t* buf, size_t len, uint32_t begin_seq, uint32_t first_seq, size_t count,
                            std::vector<Reply>* replies, Reply* batch, const OnMessage& on_msg, SysError* err) {
  AckMatcher m(portid_, first_seq, count, replies, on_msg);
  m.expect_batch(begin_seq, batch);
  // A transaction cannot be cut in parts as transact's batches are: the
  // buffer grows to hold all of its answers (an ACK, and an echo of what
  // it made: about 1.3 KiB a request, measured; 4 KiB allowed). Without
  // that, 8,000 rules in one transaction were applied and reported as failed
  // (ENOBUFS). A buffer is a limit, not memory held.
  grow_rcvbuf((count + 2) * 4096);
  if (!send(buf, len, err)) return false;
  // nfnetlink runs the batch synchronously inside sendmsg, so all answers
  // are queued now: read until the queue is empty, never wait. Taking them
  // all (a failed commit's error comes before the requests' ACKs) leaves
  // nothing of ours for the next batch.
  for (;;) {
    const ssize_t n = recv(err, true);
    if (n < 0) return false;
    if (n == 0) break;
    if (!m.feed(recv_buffer(), static_cast<size_t>(n), err)) return false;
  }
  // A batch the kernel dropped unread (malformed) answers nothing at all.
  if (m.pending() && !m.refused()) return fail(err, EPROTO, "nf_tables batch left requests unanswered");
  return true;
}

bool Socket::request(const Encode& enc, const OnMessage& on_msg, Reply* status, SysError* err) {
  std::vector<uint8_t> buf(kRequestBuf);
  const uint32_t seq = reserve_seq(1);
  const auto build = [&](nl::Builder& b) {
    if (enc(b, seq)) b.message()->nlmsg_flags |= NLM_F_ACK;
  };
  if (!nl::build_grown(&buf, kMaxRequest, build)) return fail(err, EMSGSIZE, "request does not fit");
  std::vector<Reply> r;
  if (!transact(buf.data(), buf.size(), seq, 1, &r, on_msg, err)) return false;
  *status = std::move(r[0]);
  return true;
}

bool Socket::dump(const Encode& enc, const OnMessage& on_msg, const std::function<void()>& reset, Reply* status,
                  SysError* err) {
  std::vector<uint8_t> buf(kRequestBuf);
  for (int attempt = 0; attempt < kDumpRetries; attempt++) {
    const uint32_t seq = reserve_seq(1);
    if (!nl::build_grown(&buf, kMaxRequest, [&](nl::Builder& b) { enc(b, seq); }))
      return fail(err, EMSGSIZE, "dump request does not fit");
    if (!send(buf.data(), buf.size(), err)) return false;
    DumpMatcher m(portid_, seq, on_msg, status);
    while (!m.finished()) {
      const ssize_t n = recv(err);
      if (n < 0 || !m.feed(recv_buffer(), static_cast<size_t>(n), err)) return false;
    }
    if (!m.interrupted() || status->error) return true;
    // The table changed under the dump; what we have may be inconsistent.
    reset();
  }
  return fail(err, EAGAIN, "dump interrupted too often");
}

}  // namespace nsnet::io
