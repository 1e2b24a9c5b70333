// Shared by the libFuzzer targets in native/fuzz: broken invariants, a
// reader of the fuzzer's bytes, and datagrams made up from them.
#pragma once

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "nl.h"
#include "rtnl.h"

namespace nsnet::fuzz {

[[noreturn]] inline void broken(const char* what, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, what);
  std::abort();
}
#define INVARIANT(c) \
  do {               \
    if (!(c)) ::nsnet::fuzz::broken(#c, __FILE__, __LINE__); \
  } while (0)

// Reads the fuzzer's bytes as values; past the end, every read is zero.
struct Reader {
  const uint8_t* p;
  size_t n;
  uint8_t u8() {
    if (!n) return 0;
    n--;
    return *p++;
  }
  uint16_t u16() { return static_cast<uint16_t>(u8() | (u8() << 8)); }
  uint32_t u32() { return u16() | (static_cast<uint32_t>(u16()) << 16); }
  bool bit() { return u8() & 1; }
  std::string_view bytes(size_t want) {
    const size_t k = std::min(want, n);
    std::string_view s(reinterpret_cast<const char*>(p), k);
    p += k;
    n -= k;
    return s;
  }
  // One of the values a caller cares about, or now and then any value.
  uint32_t pick(const std::vector<uint32_t>& likely) {
    const uint8_t b = u8();
    if (likely.empty() || b >= 0xf0) return u32();
    return likely[b % likely.size()];
  }
};

// Appends one message to b, numbered seq and addressed to port: an ACK or
// error (with or without extended-ACK attributes, capped or not), a dump's
// NLMSG_DONE, a link/address/route the decoders accept, NLMSG_NOOP, or a
// type and payload taken raw from r. flags are r's too, so NLM_F_DUMP_INTR,
// NLM_F_MULTI and friends come and go.
inline void put_message(nl::Builder& b, Reader& r, uint32_t seq, uint32_t port) {
  const uint8_t what = r.u8() % 8;
  uint16_t flags = r.u16();
  switch (what) {
    case 0:
    case 1: {  // NLMSG_ERROR
      static const int kErrors[] = {0, -ENOBUFS, -EINVAL, -EEXIST, -ERESTART, -EBUSY, 5, INT32_MIN};
      const bool tlvs = r.bit(), capped = r.bit();
      flags = static_cast<uint16_t>((flags & ~(NLM_F_ACK_TLVS | NLM_F_CAPPED)) | (tlvs ? NLM_F_ACK_TLVS : 0) |
                                    (capped ? NLM_F_CAPPED : 0));
      b.begin(NLMSG_ERROR, flags, seq, port);
      auto* e = static_cast<nlmsgerr*>(b.put_extra(sizeof(nlmsgerr)));
      if (!e) return;
      e->error = kErrors[r.u8() % 8];
      e->msg.nlmsg_len = r.bit() ? r.u32() : sizeof(nlmsghdr);
      e->msg.nlmsg_seq = seq;
      e->msg.nlmsg_type = r.u16();
      if (!capped) b.put_extra(r.u8() % 24);  // some of the echoed request
      if (tlvs) {
        if (r.bit()) b.put_str(NLMSGERR_ATTR_MSG, r.bytes(r.u8() % 40));
        if (r.bit()) b.put_u32(NLMSGERR_ATTR_OFFS, r.u32());
        if (r.bit()) {  // one the decoder does not know
          const uint16_t type = r.u8() % 8;
          const std::string_view v = r.bytes(r.u8() % 8);
          b.put(type, v.data(), v.size());
        }
      }
      return;
    }
    case 2: {  // NLMSG_DONE, with its status or (an old kernel's) without
      b.begin(NLMSG_DONE, flags, seq, port);
      if (r.bit())
        if (auto* status = static_cast<int*>(b.put_extra(sizeof(int)))) *status = r.bit() ? 0 : -static_cast<int>(r.u8());
      if (flags & NLM_F_ACK_TLVS) b.put_str(NLMSGERR_ATTR_MSG, r.bytes(r.u8() % 16));
      return;
    }
    case 3: {
      rtnl::LinkSpec l;
      l.ifindex = static_cast<int32_t>(r.u8());
      l.name = std::string(r.bytes(r.u8() % 16));
      l.mtu = r.bit() ? static_cast<int64_t>(r.u16()) : -1;
      rtnl::encode_link_new(b, seq, flags, l);
      if (r.bit()) rtnl::encode_link_del(b, seq, l.ifindex, l.name);
      break;
    }
    case 4: {
      rtnl::AddrSpec a;
      a.ifindex = r.u8();
      a.local.family = r.bit() ? AF_INET6 : AF_INET;
      for (size_t i = 0; i < a.local.size(); i++) a.local.bytes[i] = r.u8();
      a.prefixlen = r.u8() % 129;
      rtnl::encode_addr(b, r.bit() ? RTM_DELADDR : RTM_NEWADDR, seq, flags, a);
      break;
    }
    case 5: {
      rtnl::RouteSpec s;
      s.family = r.bit() ? AF_INET6 : AF_INET;
      s.dst_len = 0;
      s.oif = r.u8();
      s.table = r.u8();
      rtnl::encode_route(b, r.bit() ? RTM_DELROUTE : RTM_NEWROUTE, seq, flags, s);
      break;
    }
    case 6: b.begin(NLMSG_NOOP, flags, seq, port); return;
    default: {  // anything: a type and payload as they come
      b.begin(r.u16(), flags, seq, port);
      const std::string_view raw = r.bytes(r.u8());
      if (void* p = b.put_extra(raw.size())) std::memcpy(p, raw.data(), raw.size());
      return;
    }
  }
  // The encoders number their messages but leave the port 0 and set their
  // own flags; make them answers as the kernel sends them.
  if (nlmsghdr* h = b.message()) {
    h->nlmsg_pid = port;
    h->nlmsg_flags = flags;
  }
}

// A datagram of up to 8 messages (each numbered one of `seqs`, addressed
// to one of `ports`, now and then any), sometimes with a tail that claims
// more bytes than it has, as a datagram cut short would.
inline std::vector<uint8_t> make_datagram(Reader& r, const std::vector<uint32_t>& seqs,
                                          const std::vector<uint32_t>& ports) {
  std::vector<uint8_t> out(4096);
  nl::Builder b(out.data(), out.size());
  const int n = 1 + r.u8() % 8;
  for (int i = 0; i < n && r.n; i++) put_message(b, r, r.pick(seqs), r.pick(ports));
  out.resize(b.ok() ? b.size() : 0);
  if (r.u8() >= 0xe0) {  // a message whose length runs past the end
    nlmsghdr h{};
    h.nlmsg_len = static_cast<uint32_t>(sizeof h + 1 + r.u8());
    h.nlmsg_type = r.bit() ? NLMSG_DONE : RTM_NEWLINK;
    h.nlmsg_seq = r.pick(seqs);
    h.nlmsg_pid = r.pick(ports);
    const auto* p = reinterpret_cast<const uint8_t*>(&h);
    out.insert(out.end(), p, p + sizeof h);
  }
  return out;
}

}  // namespace nsnet::fuzz
