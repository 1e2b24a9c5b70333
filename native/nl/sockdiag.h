// NETLINK_SOCK_DIAG messages: the dumps that list a namespace's sockets
// (inet: TCP, UDP and the other inet protocols; unix; packet; netlink) and
// SOCK_DESTROY, which closes one inet socket. Pure like nl.h. The kernel
// answers a dump with the sockets of the namespace the asking socket lives
// in, which is what makes "is anything left in this namespace?" a question
// a socket opened inside it can answer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nl.h"
#include "rtnl.h"

namespace nsnet::sockdiag {

// One socket as the dumps describe it. Fields a family does not report
// stay at their zero value.
struct SockInfo {
  uint8_t family = 0;     // AF_INET, AF_INET6, AF_UNIX, AF_PACKET, AF_NETLINK
  uint8_t protocol = 0;   // inet: IPPROTO_*; netlink: NETLINK_*
  uint8_t type = 0;       // unix and packet: SOCK_*; netlink: SOCK_RAW/DGRAM
  uint8_t state = 0;      // inet and unix: TCP_* (TCP_LISTEN, TCP_ESTABLISHED, TCP_CLOSE ...)
  uint32_t inode = 0;     // 0 for sockets no file holds (TIME_WAIT, orphans)
  uint32_t uid = 0;       // inet
  rtnl::IpAddr src, dst;  // inet
  uint16_t sport = 0, dport = 0;
  uint32_t ifindex = 0;   // inet: the bound device
  uint32_t cookie[2] = {0, 0};
  uint32_t portid = 0;    // netlink: 0 is the kernel's own socket
  uint16_t ethertype = 0; // packet: the protocol it was opened for, host order
  std::string name;       // unix: the bound path, or @name for an abstract one
};

// Dump requests (NLM_F_DUMP). states is a TCPF_* mask (~0 for every state).
bool encode_inet_dump(nl::Builder& b, uint32_t seq, uint8_t family, uint8_t protocol, uint32_t states);
bool encode_unix_dump(nl::Builder& b, uint32_t seq, uint32_t states = ~0u);
bool encode_packet_dump(nl::Builder& b, uint32_t seq);
bool encode_netlink_dump(nl::Builder& b, uint32_t seq);
// SOCK_DESTROY of one inet socket as a dump described it (its full
// identity, cookie included, so only that very socket is closed).
bool encode_inet_destroy(nl::Builder& b, uint32_t seq, const SockInfo& s);

// Decodes one SOCK_DIAG_BY_FAMILY answer of any of the families above.
// False for another message type or a malformed one.
bool decode(const nlmsghdr* h, SockInfo* out);

// Adds the sockets of a /proc/net/raw or /proc/net/raw6 listing (text as
// read inside the namespace): raw sockets, which sock_diag lists only where
// the kernel has raw_diag. False if the text is not such a listing.
bool parse_proc_raw(const std::string& text, uint8_t family, std::vector<SockInfo>* out);

// A namespace's own socket counts, from /proc/net/sockstat and sockstat6
// read inside it: which inet dumps can find anything. A TCP or UDP dump
// walks the whole host's hash table, however few sockets the namespace has.
struct SockCounts {
  uint32_t tcp = 0, tcp_tw = 0, udp = 0, udplite = 0, raw = 0;     // IPv4 (tw: both families)
  uint32_t tcp6 = 0, udp6 = 0, udplite6 = 0, raw6 = 0;
};
// Adds what a sockstat or sockstat6 text says; false if it says nothing we know.
bool parse_sockstat(const std::string& text, SockCounts* out);

}  // namespace nsnet::sockdiag
