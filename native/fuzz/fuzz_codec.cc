// libFuzzer target for the pure netlink codec (native/nl).
//
// The input is treated three ways, so one corpus exercises the whole codec:
//  1. as a datagram recv()'d from a netlink socket: walked with MsgIter, each
//     message (alone in an exact-size heap block, and again cut short after
//     each attribute) given to decode_ack/decode_link/decode_addr/
//     decode_route/decode_neigh/sockdiag::decode/the reset's extras (qdisc,
//     nexthop, addrlabel, xfrm, ipset, genetlink, MPTCP), and the raw bytes parsed as an attribute stream against a
//     policy that uses every Kind (nested attributes recursively);
//  2. as a program for the Builder (begin, put_*, nests) writing into a
//     heap buffer of exactly `cap` bytes, so ASan flags any write past it;
//     whatever a successful build produced must walk and parse cleanly;
//  3. as field values for LinkSpec/AddrSpec/RouteSpec and for nf_tables
//     sets, elements and rules: encode, decode, and the decoded fields must
//     equal the encoded ones; or as arguments to the request-only encoders
//     (get, del, dumps) writing into a fuzzed-size buffer.
// The nf_tables decoders (and describe_offset) see every message of 1. too.
// Beyond ASan/UBSan, a broken invariant calls abort() with a message.
//
// Build: see native/CMakeLists.txt (target fuzz_codec) or scripts/fuzz.sh.

#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "extras.h"
#include "fuzz.h"
#include "nft.h"
#include "nl.h"
#include "rtnl.h"
#include "sockdiag.h"

namespace nl = nsnet::nl;
namespace rtnl = nsnet::rtnl;
namespace nft = nsnet::nft;
using nl::Attr;
using nl::Kind;
using nl::Policy;
using nsnet::fuzz::Reader;

