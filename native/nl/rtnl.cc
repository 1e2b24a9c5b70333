#include "rtnl.h"

#include <linux/fib_rules.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sys/socket.h>

#include <cstring>

namespace nsnet::rtnl {

using nl::Attr;
using nl::Builder;
using nl::Kind;
using nl::kNested;
using nl::kU32;
using nl::kU8;
using nl::Policy;
using nl::Policies;

namespace {

bool put_addr(Builder& b, uint16_t type, const IpAddr& a) { return b.put(type, a.bytes, a.size()); }

void put_linkinfo(Builder& b, const LinkSpec& s) {
  const size_t info = b.nest_start(IFLA_LINKINFO);
  b.put_str(IFLA_INFO_KIND, s.kind);
  if (s.kind == "veth") {
    if (s.peer_name.empty() && s.peer_netns_fd < 0 && !s.peer_mac.set && s.peer_mtu < 0) return b.nest_end(info);
    const size_t data = b.nest_start(IFLA_INFO_DATA);
    // The peer is a whole ifinfomsg plus attributes inside VETH_INFO_PEER.
    const size_t peer = b.nest_start(VETH_INFO_PEER);
    auto* ifi = b.put_extra<ifinfomsg>();
    if (ifi) ifi->ifi_family = AF_UNSPEC;
    if (!s.peer_name.empty()) b.put_str(IFLA_IFNAME, s.peer_name);
    if (s.peer_netns_fd >= 0) b.put_u32(IFLA_NET_NS_FD, static_cast<uint32_t>(s.peer_netns_fd));
    if (s.peer_mac.set) b.put(IFLA_ADDRESS, s.peer_mac.bytes, 6);
    if (s.peer_mtu >= 0) b.put_u32(IFLA_MTU, static_cast<uint32_t>(s.peer_mtu));
    b.nest_end(peer);
    b.nest_end(data);
  } else if (s.kind == "macvlan") {
    if (s.macvlan_mode) {
      const size_t data = b.nest_start(IFLA_INFO_DATA);
      b.put_u32(IFLA_MACVLAN_MODE, s.macvlan_mode);
      b.nest_end(data);
    }
  } else if (s.kind == "vxlan") {
    const size_t data = b.nest_start(IFLA_INFO_DATA);
    if (s.vni >= 0) b.put_u32(IFLA_VXLAN_ID, static_cast<uint32_t>(s.vni));
    if (s.vxlan_remote) put_addr(b, s.vxlan_remote.family == AF_INET6 ? IFLA_VXLAN_GROUP6 : IFLA_VXLAN_GROUP, s.vxlan_remote);
    if (s.vxlan_local) put_addr(b, s.vxlan_local.family == AF_INET6 ? IFLA_VXLAN_LOCAL6 : IFLA_VXLAN_LOCAL, s.vxlan_local);
    if (s.vxlan_port >= 0) b.put_be16(IFLA_VXLAN_PORT, static_cast<uint16_t>(s.vxlan_port));
    if (s.vxlan_ttl >= 0) b.put_u8(IFLA_VXLAN_TTL, static_cast<uint8_t>(s.vxlan_ttl));
    if (s.vxlan_learning >= 0) b.put_u8(IFLA_VXLAN_LEARNING, static_cast<uint8_t>(s.vxlan_learning));
    if (s.vxlan_proxy >= 0) b.put_u8(IFLA_VXLAN_PROXY, static_cast<uint8_t>(s.vxlan_proxy));
    if (s.link > 0) b.put_u32(IFLA_VXLAN_LINK, static_cast<uint32_t>(s.link));
    b.nest_end(data);
  } else if (s.kind == "bridge") {
    if (s.bridge_stp >= 0 || s.bridge_vlan_filtering >= 0) {
      const size_t data = b.nest_start(IFLA_INFO_DATA);
      if (s.bridge_stp >= 0) b.put_u32(IFLA_BR_STP_STATE, static_cast<uint32_t>(s.bridge_stp));
      if (s.bridge_vlan_filtering >= 0) b.put_u8(IFLA_BR_VLAN_FILTERING, static_cast<uint8_t>(s.bridge_vlan_filtering));
      b.nest_end(data);
    }
  }
  b.nest_end(info);
}

}  // namespace

bool encode_link_new(Builder& b, uint32_t seq, uint16_t flags, const LinkSpec& s) {
  const bool create = !s.kind.empty();
  auto* ifi = b.begin_with<ifinfomsg>(RTM_NEWLINK, flags, seq);
  if (!ifi) return false;
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = create ? 0 : s.ifindex;
  ifi->ifi_change = s.flags_mask;
  ifi->ifi_flags = s.flags & s.flags_mask;
  if (s.up >= 0) {
    ifi->ifi_change |= IFF_UP;
    ifi->ifi_flags = (ifi->ifi_flags & ~static_cast<unsigned>(IFF_UP)) | (s.up ? IFF_UP : 0);
  }
  if (!s.name.empty()) b.put_str(IFLA_IFNAME, s.name);
  if (s.group >= 0) b.put_u32(IFLA_GROUP, static_cast<uint32_t>(s.group));
  if (s.mtu >= 0) b.put_u32(IFLA_MTU, static_cast<uint32_t>(s.mtu));
  if (s.mac.set) b.put(IFLA_ADDRESS, s.mac.bytes, 6);
  if (s.master >= 0) b.put_u32(IFLA_MASTER, static_cast<uint32_t>(s.master));
  if (s.netns_fd >= 0) b.put_u32(IFLA_NET_NS_FD, static_cast<uint32_t>(s.netns_fd));
  if (s.txqlen >= 0) b.put_u32(IFLA_TXQLEN, static_cast<uint32_t>(s.txqlen));
  if (s.link > 0 && s.kind != "vxlan") b.put_u32(IFLA_LINK, static_cast<uint32_t>(s.link));
  if (create) put_linkinfo(b, s);
  if (!create && (s.brport_hairpin >= 0 || s.brport_flush)) {
    const size_t info = b.nest_start(IFLA_LINKINFO);
    b.put_str(IFLA_INFO_SLAVE_KIND, "bridge");
    const size_t data = b.nest_start(IFLA_INFO_SLAVE_DATA);
    if (s.brport_hairpin >= 0) b.put_u8(IFLA_BRPORT_MODE, static_cast<uint8_t>(s.brport_hairpin));
    if (s.brport_flush) b.put_flag(IFLA_BRPORT_FLUSH);
    b.nest_end(data);
    b.nest_end(info);
  }
  if (!create && s.has_alias) b.put_str(IFLA_IFALIAS, s.alias);
  if (!create && (s.inet6_addr_gen_mode >= 0 || !s.inet_conf.empty())) {
    const size_t af = b.nest_start(IFLA_AF_SPEC);
    if (!s.inet_conf.empty()) {
      const size_t v4 = b.nest_start(AF_INET);
      const size_t conf = b.nest_start(IFLA_INET_CONF);
      for (const auto& [id, value] : s.inet_conf) b.put_u32(id, value);
      b.nest_end(conf);
      b.nest_end(v4);
    }
    if (s.inet6_addr_gen_mode >= 0) {
      const size_t v6 = b.nest_start(AF_INET6);
      b.put_u8(IFLA_INET6_ADDR_GEN_MODE, static_cast<uint8_t>(s.inet6_addr_gen_mode));
      b.nest_end(v6);
    }
    b.nest_end(af);
  }
  return b.finish();
}

bool encode_link_del(Builder& b, uint32_t seq, int32_t ifindex, const std::string& name) {
  auto* ifi = b.begin_with<ifinfomsg>(RTM_DELLINK, kChange, seq);
  if (!ifi) return false;
  ifi->ifi_index = ifindex > 0 ? ifindex : 0;
  if (ifindex <= 0) b.put_str(IFLA_IFNAME, name);
  return b.finish();
}

bool encode_link_get(Builder& b, uint32_t seq, int32_t ifindex, const std::string& name) {
  const bool dump = ifindex <= 0 && name.empty();
  auto* ifi = b.begin_with<ifinfomsg>(RTM_GETLINK, NLM_F_REQUEST | (dump ? NLM_F_DUMP : 0), seq);
  if (!ifi) return false;
  ifi->ifi_index = ifindex > 0 ? ifindex : 0;
  if (ifindex <= 0 && !name.empty()) b.put_str(IFLA_IFNAME, name);
  // Statistics are most of a link message and nobody here reads them.
  b.put_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  return b.finish();
}

bool encode_addr(Builder& b, uint16_t type, uint32_t seq, uint16_t flags, const AddrSpec& s) {
  auto* ifa = b.begin_with<ifaddrmsg>(type, flags, seq);
  if (!ifa) return false;
  ifa->ifa_family = s.local.family;
  ifa->ifa_prefixlen = s.prefixlen;
  ifa->ifa_index = static_cast<uint32_t>(s.ifindex);
  ifa->ifa_scope = s.scope >= 0 ? static_cast<uint8_t>(s.scope) : static_cast<uint8_t>(RT_SCOPE_UNIVERSE);
  ifa->ifa_flags = static_cast<uint8_t>(s.flags & 0xff);
  put_addr(b, IFA_LOCAL, s.local);
  put_addr(b, IFA_ADDRESS, s.peer ? s.peer : s.local);
  if (s.local.family == AF_INET && s.broadcast && s.prefixlen < 31 && type == RTM_NEWADDR) {
    IpAddr brd = s.local;
    const uint32_t host = s.prefixlen == 0 ? 0xffffffffu : (0xffffffffu >> s.prefixlen);
    for (int i = 0; i < 4; i++) brd.bytes[i] |= static_cast<uint8_t>(host >> (24 - 8 * i));
    put_addr(b, IFA_BROADCAST, brd);
  }
  if (s.flags > 0xff) b.put_u32(IFA_FLAGS, s.flags);
  if (!s.label.empty()) b.put_str(IFA_LABEL, s.label);
  return b.finish();
}

namespace {

// A dump of an ifaddrmsg family (addresses, multicast groups) of one link, or all.
bool ifaddr_dump(Builder& b, uint16_t type, uint32_t seq, uint8_t family, int32_t ifindex) {
  auto* ifa = b.begin_with<ifaddrmsg>(type, NLM_F_REQUEST | NLM_F_DUMP, seq);
  if (!ifa) return false;
  ifa->ifa_family = family;
  ifa->ifa_index = ifindex > 0 ? static_cast<uint32_t>(ifindex) : 0;
  return b.finish();
}

}  // namespace

bool encode_addr_dump(Builder& b, uint32_t seq, uint8_t family, int32_t ifindex) {
  return ifaddr_dump(b, RTM_GETADDR, seq, family, ifindex);
}

bool encode_mcast_dump(Builder& b, uint32_t seq, uint8_t family, int32_t ifindex) {
  return ifaddr_dump(b, RTM_GETMULTICAST, seq, family, ifindex);
}

bool encode_route(Builder& b, uint16_t type, uint32_t seq, uint16_t flags, const RouteSpec& s) {
  auto* rt = b.begin_with<rtmsg>(type, flags, seq);
  if (!rt) return false;
  rt->rtm_family = s.family;
  rt->rtm_dst_len = s.dst_len;
  rt->rtm_src_len = s.src_len;
  rt->rtm_table = s.table < 256 ? static_cast<uint8_t>(s.table) : static_cast<uint8_t>(RT_TABLE_UNSPEC);
  rt->rtm_protocol = type == RTM_DELROUTE ? RTPROT_UNSPEC : s.protocol;
  rt->rtm_type = s.type;
  if (s.scope >= 0) {
    rt->rtm_scope = static_cast<uint8_t>(s.scope);
  } else if (type == RTM_DELROUTE) {
    rt->rtm_scope = RT_SCOPE_NOWHERE;  // a delete matches any scope
  } else {
    rt->rtm_scope = (s.gateway || s.type != RTN_UNICAST) ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
  }
  if (s.onlink) rt->rtm_flags |= RTNH_F_ONLINK;
  if (s.table >= 256) b.put_u32(RTA_TABLE, s.table);
  if (s.dst && s.dst_len) put_addr(b, RTA_DST, s.dst);
  if (s.src && s.src_len) put_addr(b, RTA_SRC, s.src);
  if (s.gateway) put_addr(b, RTA_GATEWAY, s.gateway);
  if (s.prefsrc) put_addr(b, RTA_PREFSRC, s.prefsrc);
  if (s.oif > 0) b.put_u32(RTA_OIF, static_cast<uint32_t>(s.oif));
  if (s.metric >= 0) b.put_u32(RTA_PRIORITY, static_cast<uint32_t>(s.metric));
  if (s.mtu >= 0) {
    const size_t mx = b.nest_start(RTA_METRICS);
    b.put_u32(RTAX_MTU, static_cast<uint32_t>(s.mtu));
    b.nest_end(mx);
  }
  return b.finish();
}

bool encode_route_dump(Builder& b, uint32_t seq, uint8_t family, uint32_t table) {
  auto* rt = b.begin_with<rtmsg>(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, seq);
  if (!rt) return false;
  rt->rtm_family = family;
  // With strict checking the kernel filters by table itself.
  if (table) {
    rt->rtm_table = table < 256 ? static_cast<uint8_t>(table) : static_cast<uint8_t>(RT_TABLE_UNSPEC);
    b.put_u32(RTA_TABLE, table);
  }
  return b.finish();
}

bool encode_neigh(Builder& b, uint16_t type, uint32_t seq, uint16_t flags, const NeighSpec& s) {
  auto* nd = b.begin_with<ndmsg>(type, flags, seq);
  if (!nd) return false;
  const bool fdb = s.family == AF_BRIDGE;
  nd->ndm_family = s.family ? s.family : s.dst.family;
  nd->ndm_ifindex = s.ifindex;
  nd->ndm_state = s.state;  // iproute2 sends it in a delete too; the kernel ignores it there
  nd->ndm_flags = s.flags;
  // iproute2's order: a neighbour's NDA_DST then NDA_LLADDR, an FDB entry's the other way round.
  if (fdb && s.lladdr.set) b.put(NDA_LLADDR, s.lladdr.bytes, 6);
  if (s.dst) put_addr(b, NDA_DST, s.dst);
  if (!fdb && s.lladdr.set && type != RTM_DELNEIGH) b.put(NDA_LLADDR, s.lladdr.bytes, 6);
  if (s.vni >= 0) b.put_u32(NDA_VNI, static_cast<uint32_t>(s.vni));
  return b.finish();
}

bool encode_neigh_dump(Builder& b, uint32_t seq, uint8_t family) {
  auto* nd = b.begin_with<ndmsg>(RTM_GETNEIGH, NLM_F_REQUEST | NLM_F_DUMP, seq);
  if (!nd) return false;
  nd->ndm_family = family;
  return b.finish();
}

namespace {

bool get_addr(Attr a, uint8_t family, IpAddr* out) {
  const size_t n = family == AF_INET6 ? 16 : 4;
  if (!a || a.len() < n) return false;
  out->family = family;
  std::memcpy(out->bytes, a.data(), n);
  return true;
}

// The ndmsg of an RTM_NEWNEIGH or RTM_DELNEIGH message (ARP/NDP and FDB entries alike).
bool neigh_header(const nlmsghdr* h, ndmsg* nd) {
  if (h->nlmsg_type != RTM_NEWNEIGH && h->nlmsg_type != RTM_DELNEIGH) return false;
  if (h->nlmsg_len < nl::kHdrLen + sizeof(ndmsg)) return false;
  std::memcpy(nd, reinterpret_cast<const uint8_t*>(h) + nl::kHdrLen, sizeof *nd);
  return true;
}

}  // namespace

bool decode_link(const nlmsghdr* h, LinkInfo* out) {
  if (h->nlmsg_type != RTM_NEWLINK && h->nlmsg_type != RTM_DELLINK) return false;
  Attr tb[IFLA_MAX + 1];
  static const nl::Policies<IFLA_MAX> p{
      {IFLA_IFNAME, {Kind::String, 0, IFNAMSIZ - 1}}, {IFLA_MTU, kU32}, {IFLA_MASTER, kU32}, {IFLA_LINK, kU32},
      {IFLA_LINK_NETNSID, kU32}, {IFLA_OPERSTATE, kU8}, {IFLA_TXQLEN, kU32}, {IFLA_GROUP, kU32},
      {IFLA_LINKINFO, kNested}, {IFLA_IFALIAS, {Kind::String, 0, IFALIASZ - 1}}};
  if (!nl::parse_msg(h, sizeof(ifinfomsg), tb, IFLA_MAX, p.p).ok()) return false;
  ifinfomsg ifi;
  std::memcpy(&ifi, reinterpret_cast<const uint8_t*>(h) + nl::kHdrLen, sizeof ifi);
  *out = LinkInfo{};
  out->ifindex = ifi.ifi_index;
  out->flags = ifi.ifi_flags;
  out->change = ifi.ifi_change;
  if (tb[IFLA_IFNAME]) out->name = std::string(tb[IFLA_IFNAME].str());
  if (tb[IFLA_MTU]) out->mtu = tb[IFLA_MTU].u32();
  if (tb[IFLA_ADDRESS] && tb[IFLA_ADDRESS].len() == 6) {
    out->mac.set = true;
    std::memcpy(out->mac.bytes, tb[IFLA_ADDRESS].data(), 6);
  }
  if (tb[IFLA_MASTER]) out->master = static_cast<int32_t>(tb[IFLA_MASTER].u32());
  if (tb[IFLA_LINK]) out->link = static_cast<int32_t>(tb[IFLA_LINK].u32());
  if (tb[IFLA_LINK_NETNSID]) {
    out->has_link_netnsid = true;
    out->link_netnsid = tb[IFLA_LINK_NETNSID].s32();
  }
  if (tb[IFLA_OPERSTATE]) out->operstate = tb[IFLA_OPERSTATE].u8();
  if (tb[IFLA_TXQLEN]) out->txqlen = tb[IFLA_TXQLEN].u32();
  if (tb[IFLA_GROUP]) out->group = tb[IFLA_GROUP].u32();
  if (tb[IFLA_IFALIAS]) out->alias = std::string(tb[IFLA_IFALIAS].str());
  if (tb[IFLA_LINKINFO]) {
    Attr li[IFLA_INFO_MAX + 1];
    static const Policy lp[IFLA_INFO_MAX + 1] = {
        {}, {Kind::String, 0, 64}, {}, {}, {Kind::String, 0, 64}, {},
    };
    if (nl::parse_nested(tb[IFLA_LINKINFO], li, IFLA_INFO_MAX, lp).ok()) {
      if (li[IFLA_INFO_KIND]) out->kind = std::string(li[IFLA_INFO_KIND].str());
      if (li[IFLA_INFO_SLAVE_KIND]) out->slave_kind = std::string(li[IFLA_INFO_SLAVE_KIND].str());
    }
  }
  return true;
}

bool decode_addr(const nlmsghdr* h, AddrInfo* out) {
  if (h->nlmsg_type != RTM_NEWADDR && h->nlmsg_type != RTM_DELADDR) return false;
  Attr tb[IFA_MAX + 1];
  static const Policy p[IFA_MAX + 1] = {
      {}, {Kind::Binary, 4, 16}, {Kind::Binary, 4, 16}, {Kind::String, 0, IFNAMSIZ - 1},
      {Kind::Binary, 4, 16}, {}, {Kind::Binary, 16, 0}, {}, kU32,
  };
  if (!nl::parse_msg(h, sizeof(ifaddrmsg), tb, IFA_MAX, p).ok()) return false;
  ifaddrmsg ifa;
  std::memcpy(&ifa, reinterpret_cast<const uint8_t*>(h) + nl::kHdrLen, sizeof ifa);
  *out = AddrInfo{};
  out->family = ifa.ifa_family;
  out->ifindex = static_cast<int32_t>(ifa.ifa_index);
  out->prefixlen = ifa.ifa_prefixlen;
  out->scope = ifa.ifa_scope;
  out->flags = tb[IFA_FLAGS] ? tb[IFA_FLAGS].u32() : ifa.ifa_flags;
  if (ifa.ifa_family != AF_INET && ifa.ifa_family != AF_INET6) return false;
  get_addr(tb[IFA_ADDRESS], ifa.ifa_family, &out->address);
  if (!get_addr(tb[IFA_LOCAL], ifa.ifa_family, &out->local)) out->local = out->address;
  get_addr(tb[IFA_BROADCAST], ifa.ifa_family, &out->broadcast);
  if (tb[IFA_LABEL]) out->label = std::string(tb[IFA_LABEL].str());
  if (tb[IFA_CACHEINFO]) {
    ifa_cacheinfo ci;
    std::memcpy(&ci, tb[IFA_CACHEINFO].data(), sizeof ci);
    out->valid_lft = ci.ifa_valid;
    out->preferred_lft = ci.ifa_prefered;
  }
  return true;
}

bool decode_mcast(const nlmsghdr* h, McastInfo* out) {
  // Dumps answer RTM_GETMULTICAST; Linux 6.13 notifies changes as
  // RTM_NEWMULTICAST (56), which the same decoder reads.
  if (h->nlmsg_type != RTM_GETMULTICAST && h->nlmsg_type != 56) return false;
  Attr tb[IFA_MAX + 1];
  static const nl::Policies<IFA_MAX> p{{IFA_MULTICAST, {Kind::Binary, 4, 16}}};
  if (!nl::parse_msg(h, sizeof(ifaddrmsg), tb, IFA_MAX, p.p).ok()) return false;
  ifaddrmsg ifa;
  std::memcpy(&ifa, reinterpret_cast<const uint8_t*>(h) + nl::kHdrLen, sizeof ifa);
  if (ifa.ifa_family != AF_INET && ifa.ifa_family != AF_INET6) return false;
  *out = McastInfo{};
  out->ifindex = static_cast<int32_t>(ifa.ifa_index);
  get_addr(tb[IFA_MULTICAST], ifa.ifa_family, &out->group);
  return static_cast<bool>(out->group);
}

IpAddr solicited_node(const IpAddr& a) {
  IpAddr g;
  g.family = AF_INET6;
  const uint8_t prefix[13] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff};
  std::memcpy(g.bytes, prefix, sizeof prefix);
  std::memcpy(g.bytes + 13, a.bytes + 13, 3);
  return g;
}

