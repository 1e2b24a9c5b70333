// Writes the seed corpus for fuzz_codec: a few realistic datagrams as the
// kernel would send them (ACKs, extended-ACK errors, link/address/route dump
// parts). Usage: make_seeds DIR. The files in native/fuzz/corpus/codec/ came from
// this program; rerun it (target fuzz_seeds) after changing it.

#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netfilter.h>
#include <linux/netlink.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "nft.h"
#include "nl.h"
#include "rtnl.h"

namespace nl = nsnet::nl;
namespace rtnl = nsnet::rtnl;

namespace {

alignas(8) uint8_t g_buf[4096];

bool write_seed(const std::string& dir, const char* name, size_t len) {
  const std::string path = dir + "/" + name;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return false;
  const bool ok = std::fwrite(g_buf, 1, len, f) == len;
  return std::fclose(f) == 0 && ok;
}

rtnl::LinkSpec veth() {
  rtnl::LinkSpec s;
  s.name = "veth0";
  s.kind = "veth";
  s.peer_name = "eth0";
  s.peer_netns_fd = 7;
  s.mtu = 1500;
  return s;
}

void put_error_header(nl::Builder& b, int error, uint16_t req_type, uint32_t seq, uint32_t req_len) {
  auto* e = b.put_extra<nlmsgerr>();
  if (!e) return;
  e->error = error;
  e->msg.nlmsg_len = req_len;
  e->msg.nlmsg_type = req_type;
  e->msg.nlmsg_flags = rtnl::kCreate;
  e->msg.nlmsg_seq = seq;
}

size_t ack() {
  nl::Builder b(g_buf, sizeof g_buf);
  b.begin(NLMSG_ERROR, NLM_F_CAPPED, 1, 4242);
  put_error_header(b, 0, RTM_NEWLINK, 1, 64);
  return b.size();
}

size_t error_capped() {
  nl::Builder b(g_buf, sizeof g_buf);
  b.begin(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, 2, 4242);
  put_error_header(b, -EEXIST, RTM_NEWLINK, 2, 64);
  b.put_str(NLMSGERR_ATTR_MSG, "Object already exists");
  b.put_u32(NLMSGERR_ATTR_OFFS, 36);
  b.put_u32(NLMSGERR_ATTR_MISS_TYPE, IFLA_IFNAME);
  return b.size();
}

size_t error_uncapped() {
  alignas(8) uint8_t req[512];
  nl::Builder rb(req, sizeof req);
  rtnl::encode_link_new(rb, 3, rtnl::kCreate, veth());
  const size_t req_len = rb.size();
  nl::Builder b(g_buf, sizeof g_buf);
  b.begin(NLMSG_ERROR, NLM_F_ACK_TLVS, 3, 4242);
  const int err = -EINVAL;
  std::memcpy(b.put_extra(sizeof err), &err, sizeof err);
  std::memcpy(b.put_extra(req_len), req, req_len);
  b.put_str(NLMSGERR_ATTR_MSG, "Invalid peer");
  b.put_u32(NLMSGERR_ATTR_OFFS, 52);
  return b.size();
}

void link_message(nl::Builder& b, int32_t index, const char* name, const char* kind) {
  b.begin(RTM_NEWLINK, NLM_F_MULTI, 4, 4242);
  auto* ifi = b.put_extra<ifinfomsg>();
  if (ifi) {
    ifi->ifi_type = 1;
    ifi->ifi_index = index;
    ifi->ifi_flags = IFF_UP | IFF_BROADCAST | IFF_RUNNING | IFF_LOWER_UP;
  }
  b.put_str(IFLA_IFNAME, name);
  b.put_u32(IFLA_TXQLEN, 1000);
  b.put_u8(IFLA_OPERSTATE, IF_OPER_UP);
  b.put_u32(IFLA_MTU, 1500);
  const uint8_t mac[6] = {0x02, 0x42, 0xac, 0x11, 0, static_cast<uint8_t>(index)};
  b.put(IFLA_ADDRESS, mac, 6);
  b.put_u32(IFLA_MASTER, 3);
  b.put_u32(IFLA_LINK, static_cast<uint32_t>(index + 1));
  b.put_s32(IFLA_LINK_NETNSID, 0);
  const size_t info = b.nest_start(IFLA_LINKINFO);
  b.put_str(IFLA_INFO_KIND, kind);
  b.put_str(IFLA_INFO_SLAVE_KIND, "bridge");
  b.nest_end(info);
  b.put_str(IFLA_IFALIAS, "nsnet 0123456789abcdef 5");
}

size_t link_dump() {
  nl::Builder b(g_buf, sizeof g_buf);
  link_message(b, 5, "veth5", "veth");
  link_message(b, 6, "br0", "bridge");
  b.begin(NLMSG_DONE, NLM_F_MULTI, 4, 4242);
  const int zero = 0;
  std::memcpy(b.put_extra(sizeof zero), &zero, sizeof zero);
  return b.size();
}

size_t addr_dump() {
  nl::Builder b(g_buf, sizeof g_buf);
  b.begin(RTM_NEWADDR, NLM_F_MULTI, 5, 4242);
  auto* ifa = b.put_extra<ifaddrmsg>();
  ifa->ifa_family = AF_INET;
  ifa->ifa_prefixlen = 24;
  ifa->ifa_flags = IFA_F_PERMANENT;
  ifa->ifa_index = 5;
  const uint8_t local[4] = {10, 0, 0, 1}, brd[4] = {10, 0, 0, 255};
  b.put(IFA_ADDRESS, local, 4);
  b.put(IFA_LOCAL, local, 4);
  b.put(IFA_BROADCAST, brd, 4);
  b.put_str(IFA_LABEL, "veth5");
  b.put_u32(IFA_FLAGS, IFA_F_PERMANENT);
  ifa_cacheinfo ci{0xffffffff, 0xffffffff, 100, 100};
  b.put(IFA_CACHEINFO, &ci, sizeof ci);
  b.begin(RTM_NEWADDR, NLM_F_MULTI, 5, 4242);
  ifa = b.put_extra<ifaddrmsg>();
  ifa->ifa_family = AF_INET6;
  ifa->ifa_prefixlen = 64;
  ifa->ifa_scope = RT_SCOPE_LINK;
  ifa->ifa_index = 5;
  const uint8_t ll[16] = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x42, 0xac, 0xff, 0xfe, 0x11, 0, 5};
  b.put(IFA_ADDRESS, ll, 16);
  b.put(IFA_CACHEINFO, &ci, sizeof ci);
  return b.size();
}

