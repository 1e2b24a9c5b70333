#include "sockets.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <mutex>
#include <set>
#include <string>

namespace nsnet::ops {

namespace {

using sockdiag::SockInfo;

// Kinds this kernel has no diag handler for, as found by a first dump:
// asking again would make the kernel try to load the module each time,
// which costs milliseconds, and a protocol whose module is missing has no
// sockets to list.
std::mutex g_missing_mu;
std::set<std::string> g_missing;

// Dumps one kind; a kind the kernel has no diag handler for goes to `unlisted`.
template <class Enc>
bool dump_kind(io::Socket& s, const std::string& what, Enc enc, SocketList* out, io::SysError* err) {
  {
    std::lock_guard<std::mutex> lk(g_missing_mu);
    if (g_missing.count(what)) {
      out->unlisted.push_back(what);
      return true;
    }
  }
  io::Reply status;
  std::vector<SockInfo> got;
  if (!io::dump_into<SockInfo>(s, enc, sockdiag::decode, &got, &status, err)) return false;
  if (status.error == -ENOENT || status.error == -EOPNOTSUPP || status.error == -EINVAL) {
    std::lock_guard<std::mutex> lk(g_missing_mu);
    g_missing.insert(what);
    out->unlisted.push_back(what);
    return true;
  }
  if (status.error) return io::fail(err, -status.error, std::string("sock_diag dump of ") + what);
  out->sockets.insert(out->sockets.end(), got.begin(), got.end());
  return true;
}

}  // namespace

bool list_sockets(io::Socket& diag, const SocketQuery& q, const sockdiag::SockCounts* counts, SocketList* out, io::SysError* err) {
  // How many a dump may find (~0u: unknown); TIME_WAIT entries count as TCP of either family.
  auto expect = [&](uint8_t family, uint8_t protocol) -> uint32_t {
    if (!counts) return ~0u;
    const bool v4 = family == AF_INET;
    switch (protocol) {
      case IPPROTO_TCP: return (v4 ? counts->tcp : counts->tcp6) + counts->tcp_tw;
      case IPPROTO_UDP: return v4 ? counts->udp : counts->udp6;
      case IPPROTO_UDPLITE: return v4 ? counts->udplite : counts->udplite6;
      default: return ~0u;
    }
  };
  static const struct {
    uint8_t protocol;
    const char* name;
    uint32_t kind;
  } kInet[] = {{IPPROTO_TCP, "tcp", kTcp}, {IPPROTO_UDP, "udp", kUdp}, {IPPROTO_UDPLITE, "udplite", kUdpLite}, {IPPROTO_SCTP, "sctp", kSctp}, {IPPROTO_DCCP, "dccp", kDccp}};
  for (uint8_t family : {AF_INET, AF_INET6}) {
    if (!(family == AF_INET ? q.v4 : q.v6)) continue;
    for (const auto& p : kInet) {
      if (!(q.kinds & p.kind) || expect(family, p.protocol) == 0) continue;
      const std::string what = std::string(family == AF_INET ? "inet/" : "inet6/") + p.name;
      auto enc = [&](nl::Builder& b, uint32_t seq) { return sockdiag::encode_inet_dump(b, seq, family, p.protocol, q.states); };
      const size_t before = out->sockets.size();
      if (!dump_kind(diag, what, enc, out, err)) return false;
      // Older kernels leave INET_DIAG_PROTOCOL out: the dump says which.
      for (size_t i = before; i < out->sockets.size(); i++)
        if (!out->sockets[i].protocol) out->sockets[i].protocol = p.protocol;
    }
  }
  auto unix_dump = [&](nl::Builder& b, uint32_t seq) { return sockdiag::encode_unix_dump(b, seq, q.states); };
  if ((q.kinds & kUnix) && !dump_kind(diag, "unix", unix_dump, out, err)) return false;
  const bool stateless = q.states == ~0u;
  if (stateless && (q.kinds & kPacket) && !dump_kind(diag, "packet", sockdiag::encode_packet_dump, out, err)) return false;
  if (stateless && (q.kinds & kNetlink) && !dump_kind(diag, "netlink", sockdiag::encode_netlink_dump, out, err)) return false;
  if (!q.destroy_timewait) return true;
  std::vector<SockInfo> kept;
  for (const SockInfo& s : out->sockets) {
    if (s.protocol != IPPROTO_TCP || s.state != TCP_TIME_WAIT || (s.family != AF_INET && s.family != AF_INET6)) {
      kept.push_back(s);
      continue;
    }
    io::Reply status;
    auto enc = [&](nl::Builder& b, uint32_t seq) { return sockdiag::encode_inet_destroy(b, seq, s); };
    if (!diag.request(enc, [](size_t, const nlmsghdr*) {}, &status, err)) return false;
    // Gone meanwhile (it expired) is as good as destroyed.
    if (status.error && status.error != -ENOENT) kept.push_back(s);
    else out->destroyed++;
  }
  out->sockets.swap(kept);
  return true;
}

}  // namespace nsnet::ops
