#include "sockdiag.h"

#include <linux/inet_diag.h>
#include <linux/netlink_diag.h>
#include <linux/packet_diag.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace nsnet::sockdiag {

namespace {

using nl::Attr;
using nl::Kind;
using nl::Policy;
using nl::Policies;

constexpr uint16_t kDump = NLM_F_REQUEST | NLM_F_DUMP;

template <class Req>
bool encode_req(nl::Builder& b, uint32_t seq, uint16_t type, uint16_t flags, const Req& r) {
  Req* p = b.begin_with<Req>(type, flags, seq);
  if (p) std::memcpy(p, &r, sizeof r);
  return b.finish();
}

// The fixed part of an answer, copied out (the buffer need not be aligned for it).
template <class Msg>
bool header(const nlmsghdr* h, Msg* m) {
  if (h->nlmsg_len < nl::kHdrLen + sizeof(Msg)) return false;
  std::memcpy(m, reinterpret_cast<const uint8_t*>(h) + nl::kHdrLen, sizeof(Msg));
  return true;
}

void addr_from(uint8_t family, const uint32_t* words, rtnl::IpAddr* out) {
  out->family = family;
  std::memcpy(out->bytes, words, family == AF_INET6 ? 16 : 4);
}

bool decode_inet(const nlmsghdr* h, SockInfo* out) {
  inet_diag_msg m;
  if (!header(h, &m) || (m.idiag_family != AF_INET && m.idiag_family != AF_INET6)) return false;
  Attr tb[INET_DIAG_MAX + 1];
  static const Policies<INET_DIAG_MAX> p{{INET_DIAG_PROTOCOL, {Kind::U8}}};
  if (!nl::parse_msg(h, sizeof m, tb, INET_DIAG_MAX, p.p).ok()) return false;
  out->family = m.idiag_family;
  out->state = m.idiag_state;
  out->inode = m.idiag_inode;
  out->uid = m.idiag_uid;
  out->sport = ntohs(m.id.idiag_sport);
  out->dport = ntohs(m.id.idiag_dport);
  out->ifindex = m.id.idiag_if;
  out->cookie[0] = m.id.idiag_cookie[0];
  out->cookie[1] = m.id.idiag_cookie[1];
  addr_from(m.idiag_family, m.id.idiag_src, &out->src);
  addr_from(m.idiag_family, m.id.idiag_dst, &out->dst);
  // Older kernels leave the protocol out; the caller knows what it asked.
  if (tb[INET_DIAG_PROTOCOL]) out->protocol = tb[INET_DIAG_PROTOCOL].u8();
  return true;
}

bool decode_unix(const nlmsghdr* h, SockInfo* out) {
  unix_diag_msg m;
  if (!header(h, &m)) return false;
  Attr tb[UNIX_DIAG_MAX + 1];
  static const Policies<UNIX_DIAG_MAX> p{{UNIX_DIAG_NAME, {Kind::Binary, 0, 108}}};
  if (!nl::parse_msg(h, sizeof m, tb, UNIX_DIAG_MAX, p.p).ok()) return false;
  out->family = AF_UNIX;
  out->type = m.udiag_type;
  out->state = m.udiag_state;
  out->inode = m.udiag_ino;
  out->cookie[0] = m.udiag_cookie[0];
  out->cookie[1] = m.udiag_cookie[1];
  if (tb[UNIX_DIAG_NAME] && tb[UNIX_DIAG_NAME].len() > 0) {
    const char* s = reinterpret_cast<const char*>(tb[UNIX_DIAG_NAME].data());
    const size_t n = tb[UNIX_DIAG_NAME].len();
    // An abstract name starts with a NUL; show it as ss does, with '@'.
    if (s[0] == '\0') out->name = "@" + std::string(s + 1, n - 1);
    else out->name.assign(s, strnlen(s, n));
  }
  return true;
}

bool decode_packet(const nlmsghdr* h, SockInfo* out) {
  packet_diag_msg m;
  if (!header(h, &m)) return false;
  out->family = AF_PACKET;
  out->type = m.pdiag_type;
  out->ethertype = m.pdiag_num;  // host order already (packet_diag stores ntohs of the socket's protocol)
  out->inode = m.pdiag_ino;
  out->cookie[0] = m.pdiag_cookie[0];
  out->cookie[1] = m.pdiag_cookie[1];
  return true;
}

bool decode_netlink(const nlmsghdr* h, SockInfo* out) {
  netlink_diag_msg m;
  if (!header(h, &m)) return false;
  out->family = AF_NETLINK;
  out->type = m.ndiag_type;
  out->protocol = m.ndiag_protocol;
  out->state = m.ndiag_state;
  out->portid = m.ndiag_portid;
  out->inode = m.ndiag_ino;
  out->cookie[0] = m.ndiag_cookie[0];
  out->cookie[1] = m.ndiag_cookie[1];
  return true;
}

}  // namespace