size_t route_dump() {
  nl::Builder b(g_buf, sizeof g_buf);
  b.begin(RTM_NEWROUTE, NLM_F_MULTI, 6, 4242);
  auto* rt = b.put_extra<rtmsg>();
  rt->rtm_family = AF_INET;
  rt->rtm_dst_len = 16;
  rt->rtm_table = RT_TABLE_MAIN;
  rt->rtm_protocol = RTPROT_STATIC;
  rt->rtm_type = RTN_UNICAST;
  const uint8_t dst[4] = {10, 2, 0, 0}, gw[4] = {10, 0, 0, 254};
  b.put_u32(RTA_TABLE, RT_TABLE_MAIN);
  b.put(RTA_DST, dst, 4);
  b.put(RTA_GATEWAY, gw, 4);
  b.put_u32(RTA_OIF, 5);
  b.put_u32(RTA_PRIORITY, 100);
  const size_t mx = b.nest_start(RTA_METRICS);
  b.put_u32(RTAX_MTU, 1400);
  b.nest_end(mx);
  // A request too, so the encoders' layouts are in the corpus.
  rtnl::RouteSpec s;
  s.family = AF_INET6;
  s.gateway.family = AF_INET6;
  s.gateway.bytes[0] = 0xfe;
  s.gateway.bytes[1] = 0x80;
  s.gateway.bytes[15] = 1;
  s.oif = 5;
  s.table = 1000;
  rtnl::encode_route(b, RTM_NEWROUTE, 7, rtnl::kCreate, s);
  return b.size();
}

size_t done_with_message() {
  nl::Builder b(g_buf, sizeof g_buf);
  b.begin(NLMSG_DONE, NLM_F_MULTI | NLM_F_ACK_TLVS, 8, 4242);
  const int err = -EINTR;
  std::memcpy(b.put_extra(sizeof err), &err, sizeof err);
  b.put_str(NLMSGERR_ATTR_MSG, "dump interrupted");
  return b.size();
}

