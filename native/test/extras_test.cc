// Unit tests for nl/extras.h: the dumps and requests a pool's reset uses for
// what a tenant can leave beyond links, addresses, routes, rules and
// neighbours (link settings, qdiscs, nexthops, address labels, IPsec, ipset,
// MPTCP, TCP metrics). Each encoder's bytes are read back field by field;
// each decoder reads a message built as the kernel sends one, and refuses
// one of another kind.
#include "extras.h"

#include <linux/genetlink.h>
#include <linux/if_addrlabel.h>
#include <linux/if_link.h>
#include <linux/ipsec.h>
#include <linux/mptcp.h>
#include <linux/netfilter/ipset/ip_set.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/nexthop.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/tcp_metrics.h>
#include <linux/xfrm.h>
#include <sys/socket.h>

#include <cstring>
#include <string>

#include "harness.h"
#include "nl.h"
#include "nlbuf.h"

namespace nl = nsnet::nl;
namespace rtnl = nsnet::rtnl;
using nl::Attr;
using nl::Builder;

namespace {

using nsnet::test::Buf;
using nsnet::test::family_header;

constexpr uint16_t kDump = NLM_F_REQUEST | NLM_F_DUMP;
constexpr uint16_t kAck = NLM_F_REQUEST | NLM_F_ACK;

}  // namespace

TEST(a_links_broadcast_address_mode_and_xdp_are_read_and_the_first_two_put_back) {
  Buf m;
  Builder b(m.b, sizeof m.b);
  auto* ifi = b.begin_with<ifinfomsg>(RTM_NEWLINK, 0, 1);
  ifi->ifi_index = 2;
  const uint8_t bc[6] = {2, 0, 0, 0, 0, 0x99};
  b.put(IFLA_BROADCAST, bc, 6);
  b.put_u8(IFLA_LINKMODE, 1);  // IF_LINK_MODE_DORMANT
  const size_t xdp = b.nest_start(IFLA_XDP);
  b.put_u8(IFLA_XDP_ATTACHED, XDP_ATTACHED_SKB);
  b.nest_end(xdp);
  CHECK(b.finish());
  rtnl::LinkExtra l;
  CHECK(rtnl::decode_link_extra(m.hdr(), &l));
  CHECK(l.ifindex == 2 && l.broadcast.set && l.broadcast.bytes[5] == 0x99 && l.linkmode == 1 && l.xdp == XDP_ATTACHED_SKB);

  Buf s;
  Builder bs(s.b, sizeof s.b);
  CHECK(rtnl::encode_link_extra(bs, 2, l));
  CHECK_EQ(s.hdr()->nlmsg_type, uint16_t{RTM_NEWLINK});
  CHECK_EQ(s.hdr()->nlmsg_flags, kAck);
  CHECK_EQ(family_header<ifinfomsg>(s.hdr()).ifi_index, 2);
  CHECK_EQ(family_header<ifinfomsg>(s.hdr()).ifi_change, 0u);  // no flag changes
  Attr tb[IFLA_MAX + 1];
  CHECK(nl::parse_msg(s.hdr(), sizeof(ifinfomsg), tb, IFLA_MAX, nullptr).ok());
  CHECK(tb[IFLA_BROADCAST] && tb[IFLA_BROADCAST].len() == 6 && std::memcmp(tb[IFLA_BROADCAST].data(), bc, 6) == 0);
  CHECK(tb[IFLA_LINKMODE] && tb[IFLA_LINKMODE].u8() == 1);
  CHECK(!tb[IFLA_XDP]);  // an XDP program is refused, never detached here

  // A link without those attributes: no broadcast, mode unknown, and so nothing sent for them.
  Buf n;
  Builder bn(n.b, sizeof n.b);
  bn.begin_with<ifinfomsg>(RTM_NEWLINK, 0, 1)->ifi_index = 3;
  CHECK(bn.finish());
  CHECK(rtnl::decode_link_extra(n.hdr(), &l));
  CHECK(l.ifindex == 3 && !l.broadcast.set && l.linkmode == -1 && l.xdp == 0);
  Buf e;
  Builder be(e.b, sizeof e.b);
  CHECK(rtnl::encode_link_extra(be, 3, l));
  CHECK_EQ(e.hdr()->nlmsg_len, uint32_t(nl::kHdrLen + sizeof(ifinfomsg)));
  // An XDP nest it cannot read (here: no IFLA_XDP_ATTACHED) counts as a program attached.
  Buf u;
  Builder bu(u.b, sizeof u.b);
  bu.begin_with<ifinfomsg>(RTM_NEWLINK, 0, 1)->ifi_index = 4;
  const size_t nest = bu.nest_start(IFLA_XDP);
  bu.put_u32(IFLA_XDP_PROG_ID, 7);
  bu.nest_end(nest);
  CHECK(bu.finish());
  CHECK(rtnl::decode_link_extra(u.hdr(), &l));
  CHECK(l.xdp != 0);
  m.b[4] = RTM_NEWADDR;
  CHECK(!rtnl::decode_link_extra(m.hdr(), &l));
}

