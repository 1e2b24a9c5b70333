// The sockets of one namespace, from a NETLINK_SOCK_DIAG socket opened
// inside it: what a sandbox's tenant may have left behind.
#pragma once

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

// Lists inet (TCP, UDP, UDP-Lite, SCTP, DCCP; IPv4 and IPv6), unix, packet
// and netlink sockets. With destroy_timewait, TIME_WAIT entries (which no
// process holds: the kernel keeps them to absorb a closed connection's late
// segments) are closed with SOCK_DESTROY and left out.
// counts (from the namespace's sockstat) skips the TCP, UDP and UDP-Lite
// dumps that can find nothing, each of which walks the host's whole hash
// table; null dumps them all.
bool list_sockets(io::Socket& diag, bool destroy_timewait, const sockdiag::SockCounts* counts, SocketList* out, io::SysError* err);

}  // namespace nsnet::ops