// An nf_tables answer as the kernel sends it: a generation, a table, a base
// chain, a map, its elements (a value and a verdict) and a rule with its
// handle and expressions, then the dump's end.
size_t nft_dump() {
  namespace nft = nsnet::nft;
  nl::Builder b(g_buf, sizeof g_buf);
  b.begin(nft::msg_type(NFT_MSG_NEWGEN), 0, 9, 4242);
  b.put_extra<nfgenmsg>();
  b.put_be32(NFTA_GEN_ID, 7);
  b.put_str(NFTA_GEN_PROC_NAME, "nft");
  nft::Table t;
  t.family = NFPROTO_INET;
  t.name = "nsnet";
  nft::encode_table(b, NFT_MSG_NEWTABLE, NLM_F_MULTI, 9, t);
  nft::Chain c;
  c.family = NFPROTO_INET;
  c.table = "nsnet";
  c.name = "prerouting";
  c.base = true;
  c.priority = -100;
  c.type = "nat";
  c.policy = 1;
  nft::encode_chain(b, NFT_MSG_NEWCHAIN, NLM_F_MULTI, 9, c);
  nft::Set s;
  s.family = NFPROTO_INET;
  s.table = "nsnet";
  s.name = "dnat4";
  s.flags = NFT_SET_MAP | NFT_SET_INTERVAL | NFT_SET_CONCAT;
  s.key_len = 12;
  s.has_data = true;
  s.data_len = 8;
  s.field_len = {4, 1, 2};
  s.id = 1;
  nft::encode_set(b, NFT_MSG_NEWSET, NLM_F_MULTI, 9, s);
  nft::ElemList l;
  l.family = NFPROTO_INET;
  l.table = "nsnet";
  l.set = "dnat4";
  nft::Elem e;
  e.key = {0, 0, 0, 0, 6, 0, 0, 0, 0x1f, 0x90, 0, 0};
  e.key_end = {255, 255, 255, 255, 6, 0, 0, 0, 0x1f, 0x90, 0, 0};
  e.has_data = true;
  e.data.value = {10, 0, 0, 2, 0, 80, 0, 0};
  e.userdata = {0, 7, 'n', 's', 'n', 'e', 't', ' ', 0};
  nft::Elem v;
  v.key = {1, 2, 3, 4};
  v.has_data = true;
  v.data.is_verdict = true;
  v.data.verdict = nft::Verdict{-3, "sub"};
  l.elems = {e, v};
  nft::encode_setelems(b, NFT_MSG_NEWSETELEM, NLM_F_MULTI, 9, l);
  nft::Rule r;
  r.family = NFPROTO_INET;
  r.table = "nsnet";
  r.chain = "prerouting";
  r.handle = 12;
  nft::Expr meta;
  meta.kind = nft::ExprKind::Meta;
  meta.key = NFT_META_L4PROTO;
  meta.dreg = NFT_REG32_01;
  nft::Expr lookup;
  lookup.kind = nft::ExprKind::Lookup;
  lookup.sreg = lookup.dreg = NFT_REG_1;
  lookup.set = "dnat4";
  nft::Expr nat;
  nat.kind = nft::ExprKind::Nat;
  nat.nat_type = NFT_NAT_DNAT;
  nat.family = NFPROTO_IPV4;
  nat.reg_addr_min = NFT_REG_1;
  nat.reg_proto_min = NFT_REG32_01;
  r.exprs = {meta, lookup, nat};
  r.userdata = {0, 6, 'h', 'e', 'l', 'l', 'o', 0};
  nft::encode_rule(b, NFT_MSG_NEWRULE, NLM_F_MULTI, 9, r);
  b.begin(NLMSG_DONE, NLM_F_MULTI, 9, 4242);
  const int zero = 0;
  std::memcpy(b.put_extra(sizeof zero), &zero, sizeof zero);
  return b.size();
}

// Neighbour notifications as a watcher reads them: an ARP entry, an NDP
// entry without a link-layer address yet, and a bridge FDB entry (skipped).
size_t neigh_events() {
  nl::Builder b(g_buf, sizeof g_buf);
  b.begin(RTM_NEWNEIGH, 0, 0, 0);
  auto* nd = b.put_extra<ndmsg>();
  nd->ndm_family = AF_INET;
  nd->ndm_ifindex = 5;
  nd->ndm_state = NUD_REACHABLE;
  nd->ndm_type = RTN_UNICAST;
  const uint8_t dst[4] = {10, 0, 0, 2}, mac[6] = {2, 0x42, 0xac, 0x11, 0, 2};
  b.put(NDA_DST, dst, 4);
  b.put(NDA_LLADDR, mac, 6);
  b.begin(RTM_DELNEIGH, 0, 0, 0);
  nd = b.put_extra<ndmsg>();
  nd->ndm_family = AF_INET6;
  nd->ndm_ifindex = 5;
  nd->ndm_state = NUD_INCOMPLETE;
  const uint8_t dst6[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  b.put(NDA_DST, dst6, 16);
  b.begin(RTM_NEWNEIGH, 0, 0, 0);
  nd = b.put_extra<ndmsg>();
  nd->ndm_family = AF_BRIDGE;
  nd->ndm_ifindex = 6;
  b.put(NDA_LLADDR, mac, 6);
  b.put_u32(NDA_MASTER, 3);
  return b.size();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  bool ok = true;
  ok &= write_seed(dir, "ack.bin", ack());
  ok &= write_seed(dir, "error_capped.bin", error_capped());
  ok &= write_seed(dir, "error_uncapped.bin", error_uncapped());
  ok &= write_seed(dir, "link_dump.bin", link_dump());
  ok &= write_seed(dir, "addr_dump.bin", addr_dump());
  ok &= write_seed(dir, "route_dump.bin", route_dump());
  ok &= write_seed(dir, "done_message.bin", done_with_message());
  ok &= write_seed(dir, "nft_dump.bin", nft_dump());
  ok &= write_seed(dir, "neigh_events.bin", neigh_events());
  if (!ok) std::fprintf(stderr, "make_seeds: could not write into %s\n", dir.c_str());
  return ok ? 0 : 1;
}
