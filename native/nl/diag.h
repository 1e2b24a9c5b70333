// sock_diag (NETLINK_SOCK_DIAG): a namespace's inet sockets, as ss lists
// them. Asking the kernel for the listening ones walks only its listening
// hash; /proc/net/tcp walks every bucket of the established one as well,
// which costs milliseconds on a host whose table has 256k buckets. Pure
// codec, as nl.h: no I/O.
#pragma once

#include <linux/netlink.h>

#include <cstdint>

#include "nl.h"

namespace nsnet::diag {

struct SockInfo {
  uint8_t family = 0;      // AF_INET or AF_INET6
  uint8_t state = 0;       // TCP_* (an unconnected UDP socket is TCP_CLOSE)
  uint16_t port = 0;       // local, host order
  uint8_t addr[16] = {};   // local; the first 4 bytes for AF_INET
  uint32_t inode = 0;
};

// One SOCK_DIAG_BY_FAMILY dump of family's sockets of protocol
// (IPPROTO_TCP, IPPROTO_UDP) whose state is in `states`, a mask of
// 1 << TCP_* (TCPF_LISTEN alone: only the listening hash is walked).
bool encode_inet_dump(nl::Builder& b, uint32_t seq, uint8_t family, uint8_t protocol, uint32_t states);

// An inet_diag_msg into *out; false for any other message or one cut short.
bool decode_inet(const nlmsghdr* h, SockInfo* out);

}  // namespace nsnet::diag