TEST(qdisc_dump_and_delete_carry_a_tcmsg_and_nothing_else) {
  Buf d;
  Builder bd(d.b, sizeof d.b);
  CHECK(rtnl::encode_qdisc_dump(bd, 5));
  CHECK_EQ(d.hdr()->nlmsg_type, uint16_t{RTM_GETQDISC});
  CHECK_EQ(d.hdr()->nlmsg_flags, kDump);
  CHECK_EQ(d.hdr()->nlmsg_len, uint32_t(nl::kHdrLen + sizeof(tcmsg)));
  CHECK_EQ(family_header<tcmsg>(d.hdr()).tcm_ifindex, 0);

  Buf m;
  Builder b(m.b, sizeof m.b);
  CHECK(rtnl::encode_qdisc_del(b, 6, 3, TC_H_INGRESS));
  CHECK_EQ(m.hdr()->nlmsg_type, uint16_t{RTM_DELQDISC});
  CHECK_EQ(m.hdr()->nlmsg_flags, kAck);
  CHECK_EQ(m.hdr()->nlmsg_len, uint32_t(nl::kHdrLen + sizeof(tcmsg)));
  const tcmsg t = family_header<tcmsg>(m.hdr());
  CHECK_EQ(t.tcm_ifindex, 3);
  CHECK_EQ(t.tcm_parent, uint32_t{TC_H_INGRESS});
  // Any handle: the kernel deletes whatever sits at that parent.
  CHECK_EQ(t.tcm_handle, 0u);
}

TEST(decode_qdisc_reads_device_parent_handle_and_kind) {
  Buf m;
  Builder b(m.b, sizeof m.b);
  auto* t = b.begin_with<tcmsg>(RTM_NEWQDISC, 0, 1);
  t->tcm_ifindex = 2;
  t->tcm_handle = 0x80010000;
  t->tcm_parent = TC_H_ROOT;
  b.put_str(TCA_KIND, "tbf");
  b.put_u32(TCA_OPTIONS, 0);  // whatever the kind adds is skipped
  CHECK(b.finish());
  rtnl::QdiscInfo q;
  CHECK(rtnl::decode_qdisc(m.hdr(), &q));
  CHECK_EQ(q.ifindex, 2);
  CHECK_EQ(q.handle, 0x80010000u);
  CHECK_EQ(q.parent, uint32_t{TC_H_ROOT});
  CHECK_EQ(q.kind, std::string("tbf"));
  // A class is no qdisc; a message cut inside its tcmsg is refused.
  m.b[4] = RTM_NEWTCLASS;
  CHECK(!rtnl::decode_qdisc(m.hdr(), &q));
  m.b[4] = RTM_NEWQDISC;
  Buf s;
  std::memcpy(s.b, m.b, 16 + 8);
  reinterpret_cast<nlmsghdr*>(s.b)->nlmsg_len = 16 + 8;
  CHECK(!rtnl::decode_qdisc(s.hdr(), &q));
}