bool decode_route(const nlmsghdr* h, RouteInfo* out) {
  if (h->nlmsg_type != RTM_NEWROUTE && h->nlmsg_type != RTM_DELROUTE) return false;
  Attr tb[RTA_MAX + 1];
  static const nl::Policies<RTA_MAX> p{
      {RTA_OIF, kU32}, {RTA_IIF, kU32}, {RTA_PRIORITY, kU32}, {RTA_TABLE, kU32}, {RTA_METRICS, kNested}, {RTA_PREF, kU8}};
  if (!nl::parse_msg(h, sizeof(rtmsg), tb, RTA_MAX, p.p).ok()) return false;
  rtmsg rt;
  std::memcpy(&rt, reinterpret_cast<const uint8_t*>(h) + nl::kHdrLen, sizeof rt);
  if (rt.rtm_family != AF_INET && rt.rtm_family != AF_INET6) return false;
  *out = RouteInfo{};
  out->family = rt.rtm_family;
  out->dst_len = rt.rtm_dst_len;
  out->src_len = rt.rtm_src_len;
  out->scope = rt.rtm_scope;
  out->protocol = rt.rtm_protocol;
  out->type = rt.rtm_type;
  out->flags = rt.rtm_flags;
  out->table = tb[RTA_TABLE] ? tb[RTA_TABLE].u32() : rt.rtm_table;
  get_addr(tb[RTA_DST], rt.rtm_family, &out->dst);
  get_addr(tb[RTA_SRC], rt.rtm_family, &out->src);
  get_addr(tb[RTA_GATEWAY], rt.rtm_family, &out->gateway);
  get_addr(tb[RTA_PREFSRC], rt.rtm_family, &out->prefsrc);
  if (tb[RTA_OIF]) out->oif = static_cast<int32_t>(tb[RTA_OIF].u32());
  if (tb[RTA_IIF]) out->iif = static_cast<int32_t>(tb[RTA_IIF].u32());
  if (tb[RTA_PRIORITY]) {
    out->has_metric = true;
    out->metric = tb[RTA_PRIORITY].u32();
  }
  if (tb[RTA_PREF]) out->pref = tb[RTA_PREF].u8();
  if (tb[RTA_METRICS]) {
    out->metrics.assign(reinterpret_cast<const char*>(tb[RTA_METRICS].data()), tb[RTA_METRICS].len());
    Attr mx[RTAX_MAX + 1];
    static const Policy* mp = [] {
      static Policy q[RTAX_MAX + 1];
      q[RTAX_MTU] = kU32;
      return q;
    }();
    if (nl::parse_nested(tb[RTA_METRICS], mx, RTAX_MAX, mp).ok() && mx[RTAX_MTU]) out->mtu = mx[RTAX_MTU].u32();
  }
  return true;
}

