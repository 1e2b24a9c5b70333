// Unit tests for the sock_diag codec (native/nl/sockdiag.cc) and the
// /proc/net/raw parser beside it: requests checked byte by byte against the
// kernel's structs, answers assembled by hand and decoded. No sockets.
#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink_diag.h>
#include <linux/packet_diag.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstring>
#include <string>
#include <vector>

#include "harness.h"
#include "nl.h"
#include "nlbuf.h"
#include "sockdiag.h"

namespace nl = nsnet::nl;
namespace sd = nsnet::sockdiag;

namespace {

using nsnet::test::Buf;

template <class T>
T body(const Buf& buf) {
  return nsnet::test::family_header<T>(buf.hdr());
}

// An answer: the header, the family struct, then attributes.
template <class Msg>
nl::Builder answer(Buf& buf, const Msg& m) {
  nl::Builder b(buf.b, sizeof buf.b);
  Msg* p = b.begin_with<Msg>(SOCK_DIAG_BY_FAMILY, NLM_F_MULTI, 7);
  std::memcpy(p, &m, sizeof m);
  return b;
}

}  // namespace

TEST(inet_dump_request_is_a_v2_request_for_family_protocol_and_states) {
  Buf buf;
  nl::Builder b(buf.b, sizeof buf.b);
  CHECK(sd::encode_inet_dump(b, 42, AF_INET6, IPPROTO_UDP, ~0u));
  CHECK_EQ(buf.hdr()->nlmsg_type, SOCK_DIAG_BY_FAMILY);
  CHECK_EQ(buf.hdr()->nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP);
  CHECK_EQ(buf.hdr()->nlmsg_seq, 42u);
  CHECK_EQ(buf.hdr()->nlmsg_len, nl::kHdrLen + sizeof(inet_diag_req_v2));
  auto r = body<inet_diag_req_v2>(buf);
  CHECK_EQ(r.sdiag_family, AF_INET6);
  CHECK_EQ(r.sdiag_protocol, IPPROTO_UDP);
  CHECK_EQ(r.idiag_states, ~0u);
  CHECK_EQ(r.idiag_ext, 0);
  CHECK_EQ(r.id.idiag_sport, 0);
}

TEST(unix_packet_and_netlink_dumps_ask_every_socket_of_their_family) {
  Buf u, p, n;
  nl::Builder bu(u.b, sizeof u.b), bp(p.b, sizeof p.b), bn(n.b, sizeof n.b);
  CHECK(sd::encode_unix_dump(bu, 1));
  CHECK(sd::encode_packet_dump(bp, 2));
  CHECK(sd::encode_netlink_dump(bn, 3));
  auto ur = body<unix_diag_req>(u);
  CHECK_EQ(ur.sdiag_family, AF_UNIX);
  CHECK_EQ(ur.udiag_states, ~0u);
  CHECK_EQ(ur.udiag_show, static_cast<uint32_t>(UDIAG_SHOW_NAME));
  CHECK_EQ(body<packet_diag_req>(p).sdiag_family, AF_PACKET);
  auto nr = body<netlink_diag_req>(n);
  CHECK_EQ(nr.sdiag_family, AF_NETLINK);
  CHECK_EQ(nr.sdiag_protocol, NDIAG_PROTO_ALL);
  for (const Buf* x : {&u, &p, &n}) CHECK_EQ(x->hdr()->nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP);
}

TEST(unix_and_inet_dumps_carry_the_states_asked_for) {
  Buf u, i;
  nl::Builder bu(u.b, sizeof u.b), bi(i.b, sizeof i.b);
  CHECK(sd::encode_unix_dump(bu, 1, 1u << TCP_LISTEN));
  CHECK(sd::encode_inet_dump(bi, 2, AF_INET, IPPROTO_TCP, 1u << TCP_LISTEN));
  CHECK_EQ(body<unix_diag_req>(u).udiag_states, 1u << TCP_LISTEN);
  CHECK_EQ(body<inet_diag_req_v2>(i).idiag_states, 1u << TCP_LISTEN);
}