TEST(nexthop_dump_decode_and_delete_go_by_id) {
  Buf d;
  Builder bd(d.b, sizeof d.b);
  CHECK(rtnl::encode_nexthop_dump(bd, 1));
  CHECK_EQ(d.hdr()->nlmsg_type, uint16_t{RTM_GETNEXTHOP});
  CHECK_EQ(d.hdr()->nlmsg_flags, kDump);

  Buf m;
  Builder b(m.b, sizeof m.b);
  b.begin_with<nhmsg>(RTM_NEWNEXTHOP, 0, 1);
  b.put_u32(NHA_ID, 9);
  b.put_flag(NHA_BLACKHOLE);
  CHECK(b.finish());
  uint32_t id = 0;
  CHECK(rtnl::decode_nexthop(m.hdr(), &id));
  CHECK_EQ(id, 9u);
  // Without an id there is nothing to delete it by.
  Buf n;
  Builder bn(n.b, sizeof n.b);
  bn.begin_with<nhmsg>(RTM_NEWNEXTHOP, 0, 1);
  bn.put_flag(NHA_BLACKHOLE);
  CHECK(bn.finish());
  CHECK(!rtnl::decode_nexthop(n.hdr(), &id));

  Buf del;
  Builder bx(del.b, sizeof del.b);
  CHECK(rtnl::encode_nexthop_del(bx, 2, 9));
  CHECK_EQ(del.hdr()->nlmsg_type, uint16_t{RTM_DELNEXTHOP});
  CHECK_EQ(del.hdr()->nlmsg_flags, kAck);
  Attr tb[NHA_MAX + 1];
  CHECK(nl::parse_msg(del.hdr(), sizeof(nhmsg), tb, NHA_MAX, nullptr).ok());
  CHECK(tb[NHA_ID] && tb[NHA_ID].u32() == 9);
}

TEST(decode_addrlabel_keeps_the_body_to_send_back_and_refuses_what_the_kernel_would) {
  Buf d;
  Builder bd(d.b, sizeof d.b);
  CHECK(rtnl::encode_addrlabel_dump(bd, 1));
  CHECK_EQ(d.hdr()->nlmsg_type, uint16_t{RTM_GETADDRLABEL});
  CHECK_EQ(family_header<ifaddrlblmsg>(d.hdr()).ifal_family, uint8_t{AF_INET6});

  const uint8_t prefix[16] = {0x20, 0x01, 0x0d, 0xb8};
  auto label = [&](Buf& m, uint8_t prefixlen, bool with_label) {
    Builder b(m.b, sizeof m.b);
    auto* l = b.begin_with<ifaddrlblmsg>(RTM_NEWADDRLABEL, 0, 1);
    l->ifal_family = AF_INET6;
    l->ifal_prefixlen = prefixlen;
    l->ifal_index = 4;
    l->ifal_seq = 77;
    b.put(IFAL_ADDRESS, prefix, 16);
    if (with_label) b.put_u32(IFAL_LABEL, 99);
    return b.finish();
  };
  Buf m;
  CHECK(label(m, 32, true));
  rtnl::AddrLabelInfo a;
  CHECK(rtnl::decode_addrlabel(m.hdr(), &a));
  CHECK(a.prefix.family == AF_INET6 && a.prefix.bytes[1] == 0x01 && a.prefix.bytes[3] == 0xb8 && a.prefix.bytes[15] == 0);
  CHECK_EQ(a.prefixlen, uint8_t{32});
  CHECK_EQ(a.ifindex, 4u);
  CHECK_EQ(a.label, 99u);
  CHECK_EQ(a.body.size(), size_t(m.hdr()->nlmsg_len - nl::kHdrLen));
  CHECK(std::memcmp(a.body.data(), m.b + nl::kHdrLen, a.body.size()) == 0);
  // Sent back whole, as a delete.
  Buf back;
  Builder bb(back.b, sizeof back.b);
  CHECK(rtnl::encode_raw(bb, RTM_DELADDRLABEL, 3, rtnl::kChange, a.body.data(), a.body.size()));
  CHECK(std::memcmp(back.b + nl::kHdrLen, m.b + nl::kHdrLen, a.body.size()) == 0);
  Buf bad;
  CHECK(label(bad, 129, true));
  CHECK(!rtnl::decode_addrlabel(bad.hdr(), &a));
  Buf nolabel;
  CHECK(label(nolabel, 32, false));
  CHECK(!rtnl::decode_addrlabel(nolabel.hdr(), &a));
}

