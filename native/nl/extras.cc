#include "extras.h"

#include <linux/genetlink.h>
#include <linux/if_addrlabel.h>
#include <linux/if_link.h>
#include <linux/ipsec.h>
#include <linux/netfilter/ipset/ip_set.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/mptcp.h>
#include <linux/nexthop.h>
#include <linux/rtnetlink.h>
#include <linux/xfrm.h>
#include <sys/socket.h>

#include <cstring>

namespace nsnet::rtnl {

using nl::Attr;
using nl::Builder;
using nl::Kind;

namespace {

// The family header after h's netlink header, if h is long enough to hold one.
template <class T>
bool header(const nlmsghdr* h, T* out) {
  if (h->nlmsg_len < nl::kHdrLen + sizeof(T)) return false;
  std::memcpy(out, reinterpret_cast<const uint8_t*>(h) + nl::kHdrLen, sizeof(T));
  return true;
}

}  // namespace

bool decode_link_extra(const nlmsghdr* h, LinkExtra* out) {
  ifinfomsg ifi;
  if (h->nlmsg_type != RTM_NEWLINK || !header(h, &ifi)) return false;
  Attr tb[IFLA_MAX + 1], xdp[IFLA_XDP_MAX + 1];
  static const nl::Policies<IFLA_MAX> p{{IFLA_LINKMODE, nl::kU8}, {IFLA_XDP, nl::kNested}};
  static const nl::Policies<IFLA_XDP_MAX> px{{IFLA_XDP_ATTACHED, nl::kU8}};
  if (!nl::parse_msg(h, sizeof ifi, tb, IFLA_MAX, p.p).ok()) return false;
  *out = LinkExtra{};
  out->ifindex = ifi.ifi_index;
  if (tb[IFLA_BROADCAST] && tb[IFLA_BROADCAST].len() == 6) {
    out->broadcast.set = true;
    std::memcpy(out->broadcast.bytes, tb[IFLA_BROADCAST].data(), 6);
  }
  if (tb[IFLA_LINKMODE]) out->linkmode = tb[IFLA_LINKMODE].u8();
  // An XDP nest it cannot read counts as a program attached.
  if (tb[IFLA_XDP] && (!nl::parse_nested(tb[IFLA_XDP], xdp, IFLA_XDP_MAX, px.p).ok() || !xdp[IFLA_XDP_ATTACHED])) out->xdp = 0xff;
  else if (tb[IFLA_XDP]) out->xdp = xdp[IFLA_XDP_ATTACHED].u8();
  return true;
}

bool encode_link_extra(Builder& b, uint32_t seq, const LinkExtra& want) {
  auto* ifi = b.begin_with<ifinfomsg>(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq);
  if (ifi) ifi->ifi_index = want.ifindex;
  if (want.broadcast.set) b.put(IFLA_BROADCAST, want.broadcast.bytes, 6);
  if (want.linkmode >= 0) b.put_u8(IFLA_LINKMODE, static_cast<uint8_t>(want.linkmode));
  return b.finish();
}

bool encode_qdisc_dump(Builder& b, uint32_t seq) {
  auto* t = b.begin_with<tcmsg>(RTM_GETQDISC, NLM_F_REQUEST | NLM_F_DUMP, seq);
  if (t) t->tcm_family = AF_UNSPEC;
  return b.finish();
}

bool decode_qdisc(const nlmsghdr* h, QdiscInfo* out) {
  tcmsg t;
  if (h->nlmsg_type != RTM_NEWQDISC || !header(h, &t)) return false;
  Attr tb[TCA_MAX + 1];
  static const nl::Policies<TCA_MAX> p{{TCA_KIND, {Kind::String, 0, 32}}};
  if (!nl::parse_msg(h, sizeof t, tb, TCA_MAX, p.p).ok()) return false;
  *out = QdiscInfo{};
  out->ifindex = t.tcm_ifindex;
  out->handle = t.tcm_handle;
  out->parent = t.tcm_parent;
  if (tb[TCA_KIND]) out->kind = std::string(tb[TCA_KIND].str());
  return true;
}

bool encode_qdisc_del(Builder& b, uint32_t seq, int32_t ifindex, uint32_t parent) {
  auto* t = b.begin_with<tcmsg>(RTM_DELQDISC, NLM_F_REQUEST | NLM_F_ACK, seq);
  if (t) {
    t->tcm_family = AF_UNSPEC;
    t->tcm_ifindex = ifindex;
    t->tcm_parent = parent;
  }
  return b.finish();
}

bool encode_nexthop_dump(Builder& b, uint32_t seq) {
  auto* nh = b.begin_with<nhmsg>(RTM_GETNEXTHOP, NLM_F_REQUEST | NLM_F_DUMP, seq);
  if (nh) nh->nh_family = AF_UNSPEC;
  return b.finish();
}

bool decode_nexthop(const nlmsghdr* h, uint32_t* id) {
  nhmsg nh;
  if (h->nlmsg_type != RTM_NEWNEXTHOP || !header(h, &nh)) return false;
  Attr tb[NHA_MAX + 1];
  static const nl::Policies<NHA_MAX> p{{NHA_ID, nl::kU32}};
  if (!nl::parse_msg(h, sizeof nh, tb, NHA_MAX, p.p).ok() || !tb[NHA_ID]) return false;
  *id = tb[NHA_ID].u32();
  return true;
}

bool encode_nexthop_del(Builder& b, uint32_t seq, uint32_t id) {
  b.begin_with<nhmsg>(RTM_DELNEXTHOP, NLM_F_REQUEST | NLM_F_ACK, seq);
  b.put_u32(NHA_ID, id);
  return b.finish();
}

bool encode_addrlabel_dump(Builder& b, uint32_t seq) {
  auto* l = b.begin_with<ifaddrlblmsg>(RTM_GETADDRLABEL, NLM_F_REQUEST | NLM_F_DUMP, seq);
  if (l) l->ifal_family = AF_INET6;
  return b.finish();
}

bool decode_addrlabel(const nlmsghdr* h, AddrLabelInfo* out) {
  ifaddrlblmsg l;
  if (h->nlmsg_type != RTM_NEWADDRLABEL || !header(h, &l) || l.ifal_family != AF_INET6 || l.ifal_prefixlen > 128) return false;
  Attr tb[IFAL_MAX + 1];
  static const nl::Policies<IFAL_MAX> p{{IFAL_ADDRESS, {Kind::Binary, 16, 16}}, {IFAL_LABEL, nl::kU32}};
  if (!nl::parse_msg(h, sizeof l, tb, IFAL_MAX, p.p).ok() || !tb[IFAL_ADDRESS] || !tb[IFAL_LABEL]) return false;
  *out = AddrLabelInfo{};
  out->prefix.family = AF_INET6;
  std::memcpy(out->prefix.bytes, tb[IFAL_ADDRESS].data(), 16);
  out->prefixlen = l.ifal_prefixlen;
  out->ifindex = l.ifal_index;
  out->label = tb[IFAL_LABEL].u32();
  const uint8_t* body = reinterpret_cast<const uint8_t*>(h) + nl::kHdrLen;
  out->body.assign(body, body + (h->nlmsg_len - nl::kHdrLen));
  return true;
}

bool encode_xfrm_dump(Builder& b, uint32_t seq, bool policies) {
  // No body: the kernel reads a dump's optional filters as attributes from the start.
  b.begin(policies ? XFRM_MSG_GETPOLICY : XFRM_MSG_GETSA, NLM_F_REQUEST | NLM_F_DUMP, seq);
  return b.finish();
}

bool decode_xfrm(const nlmsghdr* h, XfrmEntry* out) {
  if (h->nlmsg_type != XFRM_MSG_NEWSA && h->nlmsg_type != XFRM_MSG_NEWPOLICY) return false;
  out->policy = h->nlmsg_type == XFRM_MSG_NEWPOLICY;
  return true;
}

bool encode_xfrm_getdefault(Builder& b, uint32_t seq) {
  // The kernel wants the struct, though it reads nothing of it.
  b.begin_with<xfrm_userpolicy_default>(XFRM_MSG_GETDEFAULT, NLM_F_REQUEST | NLM_F_ACK, seq);
  return b.finish();
}

bool decode_xfrm_defaults(const nlmsghdr* h, XfrmDefaults* out) {
  xfrm_userpolicy_default d;
  if (h->nlmsg_type != XFRM_MSG_GETDEFAULT || !header(h, &d)) return false;
  out->in = d.in;
  out->fwd = d.fwd;
  out->out = d.out;
  return true;
}

bool encode_xfrm_setdefault(Builder& b, uint32_t seq, const XfrmDefaults& d) {
  auto* u = b.begin_with<xfrm_userpolicy_default>(XFRM_MSG_SETDEFAULT, NLM_F_REQUEST | NLM_F_ACK, seq);
  if (u) {
    u->in = d.in;
    u->fwd = d.fwd;
    u->out = d.out;
  }
  return b.finish();
}

bool encode_xfrm_flush(Builder& b, uint32_t seq, XfrmFlush what) {
  if (what == XfrmFlush::States) {
    auto* f = b.begin_with<xfrm_usersa_flush>(XFRM_MSG_FLUSHSA, NLM_F_REQUEST | NLM_F_ACK, seq);
    if (f) f->proto = IPSEC_PROTO_ANY;  // AH, ESP and IPcomp; a dump finds any other
    return b.finish();
  }
  b.begin(XFRM_MSG_FLUSHPOLICY, NLM_F_REQUEST | NLM_F_ACK, seq);
  if (what == XfrmFlush::SubPolicies) {
    xfrm_userpolicy_type t{};
    t.type = XFRM_POLICY_TYPE_SUB;
    b.put(XFRMA_POLICY_TYPE, &t, sizeof t);
  }
  return b.finish();
}

namespace {

// Every ipset request names the protocol it speaks: the oldest a kernel
// still takes (6), which kernels that speak no later one take too.
constexpr uint8_t kIpsetProtocol = 6;

bool ipset_begin(Builder& b, uint8_t cmd, uint16_t flags, uint32_t seq) {
  auto* g = b.begin_with<nfgenmsg>((NFNL_SUBSYS_IPSET << 8) | cmd, flags, seq);
  if (g) {
    g->nfgen_family = AF_INET;
    g->version = NFNETLINK_V0;
  }
  return b.put_u8(IPSET_ATTR_PROTOCOL, kIpsetProtocol);
}

}  // namespace

bool encode_ipset_list(Builder& b, uint32_t seq) {
  ipset_begin(b, IPSET_CMD_LIST, NLM_F_REQUEST | NLM_F_DUMP, seq);
  // Names only (`ipset list -n`): a set's members could be megabytes.
  b.put_be32(IPSET_ATTR_FLAGS | NLA_F_NET_BYTEORDER, IPSET_FLAG_LIST_SETNAME);
  return b.finish();
}

bool decode_ipset(const nlmsghdr* h, std::string* name) {
  nfgenmsg g;
  if (h->nlmsg_type != ((NFNL_SUBSYS_IPSET << 8) | IPSET_CMD_LIST) || !header(h, &g)) return false;
  Attr tb[IPSET_ATTR_CMD_MAX + 1];
  static const nl::Policies<IPSET_ATTR_CMD_MAX> p{{IPSET_ATTR_SETNAME, {Kind::String, 0, IPSET_MAXNAMELEN}}};
  if (!nl::parse_msg(h, sizeof g, tb, IPSET_ATTR_CMD_MAX, p.p).ok() || !tb[IPSET_ATTR_SETNAME]) return false;
  *name = std::string(tb[IPSET_ATTR_SETNAME].str());
  return true;
}

bool encode_ipset_destroy_all(Builder& b, uint32_t seq) {
  // No IPSET_ATTR_SETNAME: every set.
  ipset_begin(b, IPSET_CMD_DESTROY, NLM_F_REQUEST | NLM_F_ACK, seq);
  return b.finish();
}

bool encode_ipset_destroy(Builder& b, uint32_t seq, std::string_view name) {
  ipset_begin(b, IPSET_CMD_DESTROY, NLM_F_REQUEST | NLM_F_ACK, seq);
  b.put_str(IPSET_ATTR_SETNAME, name);
  return b.finish();
}

namespace {

// A generic netlink message's start: the family's id and the genetlink header.
void genl_begin(Builder& b, uint16_t family, uint8_t cmd, uint8_t version, uint16_t flags, uint32_t seq) {
  if (auto* g = b.begin_with<genlmsghdr>(family, flags, seq)) {
    g->cmd = cmd;
    g->version = version;
  }
}

}  // namespace

bool encode_genl_family(Builder& b, uint32_t seq, std::string_view name) {
  genl_begin(b, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, NLM_F_REQUEST | NLM_F_ACK, seq);
  b.put_str(CTRL_ATTR_FAMILY_NAME, name);
  return b.finish();
}

bool decode_genl_family(const nlmsghdr* h, uint16_t* id) {
  genlmsghdr g;
  if (h->nlmsg_type != GENL_ID_CTRL || !header(h, &g) || g.cmd != CTRL_CMD_NEWFAMILY) return false;
  Attr tb[CTRL_ATTR_MAX + 1];
  static const nl::Policies<CTRL_ATTR_MAX> p{{CTRL_ATTR_FAMILY_ID, {Kind::U16}}};
  if (!nl::parse_msg(h, sizeof g, tb, CTRL_ATTR_MAX, p.p).ok() || !tb[CTRL_ATTR_FAMILY_ID]) return false;
  *id = tb[CTRL_ATTR_FAMILY_ID].u16();
  return true;
}

bool encode_genl(Builder& b, uint32_t seq, uint16_t family, uint8_t cmd, uint8_t version, bool dump) {
  genl_begin(b, family, cmd, version, dump ? NLM_F_REQUEST | NLM_F_DUMP : NLM_F_REQUEST | NLM_F_ACK, seq);
  return b.finish();
}

bool is_genl(const nlmsghdr* h, uint16_t family, uint8_t cmd) {
  genlmsghdr g;
  return family >= NLMSG_MIN_TYPE && h->nlmsg_type == family && header(h, &g) && g.cmd == cmd;
}

bool encode_mptcp(Builder& b, uint32_t seq, uint16_t family, uint8_t cmd) {
  return encode_genl(b, seq, family, cmd, MPTCP_PM_VER, cmd == MPTCP_PM_CMD_GET_ADDR);
}

bool decode_mptcp_endpoint(const nlmsghdr* h, uint16_t family, uint8_t* id) {
  if (!is_genl(h, family, MPTCP_PM_CMD_GET_ADDR)) return false;
  Attr tb[MPTCP_PM_ATTR_MAX + 1], addr[MPTCP_PM_ADDR_ATTR_MAX + 1];
  static const nl::Policies<MPTCP_PM_ATTR_MAX> p{{MPTCP_PM_ATTR_ADDR, nl::kNested}};
  static const nl::Policies<MPTCP_PM_ADDR_ATTR_MAX> pa{{MPTCP_PM_ADDR_ATTR_ID, nl::kU8}};
  if (!nl::parse_msg(h, sizeof(genlmsghdr), tb, MPTCP_PM_ATTR_MAX, p.p).ok() || !tb[MPTCP_PM_ATTR_ADDR]) return false;
  if (!nl::parse_nested(tb[MPTCP_PM_ATTR_ADDR], addr, MPTCP_PM_ADDR_ATTR_MAX, pa.p).ok() || !addr[MPTCP_PM_ADDR_ATTR_ID]) return false;
  *id = addr[MPTCP_PM_ADDR_ATTR_ID].u8();
  return true;
}

bool decode_mptcp_limits(const nlmsghdr* h, uint16_t family, MptcpLimits* out) {
  if (!is_genl(h, family, MPTCP_PM_CMD_GET_LIMITS)) return false;
  Attr tb[MPTCP_PM_ATTR_MAX + 1];
  static const nl::Policies<MPTCP_PM_ATTR_MAX> p{{MPTCP_PM_ATTR_RCV_ADD_ADDRS, nl::kU32}, {MPTCP_PM_ATTR_SUBFLOWS, nl::kU32}};
  if (!nl::parse_msg(h, sizeof(genlmsghdr), tb, MPTCP_PM_ATTR_MAX, p.p).ok()) return false;
  if (!tb[MPTCP_PM_ATTR_RCV_ADD_ADDRS] || !tb[MPTCP_PM_ATTR_SUBFLOWS]) return false;
  out->add_addr_accepted = tb[MPTCP_PM_ATTR_RCV_ADD_ADDRS].u32();
  out->subflows = tb[MPTCP_PM_ATTR_SUBFLOWS].u32();
  return true;
}

bool encode_mptcp_set_limits(Builder& b, uint32_t seq, uint16_t family, const MptcpLimits& l) {
  genl_begin(b, family, MPTCP_PM_CMD_SET_LIMITS, MPTCP_PM_VER, NLM_F_REQUEST | NLM_F_ACK, seq);
  b.put_u32(MPTCP_PM_ATTR_RCV_ADD_ADDRS, l.add_addr_accepted);
  b.put_u32(MPTCP_PM_ATTR_SUBFLOWS, l.subflows);
  return b.finish();
}

}  // namespace nsnet::rtnl