TEST(destroy_request_names_the_socket_by_its_whole_identity_and_asks_an_ack) {
  sd::SockInfo s;
  s.family = AF_INET;
  s.protocol = IPPROTO_TCP;
  s.sport = 8080;
  s.dport = 40000;
  inet_pton(AF_INET, "10.0.0.2", s.src.bytes);
  inet_pton(AF_INET, "10.0.0.3", s.dst.bytes);
  s.src.family = s.dst.family = AF_INET;
  s.cookie[0] = 0x11223344;
  s.cookie[1] = 0x55;
  Buf buf;
  nl::Builder b(buf.b, sizeof buf.b);
  CHECK(sd::encode_inet_destroy(b, 9, s));
  CHECK_EQ(buf.hdr()->nlmsg_type, SOCK_DESTROY);
  CHECK_EQ(buf.hdr()->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
  auto r = body<inet_diag_req_v2>(buf);
  CHECK_EQ(r.sdiag_family, AF_INET);
  CHECK_EQ(r.sdiag_protocol, IPPROTO_TCP);
  CHECK_EQ(ntohs(r.id.idiag_sport), 8080);
  CHECK_EQ(ntohs(r.id.idiag_dport), 40000);
  CHECK_EQ(ntohl(r.id.idiag_src[0]), 0x0a000002u);
  CHECK_EQ(ntohl(r.id.idiag_dst[0]), 0x0a000003u);
  CHECK_EQ(r.id.idiag_cookie[0], 0x11223344u);
  CHECK_EQ(r.id.idiag_cookie[1], 0x55u);
}

TEST(decode_inet_reads_state_ports_addresses_inode_and_protocol_attribute) {
  inet_diag_msg m{};
  m.idiag_family = AF_INET6;
  m.idiag_state = TCP_LISTEN;
  m.id.idiag_sport = htons(443);
  inet_pton(AF_INET6, "fd00::5", m.id.idiag_src);
  m.idiag_inode = 12345;
  m.idiag_uid = 1000;
  Buf buf;
  nl::Builder b = answer(buf, m);
  b.put_u8(INET_DIAG_PROTOCOL, IPPROTO_TCP);
  CHECK(b.finish());
  sd::SockInfo s;
  CHECK(sd::decode(buf.hdr(), &s));
  CHECK_EQ(s.family, AF_INET6);
  CHECK_EQ(s.protocol, IPPROTO_TCP);
  CHECK_EQ(s.state, TCP_LISTEN);
  CHECK_EQ(s.sport, 443);
  CHECK_EQ(s.inode, 12345u);
  CHECK_EQ(s.uid, 1000u);
  uint8_t want[16];
  inet_pton(AF_INET6, "fd00::5", want);
  CHECK(std::memcmp(s.src.bytes, want, 16) == 0);
}

TEST(decode_unix_shows_an_abstract_name_with_an_at_sign_and_a_path_as_is) {
  unix_diag_msg m{};
  m.udiag_family = AF_UNIX;
  m.udiag_type = SOCK_STREAM;
  m.udiag_state = TCP_LISTEN;
  m.udiag_ino = 77;
  for (const auto& [raw, shown] : {std::pair<std::string, std::string>{std::string("\0tenant", 7), "@tenant"}, {"/run/x.sock", "/run/x.sock"}}) {
    Buf buf;
    nl::Builder b = answer(buf, m);
    b.put(UNIX_DIAG_NAME, raw.data(), raw.size());
    CHECK(b.finish());
    sd::SockInfo s;
    CHECK(sd::decode(buf.hdr(), &s));
    CHECK_EQ(s.family, AF_UNIX);
    CHECK_EQ(s.type, SOCK_STREAM);
    CHECK_EQ(s.inode, 77u);
    CHECK_EQ(s.name, shown);
  }
}

TEST(decode_packet_and_netlink_read_their_own_fields) {
  packet_diag_msg pm{};
  pm.pdiag_family = AF_PACKET;
  pm.pdiag_type = SOCK_RAW;
  pm.pdiag_num = 0x0003;  // ETH_P_ALL, in host order as the kernel puts it
  pm.pdiag_ino = 5;
  Buf pb;
  CHECK(answer(pb, pm).finish());
  sd::SockInfo p;
  CHECK(sd::decode(pb.hdr(), &p));
  CHECK_EQ(p.family, AF_PACKET);
  CHECK_EQ(p.ethertype, 3);
  CHECK_EQ(p.inode, 5u);

  netlink_diag_msg nm{};
  nm.ndiag_family = AF_NETLINK;
  nm.ndiag_protocol = 0;  // NETLINK_ROUTE
  nm.ndiag_portid = 4242;
  nm.ndiag_ino = 6;
  Buf nb;
  CHECK(answer(nb, nm).finish());
  sd::SockInfo n;
  CHECK(sd::decode(nb.hdr(), &n));
  CHECK_EQ(n.family, AF_NETLINK);
  CHECK_EQ(n.portid, 4242u);
  CHECK_EQ(n.inode, 6u);
}

TEST(decode_refuses_other_types_unknown_families_and_short_messages) {
  inet_diag_msg m{};
  m.idiag_family = AF_INET;
  Buf buf;
  CHECK(answer(buf, m).finish());
  sd::SockInfo s;
  auto* h = reinterpret_cast<nlmsghdr*>(buf.b);
  h->nlmsg_type = NLMSG_DONE;
  CHECK(!sd::decode(h, &s));
  h->nlmsg_type = SOCK_DIAG_BY_FAMILY;
  buf.b[nl::kHdrLen] = AF_BLUETOOTH;
  CHECK(!sd::decode(h, &s));
  buf.b[nl::kHdrLen] = AF_INET;
  h->nlmsg_len = nl::kHdrLen + 8;  // shorter than inet_diag_msg
  CHECK(!sd::decode(h, &s));
}

TEST(decode_refuses_an_inet_answer_whose_protocol_attribute_is_empty) {
  inet_diag_msg m{};
  m.idiag_family = AF_INET;
  Buf buf;
  nl::Builder b = answer(buf, m);
  b.put(INET_DIAG_PROTOCOL, nullptr, 0);
  CHECK(b.finish());
  sd::SockInfo s;
  CHECK(!sd::decode(buf.hdr(), &s));
}

TEST(proc_raw_listing_gives_one_raw_socket_per_line_with_its_protocol_and_inode) {
  const std::string text =
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
      "  1: 00000000:0001 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 31337 2 0000000000000000 0\n"
      " 58: 0100007F:003A 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 4242 2 0000000000000000 0\n";
  std::vector<sd::SockInfo> out;
  CHECK(sd::parse_proc_raw(text, AF_INET, &out));
  CHECK_EQ(out.size(), 2u);
  if (out.size() == 2) {
    CHECK_EQ(out[0].protocol, IPPROTO_ICMP);
    CHECK_EQ(out[0].inode, 31337u);
    CHECK_EQ(out[0].type, SOCK_RAW);
    CHECK_EQ(out[1].protocol, 58);
    CHECK_EQ(out[1].uid, 1000u);
  }
  std::vector<sd::SockInfo> none;
  CHECK(sd::parse_proc_raw(text.substr(0, text.find('\n') + 1), AF_INET6, &none));
  CHECK(none.empty());
  CHECK(!sd::parse_proc_raw("not a listing\n", AF_INET, &none));
}

TEST(sockstat_counts_come_from_both_files_and_tw_from_the_tcp_line) {
  sd::SockCounts c;
  CHECK(sd::parse_sockstat("sockets: used 20\nTCP: inuse 2 orphan 0 tw 3 alloc 9 mem 0\nUDP: inuse 1 mem 0\nUDPLITE: inuse 0\nRAW: inuse 4\nFRAG: inuse 0 memory 0\n", &c));
  CHECK(sd::parse_sockstat("TCP6: inuse 5\nUDP6: inuse 6\nUDPLITE6: inuse 0\nRAW6: inuse 7\nFRAG6: inuse 0 memory 0\n", &c));
  CHECK_EQ(c.tcp, 2u);
  CHECK_EQ(c.tcp_tw, 3u);
  CHECK_EQ(c.udp, 1u);
  CHECK_EQ(c.raw, 4u);
  CHECK_EQ(c.tcp6, 5u);
  CHECK_EQ(c.udp6, 6u);
  CHECK_EQ(c.raw6, 7u);
  sd::SockCounts none;
  CHECK(!sd::parse_sockstat("nothing here\n", &none));
}

int main() { return nsnet::test::run_all(); }