TEST(xfrm_dumps_have_no_body_and_flushes_name_what_they_flush) {
  for (bool policies : {false, true}) {
    Buf d;
    Builder b(d.b, sizeof d.b);
    CHECK(rtnl::encode_xfrm_dump(b, 1, policies));
    CHECK_EQ(d.hdr()->nlmsg_type, uint16_t(policies ? XFRM_MSG_GETPOLICY : XFRM_MSG_GETSA));
    CHECK_EQ(d.hdr()->nlmsg_flags, kDump);
    CHECK_EQ(d.hdr()->nlmsg_len, uint32_t(nl::kHdrLen));
  }
  Buf sa;
  Builder bs(sa.b, sizeof sa.b);
  CHECK(rtnl::encode_xfrm_flush(bs, 2, rtnl::XfrmFlush::States));
  CHECK_EQ(sa.hdr()->nlmsg_type, uint16_t{XFRM_MSG_FLUSHSA});
  CHECK_EQ(sa.hdr()->nlmsg_flags, kAck);
  CHECK_EQ(family_header<xfrm_usersa_flush>(sa.hdr()).proto, uint8_t{IPSEC_PROTO_ANY});
  Buf main;
  Builder bm(main.b, sizeof main.b);
  CHECK(rtnl::encode_xfrm_flush(bm, 3, rtnl::XfrmFlush::Policies));
  CHECK_EQ(main.hdr()->nlmsg_type, uint16_t{XFRM_MSG_FLUSHPOLICY});
  CHECK_EQ(main.hdr()->nlmsg_len, uint32_t(nl::kHdrLen));  // the kernel's default: main policies
  Buf sub;
  Builder bu(sub.b, sizeof sub.b);
  CHECK(rtnl::encode_xfrm_flush(bu, 4, rtnl::XfrmFlush::SubPolicies));
  Attr tb[XFRMA_MAX + 1];
  CHECK(nl::parse_msg(sub.hdr(), 0, tb, XFRMA_MAX, nullptr).ok());
  CHECK(tb[XFRMA_POLICY_TYPE] && tb[XFRMA_POLICY_TYPE].len() == sizeof(xfrm_userpolicy_type));
  CHECK_EQ(tb[XFRMA_POLICY_TYPE].u8(), uint8_t{XFRM_POLICY_TYPE_SUB});

  // Default policies: asked with an empty struct, read from the answer, set with the values.
  Buf gd;
  Builder bg(gd.b, sizeof gd.b);
  CHECK(rtnl::encode_xfrm_getdefault(bg, 5));
  CHECK_EQ(gd.hdr()->nlmsg_type, uint16_t{XFRM_MSG_GETDEFAULT});
  CHECK_EQ(gd.hdr()->nlmsg_len, uint32_t(nl::kHdrLen + nl::align4(sizeof(xfrm_userpolicy_default))));
  Buf sd;
  Builder bsd(sd.b, sizeof sd.b);
  CHECK(rtnl::encode_xfrm_setdefault(bsd, 6, {XFRM_USERPOLICY_ACCEPT, XFRM_USERPOLICY_BLOCK, XFRM_USERPOLICY_ACCEPT}));
  CHECK_EQ(sd.hdr()->nlmsg_type, uint16_t{XFRM_MSG_SETDEFAULT});
  const auto d = family_header<xfrm_userpolicy_default>(sd.hdr());
  CHECK(d.in == XFRM_USERPOLICY_ACCEPT && d.fwd == XFRM_USERPOLICY_BLOCK && d.out == XFRM_USERPOLICY_ACCEPT);
  sd.b[4] = XFRM_MSG_GETDEFAULT;  // as the kernel answers
  rtnl::XfrmDefaults back;
  CHECK(rtnl::decode_xfrm_defaults(sd.hdr(), &back));
  CHECK(back.in == XFRM_USERPOLICY_ACCEPT && back.fwd == XFRM_USERPOLICY_BLOCK && back.out == XFRM_USERPOLICY_ACCEPT);
  CHECK(!rtnl::decode_xfrm_defaults(main.hdr(), &back));

  nlmsghdr h{};
  h.nlmsg_len = sizeof h;
  rtnl::XfrmEntry e;
  h.nlmsg_type = XFRM_MSG_NEWSA;
  CHECK(rtnl::decode_xfrm(&h, &e) && !e.policy);
  h.nlmsg_type = XFRM_MSG_NEWPOLICY;
  CHECK(rtnl::decode_xfrm(&h, &e) && e.policy);
  h.nlmsg_type = XFRM_MSG_NEWAE;
  CHECK(!rtnl::decode_xfrm(&h, &e));
}