bool decode_neigh(const nlmsghdr* h, NeighInfo* out) {
  ndmsg nd;
  if (!neigh_header(h, &nd) || (nd.ndm_family != AF_INET && nd.ndm_family != AF_INET6)) return false;
  Attr tb[NDA_MAX + 1];
  static const nl::Policies<NDA_MAX> p{{NDA_DST, {Kind::Binary, 4, 16}}, {NDA_LLADDR, {Kind::Binary, 0, 32}}};
  if (!nl::parse_msg(h, sizeof(ndmsg), tb, NDA_MAX, p.p).ok()) return false;
  *out = NeighInfo{};
  out->family = nd.ndm_family;
  out->ifindex = nd.ndm_ifindex;
  out->state = nd.ndm_state;
  out->flags = nd.ndm_flags;
  out->type = nd.ndm_type;
  if (!get_addr(tb[NDA_DST], nd.ndm_family, &out->dst)) return false;
  if (tb[NDA_LLADDR] && tb[NDA_LLADDR].len() == 6) {
    out->lladdr.set = true;
    std::memcpy(out->lladdr.bytes, tb[NDA_LLADDR].data(), 6);
  }
  return true;
}

bool encode_rule_dump(Builder& b, uint32_t seq, uint8_t family) {
  auto* frh = b.begin_with<fib_rule_hdr>(RTM_GETRULE, NLM_F_REQUEST | NLM_F_DUMP, seq);
  if (!frh) return false;
  frh->family = family;
  return b.finish();
}

