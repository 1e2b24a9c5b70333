// What a pool's reset puts back beyond links, addresses, routes, rules and
// neighbours: queueing disciplines, nexthop objects, IPv6 address labels,
// IPsec states and policies, ipset sets, MPTCP endpoints and limits
// (nl/extras.h), which a tenant's root
// can set in its namespace and which would otherwise shape, steer, drop or
// show the next tenant's traffic; and the legacy iptables tables, which it
// cannot put back and which refuse the namespace.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../io/socket.h"
#include "../nl/extras.h"

namespace nsnet::ops {

struct Extras {
  std::vector<rtnl::LinkExtra> links;
  std::vector<rtnl::QdiscInfo> qdiscs;
  std::vector<uint32_t> nexthops;
  std::vector<rtnl::AddrLabelInfo> labels;
  // IPsec: what a NETLINK_XFRM socket in the namespace lists (0 without one).
  size_t xfrm_states = 0, xfrm_policies = 0;
  // Zero where the kernel has no default policies (before 5.16).
  rtnl::XfrmDefaults xfrm_defaults;
  // ipset's sets, by name (none without a NETLINK_NETFILTER socket).
  std::vector<std::string> ipsets;
  // MPTCP's path manager (left as is without a generic netlink socket, or
  // on a kernel without MPTCP).
  std::vector<uint8_t> mptcp_endpoints;
  rtnl::MptcpLimits mptcp_limits;
  // TCP's metrics cache (peers' RTT and cwnd, Fast Open cookies): entries.
  size_t tcp_metrics = 0;
};

// The namespace's sockets a reading or a reset uses: rtnetlink always; the
// others, opened by a thread that enters namespaces, where it has them.
struct ExtrasSockets {
  io::Socket& rtnl;
  io::Socket* nfnl = nullptr;
  io::Socket* xfrm = nullptr;
  io::Socket* genl = nullptr;
  // Generic netlink families' ids on genl (0: the kernel has none).
  uint16_t mptcp = 0;        // "mptcp_pm"
  uint16_t tcp_metrics = 0;  // "tcp_metrics"
};

// Reads them. A kernel without nexthop objects has none. Here and below:
// false for a system error (in *err); a kernel's refusal ends it, in
// *status.
bool read_extras(const ExtrasSockets& s, Extras* out, io::Reply* status, io::SysError* err);

// Takes away what `want` (a snapshot's) lacks, reading first: a root or
// ingress qdisc of one of want's devices (the kernel puts the default back
// once the device is up), a nexthop, an address label (and puts back those
// it lacks); every IPsec state and policy, every ipset set no rule holds,
// every MPTCP endpoint and TCP metrics entry (a fresh namespace has none);
// and puts back want's links' broadcast addresses and modes, IPsec default
// policies and MPTCP limits. An XDP program it cannot take away. Then
// reads again into *now. A kernel refusal stops it, in *status; a set a
// rule still holds stays, for extras_diff to name.
bool reset_extras(const ExtrasSockets& s, const Extras& want, Extras* now, io::Reply* status, io::SysError* err);

// The legacy iptables tables (ip, ip6, arp) in use in the namespace, as
// "ip: filter, nat; ..." ("" for none): a fresh namespace has none, and a
// reset cannot put their rules back. Enters the namespace (nsfd).
bool legacy_tables(int nsfd, std::string* in_use, io::SysError* err);

// What differs between want and got, one clause per difference, "" when
// nothing does. Qdiscs compare by device, parent and kind (the kernel
// numbers a default it puts back anew), on want's devices only; IPsec
// states and policies by count.
std::string extras_diff(const Extras& want, const Extras& got);

}  // namespace nsnet::ops