TEST(ipset_requests_speak_the_protocol_and_a_destroy_without_a_name_takes_every_set) {
  Buf l;
  Builder bl(l.b, sizeof l.b);
  CHECK(rtnl::encode_ipset_list(bl, 1));
  CHECK_EQ(l.hdr()->nlmsg_type, uint16_t((NFNL_SUBSYS_IPSET << 8) | IPSET_CMD_LIST));
  CHECK_EQ(l.hdr()->nlmsg_flags, kDump);
  Attr tb[IPSET_ATTR_CMD_MAX + 1];
  CHECK(nl::parse_msg(l.hdr(), sizeof(nfgenmsg), tb, IPSET_ATTR_CMD_MAX, nullptr).ok());
  // The oldest protocol kernels still take; names only, flags in network order.
  CHECK(tb[IPSET_ATTR_PROTOCOL] && tb[IPSET_ATTR_PROTOCOL].u8() == 6);
  CHECK(tb[IPSET_ATTR_FLAGS] && tb[IPSET_ATTR_FLAGS].be32() == IPSET_FLAG_LIST_SETNAME);

  Buf d;
  Builder bd(d.b, sizeof d.b);
  CHECK(rtnl::encode_ipset_destroy_all(bd, 2));
  CHECK_EQ(d.hdr()->nlmsg_type, uint16_t((NFNL_SUBSYS_IPSET << 8) | IPSET_CMD_DESTROY));
  CHECK_EQ(d.hdr()->nlmsg_flags, kAck);
  CHECK(nl::parse_msg(d.hdr(), sizeof(nfgenmsg), tb, IPSET_ATTR_CMD_MAX, nullptr).ok());
  CHECK(tb[IPSET_ATTR_PROTOCOL] && !tb[IPSET_ATTR_SETNAME]);
  Buf one;
  Builder bo(one.b, sizeof one.b);
  CHECK(rtnl::encode_ipset_destroy(bo, 3, "t1"));
  CHECK(nl::parse_msg(one.hdr(), sizeof(nfgenmsg), tb, IPSET_ATTR_CMD_MAX, nullptr).ok());
  CHECK(tb[IPSET_ATTR_SETNAME] && tb[IPSET_ATTR_SETNAME].str() == "t1");

  // A set as a list dump describes it; another message of the subsystem is none.
  Buf s;
  Builder bs(s.b, sizeof s.b);
  bs.begin_with<nfgenmsg>((NFNL_SUBSYS_IPSET << 8) | IPSET_CMD_LIST, NLM_F_MULTI, 1);
  bs.put_u8(IPSET_ATTR_PROTOCOL, IPSET_PROTOCOL);
  bs.put_str(IPSET_ATTR_SETNAME, "t1");
  bs.put_str(IPSET_ATTR_TYPENAME, "hash:ip");
  CHECK(bs.finish());
  std::string name;
  CHECK(rtnl::decode_ipset(s.hdr(), &name));
  CHECK_EQ(name, std::string("t1"));
  s.b[4] = IPSET_CMD_DESTROY;
  CHECK(!rtnl::decode_ipset(s.hdr(), &name));
}

TEST(a_generic_netlink_family_is_asked_for_by_name_and_its_id_read_from_the_answer) {
  Buf q;
  Builder b(q.b, sizeof q.b);
  CHECK(rtnl::encode_genl_family(b, 1, MPTCP_PM_NAME));
  CHECK_EQ(q.hdr()->nlmsg_type, uint16_t{GENL_ID_CTRL});
  CHECK_EQ(family_header<genlmsghdr>(q.hdr()).cmd, uint8_t{CTRL_CMD_GETFAMILY});
  Attr tb[CTRL_ATTR_MAX + 1];
  CHECK(nl::parse_msg(q.hdr(), sizeof(genlmsghdr), tb, CTRL_ATTR_MAX, nullptr).ok());
  CHECK(tb[CTRL_ATTR_FAMILY_NAME] && tb[CTRL_ATTR_FAMILY_NAME].str() == MPTCP_PM_NAME);

  Buf a;
  Builder ba(a.b, sizeof a.b);
  ba.begin_with<genlmsghdr>(GENL_ID_CTRL, 0, 1)->cmd = CTRL_CMD_NEWFAMILY;
  ba.put_str(CTRL_ATTR_FAMILY_NAME, MPTCP_PM_NAME);
  ba.put_u16(CTRL_ATTR_FAMILY_ID, 31);
  CHECK(ba.finish());
  uint16_t id = 0;
  CHECK(rtnl::decode_genl_family(a.hdr(), &id));
  CHECK_EQ(id, uint16_t{31});
  // The same attributes under another command are no answer.
  a.b[nl::kHdrLen] = CTRL_CMD_GETFAMILY;
  id = 0;
  CHECK(!rtnl::decode_genl_family(a.hdr(), &id));
}