bool encode_raw(Builder& b, uint16_t type, uint32_t seq, uint16_t flags, const uint8_t* body, size_t len) {
  b.begin(type, flags, seq);
  void* p = b.put_extra(len);
  if (p && len) std::memcpy(p, body, len);
  return b.finish();
}

bool decode_rule(const nlmsghdr* h, RuleInfo* out) {
  if (h->nlmsg_type != RTM_NEWRULE && h->nlmsg_type != RTM_DELRULE) return false;
  if (h->nlmsg_len < nl::kHdrLen + sizeof(fib_rule_hdr)) return false;
  fib_rule_hdr frh;
  std::memcpy(&frh, reinterpret_cast<const uint8_t*>(h) + nl::kHdrLen, sizeof frh);
  Attr tb[FRA_MAX + 1];
  static const Policies<FRA_MAX> p{{FRA_PRIORITY, {Kind::U32}}, {FRA_TABLE, {Kind::U32}}};
  if (!nl::parse_msg(h, sizeof frh, tb, FRA_MAX, p.p).ok()) return false;
  *out = RuleInfo{};
  out->family = frh.family;
  out->action = frh.action;
  out->table = tb[FRA_TABLE] ? tb[FRA_TABLE].u32() : frh.table;
  if (tb[FRA_PRIORITY]) out->priority = tb[FRA_PRIORITY].u32();
  const uint8_t* body = reinterpret_cast<const uint8_t*>(h) + nl::kHdrLen;
  out->body.assign(body, body + (h->nlmsg_len - nl::kHdrLen));
  return true;
}

