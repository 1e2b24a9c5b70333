// The sockets of one namespace, from a NETLINK_SOCK_DIAG socket opened
// inside it: what a sandbox's tenant may have left behind.
#pragma once

#include <cstdint>
#include <vector>

#include "../io/socket.h"
#include "../nl/sockdiag.h"

namespace nsnet::ops {

struct SocketList {
  std::vector<sockdiag::SockInfo> sockets;
  // Dumps the kernel cannot serve here (its diag module for that protocol
  // is missing), as "family/protocol": their sockets are not listed.
  std::vector<std::string> unlisted;
  // TIME_WAIT sockets closed (with destroy_timewait).
  uint32_t destroyed = 0;
};

// The kinds of socket a query asks for (bits of SocketQuery::kinds).
enum SocketKind : uint32_t {
  kTcp = 1u << 0, kUdp = 1u << 1, kUdpLite = 1u << 2, kSctp = 1u << 3, kDccp = 1u << 4,
  kRaw = 1u << 5,  // listed from /proc/net/raw{,6} by the caller (see parse_proc_raw)
  kUnix = 1u << 6, kPacket = 1u << 7, kNetlink = 1u << 8,
  kAllKinds = (1u << 9) - 1,
};

struct SocketQuery {
  uint32_t kinds = kAllKinds;
  // A TCPF_* mask. Inet and unix sockets in other states are left out (the
  // kernel filters them: a dump of listening TCP sockets walks only the
  // listening hash); packet and netlink sockets, which have no state, are
  // listed only when every state is asked for.
  uint32_t states = ~0u;
  bool v4 = true, v6 = true;  // inet sockets of either family
  // TIME_WAIT entries (which no process holds: the kernel keeps them to
  // absorb a closed connection's late segments) are closed with
  // SOCK_DESTROY and left out.
  bool destroy_timewait = false;
};

// Lists the sockets a query asks for: inet (TCP, UDP, UDP-Lite, SCTP,
// DCCP; IPv4 and IPv6), unix, packet and netlink, of the namespace diag
// was opened in. counts (from the namespace's sockstat) skips the TCP, UDP
// and UDP-Lite dumps that can find nothing, each of which walks the host's
// whole hash table; null dumps them all.
bool list_sockets(io::Socket& diag, const SocketQuery& q, const sockdiag::SockCounts* counts, SocketList* out, io::SysError* err);

}  // namespace nsnet::ops