TEST(mptcp_requests_carry_the_family_and_command_and_its_answers_decode_only_for_that_family) {
  constexpr uint16_t fam = 31;
  Buf d;
  Builder bd(d.b, sizeof d.b);
  CHECK(rtnl::encode_mptcp(bd, 1, fam, MPTCP_PM_CMD_GET_ADDR));
  CHECK_EQ(d.hdr()->nlmsg_type, fam);
  CHECK_EQ(d.hdr()->nlmsg_flags, kDump);
  CHECK_EQ(family_header<genlmsghdr>(d.hdr()).cmd, uint8_t{MPTCP_PM_CMD_GET_ADDR});
  CHECK_EQ(family_header<genlmsghdr>(d.hdr()).version, uint8_t{MPTCP_PM_VER});
  Buf f;
  Builder bf(f.b, sizeof f.b);
  CHECK(rtnl::encode_mptcp(bf, 2, fam, MPTCP_PM_CMD_FLUSH_ADDRS));
  CHECK_EQ(f.hdr()->nlmsg_flags, kAck);

  Buf s;
  Builder bs(s.b, sizeof s.b);
  CHECK(rtnl::encode_mptcp_set_limits(bs, 3, fam, {3, 5}));
  CHECK_EQ(family_header<genlmsghdr>(s.hdr()).cmd, uint8_t{MPTCP_PM_CMD_SET_LIMITS});
  // SET_LIMITS' own attributes are what GET_LIMITS answers with.
  s.b[nl::kHdrLen] = MPTCP_PM_CMD_GET_LIMITS;
  rtnl::MptcpLimits l;
  CHECK(rtnl::decode_mptcp_limits(s.hdr(), fam, &l));
  CHECK(l.add_addr_accepted == 3 && l.subflows == 5);
  CHECK(!rtnl::decode_mptcp_limits(s.hdr(), fam + 1, &l));

  Buf e;
  Builder be(e.b, sizeof e.b);
  be.begin_with<genlmsghdr>(fam, NLM_F_MULTI, 1)->cmd = MPTCP_PM_CMD_GET_ADDR;
  const size_t addr = be.nest_start(MPTCP_PM_ATTR_ADDR);
  be.put_u16(MPTCP_PM_ADDR_ATTR_FAMILY, AF_INET);
  be.put_u8(MPTCP_PM_ADDR_ATTR_ID, 4);
  be.nest_end(addr);
  CHECK(be.finish());
  uint8_t id = 0;
  CHECK(rtnl::decode_mptcp_endpoint(e.hdr(), fam, &id));
  CHECK_EQ(id, uint8_t{4});
  // Family 0 is no family: where the kernel has no MPTCP, not even a message of type 0 decodes as one.
  reinterpret_cast<nlmsghdr*>(e.b)->nlmsg_type = 0;
  CHECK(!rtnl::decode_mptcp_endpoint(e.hdr(), 0, &id));
  CHECK(!rtnl::is_genl(e.hdr(), 0, MPTCP_PM_CMD_GET_ADDR));
}

TEST(a_genetlink_command_is_a_dump_or_an_acked_request_and_tcp_metrics_flushes_with_a_bare_delete) {
  constexpr uint16_t fam = 27;
  Buf d;
  Builder bd(d.b, sizeof d.b);
  CHECK(rtnl::encode_genl(bd, 1, fam, TCP_METRICS_CMD_GET, TCP_METRICS_GENL_VERSION, true));
  CHECK_EQ(d.hdr()->nlmsg_flags, kDump);
  CHECK(rtnl::is_genl(d.hdr(), fam, TCP_METRICS_CMD_GET));
  CHECK(!rtnl::is_genl(d.hdr(), fam, TCP_METRICS_CMD_DEL));
  CHECK(!rtnl::is_genl(d.hdr(), fam + 1, TCP_METRICS_CMD_GET));
  Buf x;
  Builder bx(x.b, sizeof x.b);
  CHECK(rtnl::encode_genl(bx, 2, fam, TCP_METRICS_CMD_DEL, TCP_METRICS_GENL_VERSION, false));
  CHECK_EQ(x.hdr()->nlmsg_flags, kAck);
  // No address attribute: the kernel flushes every entry.
  CHECK_EQ(x.hdr()->nlmsg_len, uint32_t(nl::kHdrLen + sizeof(genlmsghdr)));
  CHECK_EQ(family_header<genlmsghdr>(x.hdr()).version, uint8_t{TCP_METRICS_GENL_VERSION});
}

int main() { return nsnet::test::run_all(); }