bool decode_fdb(const nlmsghdr* h, FdbInfo* out) {
  ndmsg nd;
  if (!neigh_header(h, &nd) || nd.ndm_family != AF_BRIDGE) return false;
  Attr tb[NDA_MAX + 1];
  static const nl::Policies<NDA_MAX> p{{NDA_DST, {Kind::Binary, 4, 16}}, {NDA_LLADDR, {Kind::Binary, 6, 6}},
                                       {NDA_MASTER, kU32}, {NDA_VNI, kU32}, {NDA_VLAN, {Kind::U16}}};
  if (!nl::parse_msg(h, sizeof(ndmsg), tb, NDA_MAX, p.p).ok() || !tb[NDA_LLADDR]) return false;
  *out = FdbInfo{};
  out->ifindex = nd.ndm_ifindex;
  out->state = nd.ndm_state;
  out->flags = nd.ndm_flags;
  out->lladdr.set = true;
  std::memcpy(out->lladdr.bytes, tb[NDA_LLADDR].data(), 6);
  // A remote's family is its length: the entry's own family is AF_BRIDGE.
  if (tb[NDA_DST] && (tb[NDA_DST].len() == 4 || tb[NDA_DST].len() == 16)) get_addr(tb[NDA_DST], tb[NDA_DST].len() == 16 ? AF_INET6 : AF_INET, &out->dst);
  if (tb[NDA_MASTER]) out->master = static_cast<int32_t>(tb[NDA_MASTER].u32());
  if (tb[NDA_VNI]) out->vni = tb[NDA_VNI].u32();
  if (tb[NDA_VLAN]) out->vlan = tb[NDA_VLAN].u16();
  return true;
}

}  // namespace nsnet::rtnl