bool encode_inet_dump(nl::Builder& b, uint32_t seq, uint8_t family, uint8_t protocol, uint32_t states) {
  inet_diag_req_v2 r{};
  r.sdiag_family = family;
  r.sdiag_protocol = protocol;
  r.idiag_states = states;
  return encode_req(b, seq, SOCK_DIAG_BY_FAMILY, kDump, r);
}

bool encode_unix_dump(nl::Builder& b, uint32_t seq, uint32_t states) {
  unix_diag_req r{};
  r.sdiag_family = AF_UNIX;
  r.udiag_states = states;
  r.udiag_show = UDIAG_SHOW_NAME;
  return encode_req(b, seq, SOCK_DIAG_BY_FAMILY, kDump, r);
}

bool encode_packet_dump(nl::Builder& b, uint32_t seq) {
  packet_diag_req r{};
  r.sdiag_family = AF_PACKET;
  return encode_req(b, seq, SOCK_DIAG_BY_FAMILY, kDump, r);
}

bool encode_netlink_dump(nl::Builder& b, uint32_t seq) {
  netlink_diag_req r{};
  r.sdiag_family = AF_NETLINK;
  r.sdiag_protocol = NDIAG_PROTO_ALL;
  return encode_req(b, seq, SOCK_DIAG_BY_FAMILY, kDump, r);
}

bool encode_inet_destroy(nl::Builder& b, uint32_t seq, const SockInfo& s) {
  inet_diag_req_v2 r{};
  r.sdiag_family = s.family;
  r.sdiag_protocol = s.protocol;
  r.idiag_states = ~0u;
  r.id.idiag_sport = htons(s.sport);
  r.id.idiag_dport = htons(s.dport);
  std::memcpy(r.id.idiag_src, s.src.bytes, s.family == AF_INET6 ? 16 : 4);
  std::memcpy(r.id.idiag_dst, s.dst.bytes, s.family == AF_INET6 ? 16 : 4);
  r.id.idiag_if = s.ifindex;
  r.id.idiag_cookie[0] = s.cookie[0];
  r.id.idiag_cookie[1] = s.cookie[1];
  return encode_req(b, seq, SOCK_DESTROY, NLM_F_REQUEST | NLM_F_ACK, r);
}

bool decode(const nlmsghdr* h, SockInfo* out) {
  if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < nl::kHdrLen + 1) return false;
  *out = SockInfo{};
  switch (reinterpret_cast<const uint8_t*>(h)[nl::kHdrLen]) {
    case AF_INET:
    case AF_INET6:
      return decode_inet(h, out);
    case AF_UNIX:
      return decode_unix(h, out);
    case AF_PACKET:
      return decode_packet(h, out);
    case AF_NETLINK:
      return decode_netlink(h, out);
    default:
      return false;
  }
}

bool parse_proc_raw(const std::string& text, uint8_t family, std::vector<SockInfo>* out) {
  // "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ..."
  size_t pos = text.find('\n');
  if (text.compare(0, 4, "  sl") != 0 || pos == std::string::npos) return false;
  while (++pos < text.size()) {
    const size_t end = std::min(text.find('\n', pos), text.size());
    const std::string line = text.substr(pos, end - pos);
    pos = end;
    unsigned sl, lport, rport, state, uid;
    unsigned long inode;
    char local[40], remote[40];
    if (std::sscanf(line.c_str(), " %u: %39[0-9A-Fa-f]:%x %39[0-9A-Fa-f]:%x %x %*x:%*x %*x:%*x %*x %u %*d %lu", &sl, local, &lport, remote,
                    &rport, &state, &uid, &inode) != 8)
      return false;
    SockInfo s;
    s.family = family;
    s.protocol = static_cast<uint8_t>(lport);  // a raw socket's "port" is its IP protocol
    s.type = SOCK_RAW;
    s.state = static_cast<uint8_t>(state);
    s.uid = uid;
    s.inode = static_cast<uint32_t>(inode);
    out->push_back(s);
  }
  return true;
}

bool parse_sockstat(const std::string& text, SockCounts* out) {
  bool any = false;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t end = std::min(text.find('\n', pos), text.size());
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    unsigned inuse = 0, orphan = 0, tw = 0;
    char proto[16];
    if (std::sscanf(line.c_str(), "%15[A-Z0-9]: inuse %u orphan %u tw %u", proto, &inuse, &orphan, &tw) == 4 && std::strcmp(proto, "TCP") == 0) {
      out->tcp = inuse;
      out->tcp_tw = tw;
    } else if (std::sscanf(line.c_str(), "%15[A-Z0-9]: inuse %u", proto, &inuse) == 2) {
      const std::string p(proto);
      if (p == "TCP") out->tcp = inuse;
      else if (p == "UDP") out->udp = inuse;
      else if (p == "UDPLITE") out->udplite = inuse;
      else if (p == "RAW") out->raw = inuse;
      else if (p == "TCP6") out->tcp6 = inuse;
      else if (p == "UDP6") out->udp6 = inuse;
      else if (p == "UDPLITE6") out->udplite6 = inuse;
      else if (p == "RAW6") out->raw6 = inuse;
      else continue;
    } else {
      continue;
    }
    any = true;
  }
  return any;
}

}  // namespace nsnet::sockdiag
