// rtnetlink messages for links, addresses and routes: plain structs in,
// bytes out (encode_*), and bytes in, plain structs out (decode_*).
// Pure like nl.h: the only allocation is in the decoded strings.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "nl.h"

namespace nsnet::rtnl {

struct IpAddr {
  uint8_t family = 0;  // AF_INET or AF_INET6; 0 = unset
  uint8_t bytes[16] = {};
  size_t size() const { return family == 10 /*AF_INET6*/ ? 16 : 4; }
  explicit operator bool() const { return family != 0; }
};

struct Mac {
  bool set = false;
  uint8_t bytes[6] = {};
};

// What RTM_NEWLINK/RTM_SETLINK carry. A field left at its "unset" value is
// not sent, so one struct serves create, change and move.
struct LinkSpec {
  int32_t ifindex = 0;     // selects the link when > 0
  std::string name;        // IFLA_IFNAME: selects when ifindex == 0, names a new link, or renames
  std::string kind;        // IFLA_INFO_KIND, create only
  int64_t mtu = -1;
  Mac mac;
  int64_t master = -1;     // ifindex; 0 detaches (nomaster)
  int32_t netns_fd = -1;   // IFLA_NET_NS_FD: create in, or move to, that namespace
  int8_t up = -1;          // -1 leave, 0 down, 1 up
  uint32_t flags_mask = 0; // other IFF_* bits to set (IFF_PROMISC, IFF_NOARP ...): ifi_change
  uint32_t flags = 0;      // their values, within flags_mask
  int64_t group = -1;      // IFLA_GROUP
  int64_t txqlen = -1;
  // veth: the peer, created in peer_netns_fd when given
  std::string peer_name;
  int32_t peer_netns_fd = -1;
  Mac peer_mac;
  int64_t peer_mtu = -1;
  // macvlan and vxlan: the lower device (IFLA_LINK)
  int32_t link = 0;
  uint32_t macvlan_mode = 0;  // MACVLAN_MODE_*; 0 = kernel default (vepa)
  // vxlan
  int64_t vni = -1;
  IpAddr vxlan_remote;  // unicast remote or multicast group
  IpAddr vxlan_local;
  int32_t vxlan_port = -1;  // UDP destination port
  int32_t vxlan_ttl = -1;
  int8_t vxlan_learning = -1;
  // IFLA_VXLAN_PROXY: the device answers ARP and neighbour solicitations
  // from its own neighbour table instead of flooding them.
  int8_t vxlan_proxy = -1;
  // bridge
  int8_t bridge_stp = -1;
  int8_t bridge_vlan_filtering = -1;
  // A bridge port's hairpin mode (IFLA_BRPORT_MODE), change only: the
  // kernel ignores port settings in the request that creates the link.
  int8_t brport_hairpin = -1;
  // Forgets the MACs a bridge port learned (IFLA_BRPORT_FLUSH), change only.
  bool brport_flush = false;
  // IPv6 address generation (IFLA_AF_SPEC / AF_INET6 / IFLA_INET6_ADDR_GEN_MODE,
  // IN6_ADDR_GEN_MODE_*), change only: NONE keeps an interface without a
  // link-local address, so it sends no DAD, router solicitation or MLD.
  // Takes effect when the link next comes up.
  int8_t inet6_addr_gen_mode = -1;
  // IFLA_IFALIAS, change only (a create ignores it): a free-text label of
  // up to IFALIASZ - 1 bytes; set with an empty alias, it clears it.
  bool has_alias = false;
  std::string alias;
  // IPv4 settings of the link, as net.ipv4.conf.<dev>.* holds them
  // (IFLA_AF_SPEC / AF_INET / IFLA_INET_CONF: an IPV4_DEVCONF_* index and
  // its value), change only: set in the request that brings a link up, they
  // cost no write to /proc/sys.
  std::vector<std::pair<uint16_t, uint32_t>> inet_conf;
};

struct LinkInfo {
  int32_t ifindex = 0;
  std::string name;
  std::string kind;        // "" for devices without rtnl_link_ops (lo, physical)
  uint32_t flags = 0;      // IFF_*
  uint32_t mtu = 0;
  Mac mac;
  int32_t master = 0;
  int32_t link = 0;        // IFLA_LINK: veth peer or lower device
  bool has_link_netnsid = false;
  int32_t link_netnsid = -1;
  uint8_t operstate = 0;
  uint32_t txqlen = 0;
  uint32_t group = 0;
  std::string slave_kind;  // IFLA_INFO_SLAVE_KIND, e.g. "bridge" for a port
  std::string alias;       // IFLA_IFALIAS; "" when it has none
  uint32_t change = 0;     // ifi_change: ~0 in the notification of a new link
};

struct AddrSpec {
  int32_t ifindex = 0;
  IpAddr local;
  uint8_t prefixlen = 0;
  IpAddr peer;        // point-to-point peer; unset = same as local
  bool broadcast = true;  // IPv4: set the directed broadcast, as `ip addr add ... brd +`
  int16_t scope = -1;     // RT_SCOPE_*; -1 = universe (host for loopback ranges is up to the caller)
  uint32_t flags = 0;     // IFA_F_*, e.g. IFA_F_NODAD
  std::string label;
};

struct AddrInfo {
  uint8_t family = 0;
  int32_t ifindex = 0;
  uint8_t prefixlen = 0;
  uint8_t scope = 0;
  uint32_t flags = 0;
  IpAddr local;      // IFA_LOCAL (or IFA_ADDRESS when absent)
  IpAddr address;    // IFA_ADDRESS (the peer on point-to-point links)
  IpAddr broadcast;
  std::string label;
  uint32_t valid_lft = 0xffffffff;
  uint32_t preferred_lft = 0xffffffff;
};

struct RouteSpec {
  uint8_t family = 0;
  IpAddr dst;           // unset with dst_len 0: default route
  uint8_t dst_len = 0;
  IpAddr src;           // an IPv6 source-specific route's source prefix
  uint8_t src_len = 0;
  IpAddr gateway;
  IpAddr prefsrc;
  int32_t oif = 0;
  uint32_t table = 254; // RT_TABLE_MAIN
  int64_t metric = -1;
  int16_t scope = -1;   // -1: link when there is no gateway, else universe
  uint8_t protocol = 3; // RTPROT_BOOT, as iproute2 uses
  uint8_t type = 1;     // RTN_UNICAST
  bool onlink = false;  // RTNH_F_ONLINK: gateway need not be on a connected subnet
  int64_t mtu = -1;     // RTAX_MTU
};

struct RouteInfo {
  uint8_t family = 0;
  IpAddr dst;
  uint8_t dst_len = 0;
  IpAddr src;
  uint8_t src_len = 0;
  IpAddr gateway;
  IpAddr prefsrc;
  int32_t oif = 0;
  int32_t iif = 0;
  uint32_t table = 0;
  uint32_t metric = 0;
  bool has_metric = false;
  uint8_t scope = 0;
  uint8_t protocol = 0;
  uint8_t type = 0;
  uint32_t flags = 0;   // rtm_flags | RTNH_F_*
  uint32_t mtu = 0;
  // RTA_METRICS as the kernel dumps it (every RTAX_* set: mtu, window,
  // rto_min, initcwnd, congestion control ...): equal routes dump equal bytes.
  std::string metrics;
  int16_t pref = -1;    // RTA_PREF (an IPv6 route's router preference), -1: none
};

// A neighbour (ARP or NDP) entry, RTM_NEWNEIGH/RTM_DELNEIGH.
struct NeighInfo {
  uint8_t family = 0;   // AF_INET or AF_INET6 (bridge FDB entries are not decoded)
  int32_t ifindex = 0;
  uint16_t state = 0;   // NUD_*
  uint8_t flags = 0;    // NTF_*
  uint8_t type = 0;     // RTN_*
  IpAddr dst;
  Mac lladdr;
};

// A policy routing rule (RTM_NEWRULE), as a dump reports it: the fields
// that tell rules apart at a glance, and the message's body (fib_rule_hdr
// and attributes) as the kernel sent it, which sent back as RTM_DELRULE
// removes exactly that rule, or as RTM_NEWRULE makes it again.
struct RuleInfo {
  uint8_t family = 0;
  uint32_t priority = 0;
  uint32_t table = 0;     // FRA_TABLE, else the header's
  uint8_t action = 0;     // FR_ACT_*
  std::vector<uint8_t> body;
};

// A neighbour entry to add, replace or delete (`ip neigh add|replace|del`),
// or, with family AF_BRIDGE, a forwarding database entry (`bridge fdb
// add|replace|append|del LLADDR dev DEV [dst DST] self`): there lladdr is the
// key and is sent in a delete too, and dst (optional) is a VXLAN remote.
struct NeighSpec {
  int32_t ifindex = 0;
  uint8_t family = 0;      // 0: dst's family; AF_BRIDGE for an FDB entry
  IpAddr dst;              // a neighbour's address; an FDB entry's remote
  Mac lladdr;              // unset in a neighbour's delete
  uint16_t state = 0x80;   // NUD_PERMANENT: never probed, never expires
  uint8_t flags = 0;       // NTF_* (NTF_SELF: the device's own FDB, not its master's)
  int64_t vni = -1;        // NDA_VNI: a VXLAN entry's VNI, if not the device's
};

// A bridge or VXLAN forwarding database entry (AF_BRIDGE), as `bridge fdb
// show` lists it.
struct FdbInfo {
  int32_t ifindex = 0;
  uint16_t state = 0;   // NUD_*
  uint8_t flags = 0;    // NTF_*
  Mac lladdr;
  IpAddr dst;           // a VXLAN entry's remote, if any
  int32_t master = 0;   // NDA_MASTER
  int64_t vni = -1;     // NDA_VNI
  int32_t vlan = -1;    // NDA_VLAN
};

// Request flags for a create: fail if it exists, as `ip ... add` does.
constexpr uint16_t kCreate = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
constexpr uint16_t kReplace = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
// `bridge fdb append`: another remote for an entry that may exist.
constexpr uint16_t kAppend = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND;
constexpr uint16_t kChange = NLM_F_REQUEST | NLM_F_ACK;

// Each encoder appends one message to b and returns b.ok().
bool encode_link_new(nl::Builder& b, uint32_t seq, uint16_t flags, const LinkSpec& s);
bool encode_link_del(nl::Builder& b, uint32_t seq, int32_t ifindex, const std::string& name);
// ifindex > 0 or a name selects one link; neither dumps all links.
bool encode_link_get(nl::Builder& b, uint32_t seq, int32_t ifindex, const std::string& name);
bool encode_addr(nl::Builder& b, uint16_t type, uint32_t seq, uint16_t flags, const AddrSpec& s);
// Dumps addresses of one family (0 = all), of one link when ifindex > 0.
bool encode_addr_dump(nl::Builder& b, uint32_t seq, uint8_t family, int32_t ifindex);
// A dump of the multicast groups of one interface (ifindex > 0) or all
// (RTM_GETMULTICAST; IPv6's: the groups a link listens to, solicited-node
// ones included).
bool encode_mcast_dump(nl::Builder& b, uint32_t seq, uint8_t family, int32_t ifindex);
bool encode_route(nl::Builder& b, uint16_t type, uint32_t seq, uint16_t flags, const RouteSpec& s);
// Dumps routes of one family (0 = all) in one table (0 = all tables).
bool encode_route_dump(nl::Builder& b, uint32_t seq, uint8_t family, uint32_t table);

// Dumps the rules of one family (0 = all).
bool encode_rule_dump(nl::Builder& b, uint32_t seq, uint8_t family);
// A message of `type` whose body (family header and attributes) is given
// whole: a body a dump returned, sent back (see RuleInfo).
bool encode_raw(nl::Builder& b, uint16_t type, uint32_t seq, uint16_t flags, const uint8_t* body, size_t len);

// RTM_NEWNEIGH (with kCreate or kReplace) or RTM_DELNEIGH (kChange).
bool encode_neigh(nl::Builder& b, uint16_t type, uint32_t seq, uint16_t flags, const NeighSpec& s);
// Dumps the neighbours of one family (AF_INET or AF_INET6).
bool encode_neigh_dump(nl::Builder& b, uint32_t seq, uint8_t family);

// Decoders return false for a message of the wrong type or a malformed one.
bool decode_link(const nlmsghdr* h, LinkInfo* out);
bool decode_addr(const nlmsghdr* h, AddrInfo* out);
// One group of a multicast dump: the link and the group's address.
struct McastInfo {
  int32_t ifindex = 0;
  IpAddr group;
};
bool decode_mcast(const nlmsghdr* h, McastInfo* out);
// The solicited-node multicast group of an IPv6 address (RFC 4291 2.7.1):
// ff02::1:ff and its last 24 bits.
IpAddr solicited_node(const IpAddr& a);
bool decode_route(const nlmsghdr* h, RouteInfo* out);
// Also false for a family other than IPv4/IPv6 (bridge FDB entries share the group).
bool decode_neigh(const nlmsghdr* h, NeighInfo* out);
bool decode_rule(const nlmsghdr* h, RuleInfo* out);
// False for anything but an AF_BRIDGE entry with a link-layer address.
bool decode_fdb(const nlmsghdr* h, FdbInfo* out);

}  // namespace nsnet::rtnl
