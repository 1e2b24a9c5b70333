#include "diag.h"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>

#include <cstring>

namespace nsnet::diag {

bool encode_inet_dump(nl::Builder& b, uint32_t seq, uint8_t family, uint8_t protocol, uint32_t states) {
  auto* r = b.begin_with<inet_diag_req_v2>(SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, seq);
  if (!r) return false;
  r->sdiag_family = family;
  r->sdiag_protocol = protocol;
  r->idiag_states = states;
  return b.finish();
}

bool decode_inet(const nlmsghdr* h, SockInfo* out) {
  if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) return false;
  inet_diag_msg m;
  std::memcpy(&m, NLMSG_DATA(h), sizeof m);
  if (m.idiag_family != AF_INET && m.idiag_family != AF_INET6) return false;
  out->family = m.idiag_family;
  out->state = m.idiag_state;
  out->port = ntohs(m.id.idiag_sport);
  std::memcpy(out->addr, m.id.idiag_src, m.idiag_family == AF_INET ? 4 : 16);
  out->inode = m.idiag_inode;
  return true;
}

}  // namespace nsnet::diag
