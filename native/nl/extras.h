// Codec for what a tenant can leave in a namespace besides its links,
// addresses, routes, rules and neighbours (rtnl.h): queueing disciplines,
// nexthop objects and IPv6 address labels (rtnetlink), IPsec states and
// policies (NETLINK_XFRM), ipset sets (NETLINK_NETFILTER), and MPTCP's
// endpoints and limits (generic netlink). A pool's reset finds them with
// these dumps and takes them away with these requests. Pure: bytes in and
// out.
#pragma once

#include <linux/netlink.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "nl.h"
#include "rtnl.h"

namespace nsnet::rtnl {

// A link's settings a tenant can change that rtnl.h's LinkInfo leaves out:
// its link-layer broadcast address (where ARP requests go), its link mode
// (dormant keeps it from running), and whether an XDP program sees its
// packets. Read from a link dump (rtnl.h's encode_link_get).
struct LinkExtra {
  int32_t ifindex = 0;
  Mac broadcast;          // unset where it is not 6 bytes
  int16_t linkmode = -1;  // IFLA_LINKMODE, -1 where absent
  uint8_t xdp = 0;        // IFLA_XDP_ATTACHED: XDP_ATTACHED_* (0: none)
};

bool decode_link_extra(const nlmsghdr* h, LinkExtra* out);
// RTM_SETLINK of want.ifindex putting back its broadcast address (if set)
// and link mode (if known).
bool encode_link_extra(nl::Builder& b, uint32_t seq, const LinkExtra& want);

// A queueing discipline, as `tc qdisc show` lists it.
struct QdiscInfo {
  int32_t ifindex = 0;
  uint32_t handle = 0;
  uint32_t parent = 0;  // TC_H_ROOT, TC_H_INGRESS (ingress and clsact), or a class
  std::string kind;
};

// Dumps every qdisc of the namespace.
bool encode_qdisc_dump(nl::Builder& b, uint32_t seq);
bool decode_qdisc(const nlmsghdr* h, QdiscInfo* out);
// Deletes the qdisc at `parent` (TC_H_ROOT or TC_H_INGRESS) of ifindex, with
// what hangs below it; at the root the kernel puts the device's default back.
bool encode_qdisc_del(nl::Builder& b, uint32_t seq, int32_t ifindex, uint32_t parent);

// Nexthop objects (`ip nexthop`), by id.
bool encode_nexthop_dump(nl::Builder& b, uint32_t seq);
bool decode_nexthop(const nlmsghdr* h, uint32_t* id);
bool encode_nexthop_del(nl::Builder& b, uint32_t seq, uint32_t id);

// An IPv6 address label (`ip addrlabel`), and its message body
// (ifaddrlblmsg and attributes) as the dump sent it: sent back as
// RTM_DELADDRLABEL it removes the label, as RTM_NEWADDRLABEL (rtnl.h's
// encode_raw) it makes it again.
struct AddrLabelInfo {
  IpAddr prefix;
  uint8_t prefixlen = 0;
  uint32_t ifindex = 0;
  uint32_t label = 0;
  std::vector<uint8_t> body;
};

bool encode_addrlabel_dump(nl::Builder& b, uint32_t seq);
bool decode_addrlabel(const nlmsghdr* h, AddrLabelInfo* out);

// IPsec: a dump of the security associations (states) or, with policies,
// of the policies; and a flush of all of either.
struct XfrmEntry {
  bool policy = false;
};

bool encode_xfrm_dump(nl::Builder& b, uint32_t seq, bool policies);
// True for one state (XFRM_MSG_NEWSA) or one policy (XFRM_MSG_NEWPOLICY).
bool decode_xfrm(const nlmsghdr* h, XfrmEntry* out);

// What a packet no policy matches meets, per direction
// (XFRM_USERPOLICY_ACCEPT or _BLOCK; `ip xfrm policy setdefault`).
struct XfrmDefaults {
  uint8_t in = 0, fwd = 0, out = 0;
};

bool encode_xfrm_getdefault(nl::Builder& b, uint32_t seq);
bool decode_xfrm_defaults(const nlmsghdr* h, XfrmDefaults* out);
bool encode_xfrm_setdefault(nl::Builder& b, uint32_t seq, const XfrmDefaults& d);

// A flush takes one kind: the states, the main policies, or the sub
// policies (a kernel without CONFIG_XFRM_SUB_POLICY refuses that one).
enum class XfrmFlush : uint8_t { States, Policies, SubPolicies };
bool encode_xfrm_flush(nl::Builder& b, uint32_t seq, XfrmFlush what);

// ipset: a dump of the sets' names, and the destruction of every set (the
// kernel destroys none if one is in use) or of one by name.
bool encode_ipset_list(nl::Builder& b, uint32_t seq);
bool decode_ipset(const nlmsghdr* h, std::string* name);
bool encode_ipset_destroy_all(nl::Builder& b, uint32_t seq);
bool encode_ipset_destroy(nl::Builder& b, uint32_t seq, std::string_view name);

// Generic netlink: a family's id, by name.
bool encode_genl_family(nl::Builder& b, uint32_t seq, std::string_view name);
bool decode_genl_family(const nlmsghdr* h, uint16_t* id);

// A command of the genetlink family `family` (its id), as a dump or as a
// request.
bool encode_genl(nl::Builder& b, uint32_t seq, uint16_t family, uint8_t cmd, uint8_t version, bool dump);
// Whether h is a message of that family with that command.
bool is_genl(const nlmsghdr* h, uint16_t family, uint8_t cmd);

// MPTCP's in-kernel path manager (the genetlink family "mptcp_pm", whose
// id is `family`): its endpoints (`ip mptcp endpoint`) and limits.
struct MptcpLimits {
  uint32_t add_addr_accepted = 0;
  uint32_t subflows = 0;
};

// MPTCP_PM_CMD_GET_ADDR as a dump; FLUSH_ADDRS and GET_LIMITS as requests.
bool encode_mptcp(nl::Builder& b, uint32_t seq, uint16_t family, uint8_t cmd);
// One endpoint of such a dump, by id.
bool decode_mptcp_endpoint(const nlmsghdr* h, uint16_t family, uint8_t* id);
// GET_LIMITS' answer.
bool decode_mptcp_limits(const nlmsghdr* h, uint16_t family, MptcpLimits* out);
bool encode_mptcp_set_limits(nl::Builder& b, uint32_t seq, uint16_t family, const MptcpLimits& l);

}  // namespace nsnet::rtnl
