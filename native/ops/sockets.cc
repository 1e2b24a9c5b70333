#include "sockets.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <string>

namespace nsnet::ops {

namespace {

using sockdiag::SockInfo;

// Dumps one kind; a kind the kernel has no diag handler for goes to `unlisted`.
template <class Enc>
bool dump_kind(io::Socket& s, const char* what, Enc enc, SocketList* out, io::SysError* err) {
  io::Reply status;
  std::vector<SockInfo> got;
  if (!io::dump_into<SockInfo>(s, enc, sockdiag::decode, &got, &status, err)) return false;
  if (status.error == -ENOENT || status.error == -EOPNOTSUPP || status.error == -EINVAL) {
    out->unlisted.push_back(what);
    return true;
  }
  if (status.error) return io::fail(err, -status.error, std::string("sock_diag dump of ") + what);
  out->sockets.insert(out->sockets.end(), got.begin(), got.end());
  return true;
}

}  // namespace

bool list_sockets(io::Socket& diag, bool destroy_timewait, SocketList* out, io::SysError* err) {
  static const struct {
    uint8_t protocol;
    const char* name;
  } kInet[] = {{IPPROTO_TCP, "tcp"}, {IPPROTO_UDP, "udp"}, {IPPROTO_UDPLITE, "udplite"}, {IPPROTO_SCTP, "sctp"}, {IPPROTO_DCCP, "dccp"}};
  for (uint8_t family : {AF_INET, AF_INET6}) {
    for (const auto& p : kInet) {
      const std::string what = std::string(family == AF_INET ? "inet/" : "inet6/") + p.name;
      auto enc = [&](nl::Builder& b, uint32_t seq) { return sockdiag::encode_inet_dump(b, seq, family, p.protocol, ~0u); };
      const size_t before = out->sockets.size();
      if (!dump_kind(diag, what.c_str(), enc, out, err)) return false;
      // Older kernels leave INET_DIAG_PROTOCOL out: the dump says which.
      for (size_t i = before; i < out->sockets.size(); i++)
        if (!out->sockets[i].protocol) out->sockets[i].protocol = p.protocol;
    }
  }
  if (!dump_kind(diag, "unix", sockdiag::encode_unix_dump, out, err)) return false;
  if (!dump_kind(diag, "packet", sockdiag::encode_packet_dump, out, err)) return false;
  if (!dump_kind(diag, "netlink", sockdiag::encode_netlink_dump, out, err)) return false;
  if (!destroy_timewait) return true;
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
