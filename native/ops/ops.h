// rtnetlink operations on one namespace's socket: a batch of changes sent in
// one sendmsg, and dumps. Callers hold nothing but the socket; names of
// devices are resolved here, in one round trip, before anything changes.
#pragma once

#include <string>
#include <vector>

#include "../io/socket.h"
#include "../nl/rtnl.h"

namespace nsnet::ops {

// A device by ifindex, or by name still to be resolved.
struct DevRef {
  int32_t index = 0;
  std::string name;
  bool set() const { return index > 0 || !name.empty(); }
};

// Raw: a message whose body a dump returned, sent back as raw_type (a
// rule or neighbour removed or made again exactly as the kernel shows it).
// AddrSettle sends nothing: it waits (20 ms at most) until dev answers
// for addr.local: the link seen up by the kernel's link watcher and, for an
// IPv6 address added with nodad, its solicited-node group joined; the
// kernel does both from work queues after the requests' answers.
enum class OpType { LinkAdd, LinkSet, LinkDel, AddrAdd, AddrDel, RouteAdd, RouteReplace, RouteDel, NeighAdd, NeighReplace, NeighAppend, NeighDel, Raw, AddrSettle };

struct Op {
  OpType type = OpType::LinkAdd;
  DevRef dev;       // the link acted on (LinkSet, LinkDel, addresses, neighbours, route oif)
  DevRef master;    // LinkAdd/LinkSet; index 0 with detach=true means nomaster
  bool detach = false;
  DevRef lower;     // LinkAdd of macvlan/vxlan
  rtnl::LinkSpec link;
  rtnl::AddrSpec addr;
  rtnl::RouteSpec route;
  rtnl::NeighSpec neigh;
  uint16_t raw_type = 0;
  uint16_t raw_flags = 0;  // beyond NLM_F_REQUEST | NLM_F_ACK
  std::vector<uint8_t> raw;
};

// The failure of a name lookup is reported like a kernel error of the op.
// Ops after a failed lookup are not sent: nothing changes.
bool exec(io::Socket& s, std::vector<Op>& ops, std::vector<io::Reply>* out, io::SysError* err);

bool list_links(io::Socket& s, int32_t ifindex, const std::string& name, std::vector<rtnl::LinkInfo>* out,
                io::Reply* status, io::SysError* err);
bool list_addrs(io::Socket& s, uint8_t family, int32_t ifindex, std::vector<rtnl::AddrInfo>* out, io::Reply* status,
                io::SysError* err);
bool list_routes(io::Socket& s, uint8_t family, uint32_t table, std::vector<rtnl::RouteInfo>* out, io::Reply* status,
                 io::SysError* err);
bool list_rules(io::Socket& s, uint8_t family, std::vector<rtnl::RuleInfo>* out, io::Reply* status, io::SysError* err);
// Neighbours (ARP and NDP entries) of one family (0 = both).
bool list_neighs(io::Socket& s, uint8_t family, std::vector<rtnl::NeighInfo>* out, io::Reply* status, io::SysError* err);
// Forwarding database entries (AF_BRIDGE) of every bridge port and VXLAN device.
bool list_fdb(io::Socket& s, std::vector<rtnl::FdbInfo>* out, io::Reply* status, io::SysError* err);

}  // namespace nsnet::ops