namespace {

volatile uint64_t g_sink;  // keeps reads from being optimized away

bool inside(const void* p, size_t n, const void* lo, const void* hi) {
  const auto* b = static_cast<const uint8_t*>(p);
  return b >= static_cast<const uint8_t*>(lo) && b <= static_cast<const uint8_t*>(hi) &&
         n <= static_cast<size_t>(static_cast<const uint8_t*>(hi) - b);
}
const uint8_t* msg_end(const nlmsghdr* h) { return reinterpret_cast<const uint8_t*>(h) + h->nlmsg_len; }

// ------------------------------------------------------------ 1. decoding

constexpr uint16_t kMaxType = 15;
const Policy kPolicy[kMaxType + 1] = {
    {},                     // 0: unlisted
    {Kind::U8},             // 1
    {Kind::U16},            // 2
    {Kind::U32},            // 3
    {Kind::U64},            // 4
    {Kind::String},         // 5: must hold a NUL
    {Kind::String, 0, 15},  // 6: NUL or at most 15 bytes, as IFLA_IFNAME
    {Kind::Flag},           // 7
    {Kind::Nested},         // 8
    {Kind::Binary, 4, 16},  // 9: an address
    {Kind::Binary, 16, 0},  // 10: a struct, as IFA_CACHEINFO
    {Kind::Any},            // 11
    {Kind::Nested},         // 12
    {Kind::U32},            // 13
    {Kind::String, 0, 64},  // 14
    {Kind::Binary, 0, 6},   // 15
};

// Reads every attribute the way its policy allows, which is only safe if
// parse() enforced the policy.
void read_by_policy(Attr a, const Policy& p) {
  uint64_t v = 0;
  switch (p.kind) {
    case Kind::U8: v = a.u8(); break;
    case Kind::U16: v = a.u16() ^ a.be16(); break;
    case Kind::U32: v = a.u32() ^ a.be32() ^ static_cast<uint32_t>(a.s32()); break;
    case Kind::U64: v = a.u64(); break;
    case Kind::String: {
      const std::string_view s = a.str();
      INVARIANT(s.size() <= a.len());
      INVARIANT(s.empty() || inside(s.data(), s.size(), a.data(), a.data() + a.len()));
      v = s.size();
      break;
    }
    case Kind::Flag: INVARIANT(a.len() == 0); break;
    case Kind::Binary:
      INVARIANT(a.len() >= p.min_len && (!p.max_len || a.len() <= p.max_len));
      for (size_t i = 0; i < a.len(); i++) v += a.data()[i];
      break;
    case Kind::Nested:
    case Kind::Any: break;
  }
  g_sink = g_sink + v;
}

void walk_attrs(const uint8_t* data, size_t len, int depth) {
  Attr tb[kMaxType + 1];
  const nl::ParseResult r = nl::parse(data, len, tb, kMaxType, kPolicy);
  for (uint16_t t = 0; t <= kMaxType; t++) {
    if (!tb[t]) continue;
    INVARIANT(tb[t].type() == t);
    INVARIANT(tb[t].raw->nla_len >= nl::kAttrHdrLen);
    INVARIANT(inside(tb[t].raw, tb[t].raw->nla_len, data, data + len));
    // On failure, attributes indexed before the offending one were checked.
    read_by_policy(tb[t], kPolicy[t]);
    if (kPolicy[t].kind == Kind::Nested && depth < 8) walk_attrs(tb[t].data(), tb[t].len(), depth + 1);
  }
  if (!r.ok()) INVARIANT(r.status == nl::ParseStatus::Truncated || r.status == nl::ParseStatus::BadLength);

  // Without a policy every attribute is accepted as-is, still in bounds.
  Attr any[kMaxType + 1];
  nl::parse(data, len, any, kMaxType, nullptr);
  for (const Attr& a : any)
    if (a) INVARIANT(inside(a.raw, a.raw->nla_len, data, data + len));
}

// The nf_tables decoders: everything they return came from inside the message.
void decode_nft(const nlmsghdr* h, uint32_t len) {
  uint32_t gen;
  if (nft::decode_gen(h, &gen)) g_sink = g_sink + gen;
  nft::Table t;
  if (nft::decode_table(h, &t)) INVARIANT(t.name.size() < len);
  nft::Chain c;
  if (nft::decode_chain(h, &c)) INVARIANT(c.name.size() < len && c.table.size() < len && c.type.size() < len);
  nft::Set st;
  if (nft::decode_set(h, &st)) {
    INVARIANT(st.name.size() < len && st.userdata.size() < len);
    INVARIANT(st.field_len.size() * nl::kAttrHdrLen * 2 < len);
  }
  nft::ElemList l;
  if (nft::decode_setelems(h, &l)) {
    size_t bytes = 0;
    for (const nft::Elem& e : l.elems) bytes += e.key.size() + e.key_end.size() + e.data.value.size() + e.data.verdict.chain.size() + e.userdata.size();
    INVARIANT(bytes < len);
  }
  nft::Rule r;
  if (nft::decode_rule(h, &r)) {
    INVARIANT(r.expr_names.size() * nl::kAttrHdrLen < len);
    for (const std::string& n : r.expr_names) INVARIANT(n.size() < len);
  }
  // Any offset an extended ACK could name, including nonsense ones.
  for (uint32_t off : {uint32_t{0}, len / 2, len - 1, len, len + 7}) {
    const std::string what = nft::describe_offset(h, off);
    INVARIANT(what.size() < 128);
  }
}

// Runs every decoder on one message that sits alone in an exact-size heap
// block, so a decoder reading past nlmsg_len hits ASan's redzone.
void decode_message(const nlmsghdr* src, uint32_t len) {
  std::unique_ptr<uint8_t[]> copy(new uint8_t[len]);
  std::memcpy(copy.get(), src, len);
  auto* h = reinterpret_cast<nlmsghdr*>(copy.get());
  h->nlmsg_len = len;

  nl::Ack ack;
  if (nl::decode_ack(h, &ack)) {
    INVARIANT(h->nlmsg_type == NLMSG_ERROR || h->nlmsg_type == NLMSG_DONE);
    if (!ack.message.empty()) INVARIANT(inside(ack.message.data(), ack.message.size(), h, msg_end(h)));
    g_sink = g_sink + static_cast<uint32_t>(ack.error) + ack.offset + ack.missing_type;
  }
  rtnl::LinkInfo li;
  if (rtnl::decode_link(h, &li)) {
    INVARIANT(li.name.size() < len && li.kind.size() < len && li.alias.size() < len);
    g_sink = g_sink + li.mtu + static_cast<uint32_t>(li.master);
  }
  rtnl::AddrInfo ai;
  if (rtnl::decode_addr(h, &ai)) {
    INVARIANT(ai.family == AF_INET || ai.family == AF_INET6);
    INVARIANT(ai.label.size() < len);
  }
  rtnl::RouteInfo ri;
  if (rtnl::decode_route(h, &ri)) INVARIANT((ri.family == AF_INET || ri.family == AF_INET6) && ri.metrics.size() < len);
  rtnl::McastInfo mi;
  if (rtnl::decode_mcast(h, &mi)) INVARIANT(mi.group.family == AF_INET || mi.group.family == AF_INET6);
  rtnl::NeighInfo ni;
  if (rtnl::decode_neigh(h, &ni)) INVARIANT(ni.family == AF_INET || ni.family == AF_INET6);
  nsnet::sockdiag::SockInfo si;
  if (nsnet::sockdiag::decode(h, &si)) INVARIANT(si.name.size() < len);
  rtnl::QdiscInfo qi;
  if (rtnl::decode_qdisc(h, &qi)) INVARIANT(qi.kind.size() < len);
  uint32_t nh = 0;
  g_sink = g_sink + (rtnl::decode_nexthop(h, &nh) ? nh : 0);
  rtnl::AddrLabelInfo al;
  if (rtnl::decode_addrlabel(h, &al)) INVARIANT(al.prefixlen <= 128 && al.body.size() + nl::kHdrLen == h->nlmsg_len);
  rtnl::XfrmEntry xe;
  g_sink = g_sink + rtnl::decode_xfrm(h, &xe);
  std::string set;
  if (rtnl::decode_ipset(h, &set)) INVARIANT(set.size() < len);
  // Any type may be the MPTCP family's (its id is the kernel's to give).
  uint16_t fid = 0;
  uint8_t ep = 0;
  rtnl::MptcpLimits ml;
  g_sink = g_sink + (rtnl::decode_genl_family(h, &fid) ? fid : 0) + (rtnl::decode_mptcp_endpoint(h, h->nlmsg_type, &ep) ? ep : 0) +
           (rtnl::decode_mptcp_limits(h, h->nlmsg_type, &ml) ? ml.subflows : 0);
  decode_nft(h, len);

  // The payload after a few common family header sizes, as attributes read
  // by policy: the copy ends where the message does, so a policy that lets
  // through an attribute shorter than its reader needs is caught here.
  for (size_t extra : {size_t{0}, sizeof(nfgenmsg), sizeof(ifaddrmsg), sizeof(rtmsg), sizeof(ifinfomsg)}) {
    const size_t off = nl::kHdrLen + nl::align4(extra);
    if (off < len) walk_attrs(copy.get() + off, len - off, 0);
  }
}

// Also decodes the message cut short after each of its attributes (for each
// family header size the decoders use), so that every attribute gets to be
// the last bytes of a message: a decoder that trusts an attribute to be
// longer than its policy guarantees then reads out of bounds.
void decode_prefixes(const nlmsghdr* h) {
  const auto* base = reinterpret_cast<const uint8_t*>(h);
  for (size_t extra : {sizeof(nfgenmsg), sizeof(nlmsgerr), sizeof(ifaddrmsg), sizeof(rtmsg), sizeof(ifinfomsg)}) {
    size_t off = nl::kHdrLen + nl::align4(extra);
    for (int cuts = 0; cuts < 64 && off + nl::kAttrHdrLen <= h->nlmsg_len; cuts++) {
      nlattr a;
      std::memcpy(&a, base + off, sizeof a);
      if (a.nla_len < nl::kAttrHdrLen || off + a.nla_len > h->nlmsg_len) break;
      decode_message(h, static_cast<uint32_t>(off + a.nla_len));
      off += nl::align4(a.nla_len);
    }
  }
}

void decode_datagram(const uint8_t* buf, size_t size) {
  nl::MsgIter it(buf, size);
  size_t walked = 0;
  while (const nlmsghdr* h = it.next()) {
    INVARIANT(h->nlmsg_len >= sizeof(nlmsghdr));
    INVARIANT(inside(h, h->nlmsg_len, buf, buf + size));
    INVARIANT(reinterpret_cast<const uint8_t*>(h) == buf + walked);
    walked += nl::align4(h->nlmsg_len);
    decode_message(h, h->nlmsg_len);
    decode_prefixes(h);
  }
  if (!it.truncated()) INVARIANT(walked >= size);
}

// ------------------------------------------------------------ 2. building

// An independent walk of an attribute stream the Builder wrote: every
// length in bounds, nested payloads (NLA_F_NESTED) well formed too.
bool well_formed(const uint8_t* p, size_t len, int depth) {
  while (len >= nl::kAttrHdrLen) {
    nlattr a;
    std::memcpy(&a, p, sizeof a);
    if (a.nla_len < nl::kAttrHdrLen || a.nla_len > len) return false;
    if ((a.nla_type & NLA_F_NESTED) && depth < 64 &&
        !well_formed(p + nl::kAttrHdrLen, a.nla_len - nl::kAttrHdrLen, depth + 1))
      return false;
    const size_t step = nl::align4(a.nla_len);
    if (step >= len) return true;
    p += step;
    len -= step;
  }
  return len == 0;
}

void drive_builder(const uint8_t* data, size_t size) {
  Reader r{data, size};
  const size_t cap = 8 + 2 * static_cast<size_t>(r.u8());  // 8..518, not always 4-aligned
  std::unique_ptr<uint8_t[]> buf(new uint8_t[cap]);       // exact: ASan sees a byte past it
  nl::Builder b(buf.get(), cap);
  std::vector<size_t> nests;     // open nests, innermost last
  std::vector<size_t> tokens;    // every nest_start() result, for misuse
  std::vector<size_t> extras;    // family header length of each message begun
  bool fresh = false;            // a family header may follow begin() only
  bool misused = false;          // the caller broke nesting: only bounds are checked
  for (int ops = 0; r.n && ops < 512; ops++) {
    const uint8_t op = r.u8();
    const uint8_t arg = r.u8();
    switch (op % 12) {
      case 0:
        if (!nests.empty()) {  // begin() inside a nest is a caller bug
          if (!(arg & 0x80)) break;
          misused = true;
          nests.clear();
        }
        if (b.begin(arg, static_cast<uint16_t>(arg << 4), ops)) {
          extras.push_back(0);
          fresh = true;
        }
        continue;
      case 1:
        if (!fresh) break;
        if (b.put_extra(arg % 24) && !extras.empty()) extras.back() = arg % 24;
        break;
      case 2: b.put_u8(arg, arg); break;
      case 3: b.put_u32(arg, r.u32()); break;
      case 4: b.put_be64(arg, r.u32()); break;
      case 5: {
        const std::string_view s = r.bytes(arg % 40);
        b.put(arg, s.data(), s.size());
        break;
      }
      case 6: b.put_str(arg, r.bytes(arg % 20)); break;
      case 7: b.put_flag(arg); break;
      case 8: {
        const size_t at = b.nest_start(arg);
        nests.push_back(at);
        tokens.push_back(at);
        break;
      }
      case 11:  // out of order, or from an earlier message: still no write past cap
        if (tokens.empty()) break;
        misused = true;
        if (arg & 1) {
          b.nest_end(tokens[arg % tokens.size()]);
        } else {
          b.nest_cancel(tokens[arg % tokens.size()]);
        }
        break;
      case 9:
      case 10:
        if (nests.empty()) break;
        if (op % 12 == 9) {
          b.nest_end(nests.back());
        } else {
          b.nest_cancel(nests.back());
        }
        nests.pop_back();
        break;
    }
    fresh = false;
  }
  while (!nests.empty()) {
    b.nest_end(nests.back());
    nests.pop_back();
  }
  const size_t len = b.size();
  INVARIANT(len <= cap);
  if (!b.ok() || misused) return;

  // A successful build is a valid datagram: every message walks and parses.
  nl::MsgIter it(buf.get(), len);
  size_t k = 0, walked = 0;
  while (const nlmsghdr* h = it.next()) {
    INVARIANT(k < extras.size());
    INVARIANT(h->nlmsg_len % 4 == 0);
    const size_t off = nl::kHdrLen + nl::align4(extras[k]);
    INVARIANT(h->nlmsg_len >= off);
    INVARIANT(well_formed(reinterpret_cast<const uint8_t*>(h) + off, h->nlmsg_len - off, 0));
    Attr tb[256];
    INVARIANT(nl::parse_msg(h, extras[k], tb, 255, nullptr).ok());
    walked += h->nlmsg_len;
    k++;
  }
  INVARIANT(!it.truncated());
  INVARIANT(k == extras.size());
  INVARIANT(walked == len);
}

// ------------------------------------------------------------ 3. round trips

rtnl::IpAddr read_ip(Reader& r, uint8_t family) {
  rtnl::IpAddr ip;
  ip.family = family;
  for (size_t i = 0; i < ip.size(); i++) ip.bytes[i] = r.u8();
  return ip;
}
bool same_ip(const rtnl::IpAddr& a, const rtnl::IpAddr& b) {
  return a.family == b.family && std::memcmp(a.bytes, b.bytes, a.size()) == 0;
}
std::string read_name(Reader& r, size_t max) {
  std::string s(r.bytes(r.u8() % (max + 1)));
  for (char& c : s)
    if (c == '\0') c = 'n';
  return s;
}

void round_trip_route(Reader& r) {
  rtnl::RouteSpec s;
  s.family = r.bit() ? AF_INET6 : AF_INET;
  const int bits = s.family == AF_INET6 ? 128 : 32;
  s.dst_len = static_cast<uint8_t>(r.u8() % (bits + 1));
  if (s.dst_len) s.dst = read_ip(r, s.family);
  if (r.bit()) s.gateway = read_ip(r, s.family);
  if (r.bit()) s.prefsrc = read_ip(r, s.family);
  s.oif = static_cast<int32_t>(r.u32() & 0x7fffffff);
  s.table = r.bit() ? r.u32() : r.u8();
  if (r.bit()) s.metric = r.u32();
  if (r.bit()) s.mtu = r.u32();
  if (r.bit()) s.scope = r.u8();
  s.protocol = r.u8();
  s.type = r.u8();
  s.onlink = r.bit();
  const bool del = r.bit();
  alignas(8) uint8_t buf[512];
  nl::Builder b(buf, sizeof buf);
  INVARIANT(rtnl::encode_route(b, del ? RTM_DELROUTE : RTM_NEWROUTE, 1, del ? rtnl::kChange : rtnl::kCreate, s));
  rtnl::RouteInfo ri;
  INVARIANT(rtnl::decode_route(reinterpret_cast<const nlmsghdr*>(buf), &ri));
  INVARIANT(ri.family == s.family && ri.dst_len == s.dst_len);
  INVARIANT(ri.table == s.table);
  INVARIANT(ri.protocol == (del ? uint8_t{RTPROT_UNSPEC} : s.protocol) && ri.type == s.type);
  INVARIANT(ri.flags == (s.onlink ? uint32_t{RTNH_F_ONLINK} : 0u));
  if (s.scope >= 0) INVARIANT(ri.scope == s.scope);
  else if (del) INVARIANT(ri.scope == RT_SCOPE_NOWHERE);
  INVARIANT(ri.oif == s.oif);
  INVARIANT(ri.has_metric == (s.metric >= 0));
  if (s.metric >= 0) INVARIANT(ri.metric == s.metric);
  INVARIANT(ri.mtu == (s.mtu >= 0 ? static_cast<uint32_t>(s.mtu) : 0u));
  if (s.dst_len) INVARIANT(same_ip(ri.dst, s.dst));
  else INVARIANT(!ri.dst);
  INVARIANT(s.gateway ? same_ip(ri.gateway, s.gateway) : !ri.gateway);
  INVARIANT(s.prefsrc ? same_ip(ri.prefsrc, s.prefsrc) : !ri.prefsrc);
}

void round_trip_addr(Reader& r) {
  rtnl::AddrSpec s;
  const uint8_t family = r.bit() ? AF_INET6 : AF_INET;
  s.ifindex = static_cast<int32_t>(r.u32());
  s.local = read_ip(r, family);
  s.prefixlen = r.u8();
  if (r.bit()) s.peer = read_ip(r, family);
  s.broadcast = r.bit();
  if (r.bit()) s.scope = r.u8();
  s.flags = r.bit() ? r.u32() : r.u8();
  s.label = read_name(r, 20);
  alignas(8) uint8_t buf[512];
  nl::Builder b(buf, sizeof buf);
  INVARIANT(rtnl::encode_addr(b, RTM_NEWADDR, 1, rtnl::kCreate, s));
  rtnl::AddrInfo ai;
  INVARIANT(rtnl::decode_addr(reinterpret_cast<const nlmsghdr*>(buf), &ai));
  INVARIANT(ai.family == family && ai.ifindex == s.ifindex && ai.prefixlen == s.prefixlen);
  INVARIANT(ai.scope == (s.scope >= 0 ? s.scope : RT_SCOPE_UNIVERSE));
  INVARIANT(ai.flags == s.flags);
  INVARIANT(same_ip(ai.local, s.local));
  INVARIANT(same_ip(ai.address, s.peer ? s.peer : s.local));
  INVARIANT(static_cast<bool>(ai.broadcast) == (family == AF_INET && s.broadcast && s.prefixlen < 31));
  INVARIANT(ai.label == s.label);
}

void round_trip_link(Reader& r) {
  static const char* const kKinds[] = {"", "veth", "bridge", "macvlan", "vxlan", "dummy"};
  rtnl::LinkSpec s;
  s.name = read_name(r, 20);
  s.kind = kKinds[r.u8() % 6];
  if (r.bit()) s.ifindex = static_cast<int32_t>(r.u32() & 0x7fffffff);
  if (r.bit()) s.mtu = r.u32();
  if (r.bit()) s.master = r.u32();
  if (r.bit()) {
    s.mac.set = true;
    for (auto& m : s.mac.bytes) m = r.u8();
  }
  if (r.bit()) s.up = static_cast<int8_t>(r.bit());
  if (r.bit()) s.link = static_cast<int32_t>(r.u32() & 0x7fffffff);
  if (r.bit()) s.peer_name = read_name(r, 20);
  if (r.bit()) s.peer_netns_fd = static_cast<int32_t>(r.u32() & 0x7fffffff);
  s.macvlan_mode = r.u8() & 0x1f;
  if (r.bit()) s.vni = r.u32() & 0xffffff;
  if (r.bit()) s.vxlan_remote = read_ip(r, r.bit() ? AF_INET6 : AF_INET);
  if (r.bit()) s.vxlan_port = r.u16();
  if (r.bit()) s.bridge_stp = static_cast<int8_t>(r.bit());
  if (r.bit()) s.brport_hairpin = static_cast<int8_t>(r.bit());
  s.brport_flush = r.bit();
  if (r.bit()) s.inet6_addr_gen_mode = static_cast<int8_t>(r.u8() & 3);
  if (r.bit()) {
    s.has_alias = true;
    s.alias = read_name(r, 64);
  }
  for (int n = r.u8() % 4; n > 0; n--) s.inet_conf.emplace_back(r.u8() % 40, r.u32());
  alignas(8) uint8_t buf[1024];
  nl::Builder b(buf, sizeof buf);
  INVARIANT(rtnl::encode_link_new(b, 1, s.kind.empty() ? rtnl::kChange : rtnl::kCreate, s));
  const auto* h = reinterpret_cast<const nlmsghdr*>(buf);
  // VETH_INFO_PEER opens with a struct ifinfomsg, not attributes: skip it.
  if (s.kind != "veth")
    INVARIANT(well_formed(buf + nl::kHdrLen + sizeof(ifinfomsg), h->nlmsg_len - nl::kHdrLen - sizeof(ifinfomsg), 0));
  rtnl::LinkInfo li;
  const bool decoded = rtnl::decode_link(h, &li);
  INVARIANT(decoded);
  INVARIANT(li.name == s.name);
  INVARIANT(li.kind == s.kind);
  INVARIANT(li.ifindex == (s.kind.empty() ? s.ifindex : 0));
  INVARIANT(li.mtu == (s.mtu >= 0 ? static_cast<uint32_t>(s.mtu) : 0u));
  INVARIANT(li.master == (s.master >= 0 ? static_cast<int32_t>(s.master) : 0));
  INVARIANT(li.mac.set == s.mac.set);
  if (s.mac.set) INVARIANT(std::memcmp(li.mac.bytes, s.mac.bytes, 6) == 0);
  INVARIANT(li.link == (s.link > 0 && s.kind != "vxlan" ? s.link : 0));
  if (s.up >= 0) INVARIANT(li.flags == (s.up ? unsigned{IFF_UP} : 0u));
  // A create never carries the alias (the kernel would ignore it).
  INVARIANT(li.alias == (s.kind.empty() && s.has_alias ? s.alias : std::string()));
}

void round_trip_neigh(Reader& r) {
  rtnl::NeighSpec s;
  s.ifindex = static_cast<int32_t>(r.u32());
  s.dst = read_ip(r, r.bit() ? AF_INET6 : AF_INET);
  if (r.bit()) {
    s.lladdr.set = true;
    for (auto& m : s.lladdr.bytes) m = r.u8();
  }
  s.state = r.u16();
  s.flags = r.u8();
  const bool del = r.bit();
  alignas(8) uint8_t buf[256];
  nl::Builder b(buf, sizeof buf);
  INVARIANT(rtnl::encode_neigh(b, del ? RTM_DELNEIGH : RTM_NEWNEIGH, 1, del ? rtnl::kChange : rtnl::kCreate, s));
  rtnl::NeighInfo ni;
  INVARIANT(rtnl::decode_neigh(reinterpret_cast<const nlmsghdr*>(buf), &ni));
  INVARIANT(ni.family == s.dst.family && ni.ifindex == s.ifindex && ni.state == s.state && ni.flags == s.flags);
  INVARIANT(same_ip(ni.dst, s.dst));
  INVARIANT(ni.lladdr.set == (s.lladdr.set && !del));
  if (ni.lladdr.set) INVARIANT(std::memcmp(ni.lladdr.bytes, s.lladdr.bytes, 6) == 0);
}

void round_trip_fdb(Reader& r) {
  rtnl::NeighSpec s;
  s.family = AF_BRIDGE;
  s.ifindex = static_cast<int32_t>(r.u32());
  if (r.bit()) s.dst = read_ip(r, r.bit() ? AF_INET6 : AF_INET);
  s.lladdr.set = true;
  for (auto& m : s.lladdr.bytes) m = r.u8();
  s.state = r.u16();
  s.flags = r.u8();
  if (r.bit()) s.vni = r.u32() & 0xffffff;
  const bool del = r.bit();
  alignas(8) uint8_t buf[256];
  nl::Builder b(buf, sizeof buf);
  INVARIANT(rtnl::encode_neigh(b, del ? RTM_DELNEIGH : RTM_NEWNEIGH, 1, del ? rtnl::kChange : rtnl::kAppend, s));
  rtnl::FdbInfo f;
  // The key (lladdr) travels in a delete too.
  INVARIANT(rtnl::decode_fdb(reinterpret_cast<const nlmsghdr*>(buf), &f));
  INVARIANT(f.ifindex == s.ifindex && f.state == s.state && f.flags == s.flags && f.vni == s.vni);
  INVARIANT(std::memcmp(f.lladdr.bytes, s.lladdr.bytes, 6) == 0);
  INVARIANT(same_ip(f.dst, s.dst));
}

std::vector<uint8_t> read_bytes(Reader& r, size_t max) {
  const std::string_view s = r.bytes(r.u8() % (max + 1));
  return std::vector<uint8_t>(s.begin(), s.end());
}

nft::Data read_data(Reader& r) {
  nft::Data d;
  d.is_verdict = r.bit();
  if (d.is_verdict) {
    d.verdict.code = static_cast<int32_t>(r.u32());
    d.verdict.chain = read_name(r, 30);
  } else {
    d.value = read_bytes(r, 64);
    if (d.value.empty()) d.value.push_back(0);  // the decoder's policy wants a value of 1 byte or more
  }
  return d;
}

bool same_data(const nft::Data& a, const nft::Data& b) {
  if (a.is_verdict != b.is_verdict) return false;
  return a.is_verdict ? a.verdict.code == b.verdict.code && a.verdict.chain == b.verdict.chain : a.value == b.value;
}

// nf_tables sets, element lists and rules: whatever fits decodes back to itself.
void round_trip_nft(Reader& r) {
  alignas(8) uint8_t buf[4096];
  nl::Builder b(buf, sizeof buf);
  const auto* h = reinterpret_cast<const nlmsghdr*>(buf);
  switch (r.u8() % 3) {
    case 0: {
      nft::Set s;
      s.family = r.u8();
      s.table = read_name(r, 40);
      s.name = read_name(r, 40);
      if (s.name.empty()) s.name = "s";
      s.flags = r.u32();
      s.key_type = r.u32();
      s.key_len = r.u32();
      s.has_data = r.bit();
      if (s.has_data) s.data_type = r.u32(), s.data_len = r.u32();
      for (int n = r.u8() % 6; n > 0; n--) s.field_len.push_back(r.u32());
      s.id = r.u32();
      s.userdata = read_bytes(r, 80);
      if (!nft::encode_set(b, NFT_MSG_NEWSET, nft::kAdd, 1, s)) return;
      nft::Set back;
      INVARIANT(nft::decode_set(h, &back));
      INVARIANT(back.family == s.family && back.table == s.table && back.name == s.name && back.flags == s.flags);
      INVARIANT(back.key_type == s.key_type && back.key_len == s.key_len && back.has_data == s.has_data);
      if (s.has_data) INVARIANT(back.data_type == s.data_type && back.data_len == s.data_len);
      INVARIANT(back.field_len == s.field_len && back.id == s.id && back.userdata == s.userdata);
      break;
    }
    case 1: {
      nft::ElemList l;
      l.family = r.u8();
      l.table = read_name(r, 40);
      l.set = read_name(r, 40);
      for (int n = r.u8() % 8; n > 0; n--) {
        nft::Elem e;
        e.key = read_bytes(r, 64);
        if (e.key.empty()) e.key.push_back(1);
        if (r.bit()) e.key_end = read_bytes(r, 64);
        e.flags = r.bit() ? r.u32() : 0;
        e.has_data = r.bit();
        if (e.has_data) e.data = read_data(r);
        if (r.bit()) e.userdata = read_bytes(r, 40);
        l.elems.push_back(std::move(e));
      }
      if (!nft::encode_setelems(b, NFT_MSG_NEWSETELEM, nft::kAdd, 1, l)) return;
      nft::ElemList back;
      INVARIANT(nft::decode_setelems(h, &back));
      INVARIANT(back.table == l.table && back.set == l.set && back.elems.size() == l.elems.size());
      for (size_t i = 0; i < l.elems.size(); i++) {
        const nft::Elem &a = l.elems[i], &c = back.elems[i];
        INVARIANT(a.key == c.key && a.key_end == c.key_end && a.flags == c.flags && a.has_data == c.has_data && a.userdata == c.userdata);
        if (a.has_data) INVARIANT(same_data(a.data, c.data));
      }
      break;
    }
    default: {
      nft::Rule rule;
      rule.family = r.u8();
      rule.table = read_name(r, 40);
      rule.chain = read_name(r, 40);
      rule.handle = static_cast<uint64_t>(r.u32()) | 1;  // answers always carry one
      rule.userdata = read_bytes(r, 40);
      static const char* const kNames[] = {"meta", "payload", "cmp",     "bitwise", "lookup", "immediate",
                                           "ct",   "nat",     "masq",    "counter", "fib"};
      std::vector<std::string> names;
      for (int n = r.u8() % 12; n > 0; n--) {
        nft::Expr e;
        const uint8_t k = r.u8() % 11;
        e.kind = static_cast<nft::ExprKind>(k);
        e.dreg = r.u8();
        e.sreg = r.u8();
        e.key = r.u8();
        e.direction = r.bit() ? r.u8() : -1;
        e.offset = r.u8();
        e.len = r.u8();
        e.data = read_data(r);
        e.mask = read_bytes(r, 16);
        e.xor_ = read_bytes(r, 16);
        e.set = read_name(r, 20);
        e.flags = r.u32();
        rule.exprs.push_back(e);
        names.push_back(kNames[k]);
      }
      if (!nft::encode_rule(b, NFT_MSG_NEWRULE, nft::kAdd, 1, rule)) return;
      nft::Rule back;
      INVARIANT(nft::decode_rule(h, &back));
      INVARIANT(back.table == rule.table && back.chain == rule.chain && back.handle == rule.handle);
      INVARIANT(back.userdata == rule.userdata && back.expr_names == names);
      break;
    }
  }
  INVARIANT(well_formed(buf + nl::kHdrLen + nl::align4(sizeof(nfgenmsg)), h->nlmsg_len - nl::kHdrLen - nl::align4(sizeof(nfgenmsg)), 0));
}

// The request-only encoders, into a heap buffer of a fuzzed exact size: they
// either fit and parse back, or fail without writing past the buffer.
void requests(Reader& r) {
  const size_t cap = r.u8();
  std::unique_ptr<uint8_t[]> buf(new uint8_t[cap ? cap : 1]);
  nl::Builder b(buf.get(), cap);
  const int32_t ifindex = static_cast<int32_t>(r.u32());
  const std::string name = read_name(r, 20);
  const uint8_t family = r.u8();
  const uint32_t table = r.bit() ? r.u32() : r.u8();
  size_t extra = 0;
  bool ok = false;
  switch (r.u8() % 8) {
    case 0: ok = rtnl::encode_link_del(b, 1, ifindex, name); extra = sizeof(ifinfomsg); break;
    case 1: ok = rtnl::encode_link_get(b, 1, ifindex, name); extra = sizeof(ifinfomsg); break;
    case 2: ok = rtnl::encode_addr_dump(b, 1, family, ifindex); extra = sizeof(ifaddrmsg); break;
    case 3: ok = rtnl::encode_qdisc_del(b, 1, ifindex, table); extra = sizeof(tcmsg); break;
    case 4: ok = rtnl::encode_nexthop_del(b, 1, table); extra = 8; break;  // nhmsg
    case 5: ok = rtnl::encode_xfrm_flush(b, 1, static_cast<rtnl::XfrmFlush>(family % 3)); extra = family % 3 == 0 ? 4 : 0; break;
    case 6: ok = rtnl::encode_ipset_destroy_all(b, 1); extra = 4; break;  // nfgenmsg
    default: ok = rtnl::encode_route_dump(b, 1, family, table); extra = sizeof(rtmsg); break;
  }
  INVARIANT(ok == b.ok());
  if (!ok) return;
  const size_t len = b.size();
  INVARIANT(len <= cap);
  nl::MsgIter it(buf.get(), len);
  const nlmsghdr* h = it.next();
  INVARIANT(h && h->nlmsg_len == len && !it.next() && !it.truncated());
  Attr tb[IFLA_MAX + 1];
  INVARIANT(nl::parse_msg(h, extra, tb, IFLA_MAX, nullptr).ok());
  INVARIANT(well_formed(buf.get() + nl::kHdrLen + nl::align4(extra), len - nl::kHdrLen - nl::align4(extra), 0));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // An exact-size copy: any read past the datagram lands in ASan's redzone.
  std::unique_ptr<uint8_t[]> buf(new uint8_t[size ? size : 1]);
  if (size) std::memcpy(buf.get(), data, size);

  decode_datagram(buf.get(), size);
  walk_attrs(buf.get(), size, 0);
  drive_builder(buf.get(), size);
  // The same bytes as the text of /proc/net/sockstat and /proc/net/raw.
  {
    const std::string text(reinterpret_cast<const char*>(buf.get()), size);
    nsnet::sockdiag::SockCounts counts;
    std::vector<nsnet::sockdiag::SockInfo> raws;
    g_sink = g_sink + nsnet::sockdiag::parse_sockstat(text, &counts) + nsnet::sockdiag::parse_proc_raw(text, AF_INET6, &raws) + raws.size();
  }

  Reader r{buf.get(), size};
  switch (r.u8() % 7) {
    case 0: round_trip_route(r); break;
    case 1: round_trip_addr(r); break;
    case 2: round_trip_link(r); break;
    case 3: round_trip_nft(r); break;
    case 4: round_trip_neigh(r); break;
    case 5: round_trip_fdb(r); break;
    default: requests(r); break;
  }
  return 0;
}
