#include "nl.h"

#include <endian.h>

namespace nsnet::nl {

void* Builder::reserve(size_t len) {
  const size_t need = align4(len);
  if (!ok_ || need > cap_ - len_) {
    ok_ = false;
    return nullptr;
  }
  void* p = buf_ + len_;
  std::memset(p, 0, need);
  len_ += need;
  return p;
}

nlmsghdr* Builder::begin(uint16_t type, uint16_t flags, uint32_t seq, uint32_t portid) {
  end();
  const size_t at = len_;
  auto* h = static_cast<nlmsghdr*>(reserve(kHdrLen));
  if (!h) return nullptr;
  msg_ = at;
  msg_open_ = true;
  h->nlmsg_type = type;
  h->nlmsg_flags = flags;
  h->nlmsg_seq = seq;
  h->nlmsg_pid = portid;
  h->nlmsg_len = static_cast<uint32_t>(kHdrLen);
  return h;
}

void* Builder::put_extra(size_t len) {
  if (!msg_open_) {
    ok_ = false;
    return nullptr;
  }
  return reserve(len);
}

bool Builder::put(uint16_t type, const void* data, size_t len) {
  if (!msg_open_ || len > 0xffff - kAttrHdrLen) {
    ok_ = false;
    return false;
  }
  auto* a = static_cast<nlattr*>(reserve(kAttrHdrLen + len));
  if (!a) return false;
  a->nla_type = type;
  a->nla_len = static_cast<uint16_t>(kAttrHdrLen + len);
  if (len) std::memcpy(reinterpret_cast<uint8_t*>(a) + kAttrHdrLen, data, len);
  return true;
}

bool Builder::put_be16(uint16_t type, uint16_t host) { return put_u16(type, htobe16(host)); }
bool Builder::put_be32(uint16_t type, uint32_t host) { return put_u32(type, htobe32(host)); }
bool Builder::put_be64(uint16_t type, uint64_t host) { return put_u64(type, htobe64(host)); }

bool Builder::put_str(uint16_t type, std::string_view s) {
  if (!msg_open_ || s.size() + 1 > 0xffff - kAttrHdrLen) {
    ok_ = false;
    return false;
  }
  auto* a = static_cast<nlattr*>(reserve(kAttrHdrLen + s.size() + 1));
  if (!a) return false;
  a->nla_type = type;
  a->nla_len = static_cast<uint16_t>(kAttrHdrLen + s.size() + 1);
  if (!s.empty()) std::memcpy(reinterpret_cast<uint8_t*>(a) + kAttrHdrLen, s.data(), s.size());
  return true;
}

size_t Builder::nest_start(uint16_t type) {
  const size_t at = len_;
  if (!put(type | NLA_F_NESTED, nullptr, 0)) return SIZE_MAX;
  return at;
}

void Builder::nest_end(size_t nest) {
  if (!ok_ || nest == SIZE_MAX || nest >= len_) {
    ok_ = false;
    return;
  }
  const size_t n = len_ - nest;
  if (n > 0xffff) {
    ok_ = false;
    return;
  }
  reinterpret_cast<nlattr*>(buf_ + nest)->nla_len = static_cast<uint16_t>(n);
}

void Builder::nest_cancel(size_t nest) {
  if (nest == SIZE_MAX || nest > len_) return;
  len_ = nest;
}

void Builder::end() {
  if (msg_open_ && ok_) reinterpret_cast<nlmsghdr*>(buf_ + msg_)->nlmsg_len = static_cast<uint32_t>(len_ - msg_);
}

uint16_t Attr::be16() const { return be16toh(u16()); }
uint32_t Attr::be32() const { return be32toh(u32()); }

std::string_view Attr::str() const {
  const char* s = reinterpret_cast<const char*>(data());
  const void* nul = std::memchr(s, 0, len());
  return std::string_view(s, nul ? static_cast<const char*>(nul) - s : len());
}

static bool valid(Attr a, const Policy& p) {
  const size_t n = a.len();
  switch (p.kind) {
    case Kind::Any: return true;
    case Kind::U8: return n >= 1;
    case Kind::U16: return n >= 2;
    case Kind::U32: return n >= 4;
    case Kind::U64: return n >= 8;
    case Kind::Flag: return n == 0;
    case Kind::Nested: return n == 0 || n >= kAttrHdrLen;
    case Kind::String:
      // Either NUL-terminated within the attribute, or bounded by max_len.
      return (n > 0 && std::memchr(a.data(), 0, n)) || (p.max_len && n <= p.max_len);
    case Kind::Binary: return n >= p.min_len && (!p.max_len || n <= p.max_len);
  }
  return false;
}

ParseResult parse(const void* data, size_t len, Attr* tb, uint16_t maxtype, const Policy* policy) {
  for (size_t i = 0; i <= maxtype; i++) tb[i] = Attr{};
  const auto* p = static_cast<const uint8_t*>(data);
  while (len >= kAttrHdrLen) {
    const auto* a = reinterpret_cast<const nlattr*>(p);
    if (a->nla_len < kAttrHdrLen || a->nla_len > len) return {ParseStatus::Truncated, static_cast<uint16_t>(a->nla_type & NLA_TYPE_MASK)};
    Attr attr{a};
    const uint16_t t = attr.type();
    if (t <= maxtype) {
      if (policy && !valid(attr, policy[t])) return {ParseStatus::BadLength, t};
      tb[t] = attr;
    }
    const size_t step = align4(a->nla_len);
    if (step >= len) break;
    p += step;
    len -= step;
  }
  return {};
}

ParseResult parse_msg(const nlmsghdr* h, size_t extra_len, Attr* tb, uint16_t maxtype, const Policy* policy) {
  const size_t off = kHdrLen + align4(extra_len);
  if (h->nlmsg_len < kHdrLen + extra_len) return {ParseStatus::Truncated, 0};
  if (h->nlmsg_len <= off) return parse(nullptr, 0, tb, maxtype, policy);
  return parse(reinterpret_cast<const uint8_t*>(h) + off, h->nlmsg_len - off, tb, maxtype, policy);
}

const nlmsghdr* MsgIter::next() {
  if (left_ < sizeof(nlmsghdr)) {
    if (left_) truncated_ = true;
    return nullptr;
  }
  const auto* h = reinterpret_cast<const nlmsghdr*>(p_);
  if (h->nlmsg_len < sizeof(nlmsghdr) || h->nlmsg_len > left_) {
    truncated_ = true;
    left_ = 0;
    return nullptr;
  }
  const size_t step = align4(h->nlmsg_len);
  if (step >= left_) {
    left_ = 0;
  } else {
    p_ += step;
    left_ -= step;
  }
  return h;
}

bool decode_ack(const nlmsghdr* h, Ack* out) {
  *out = Ack{};
  const auto* base = reinterpret_cast<const uint8_t*>(h);
  if (h->nlmsg_type == NLMSG_DONE) {
    out->seq = h->nlmsg_seq;
    if (h->nlmsg_len >= kHdrLen + sizeof(int)) std::memcpy(&out->error, base + kHdrLen, sizeof(int));
    if (out->error > 0) out->error = -out->error;
    const size_t off = kHdrLen + align4(sizeof(int));
    if ((h->nlmsg_flags & NLM_F_ACK_TLVS) && h->nlmsg_len > off) {
      Attr tb[NLMSGERR_ATTR_MAX + 1];
      if (parse(base + off, h->nlmsg_len - off, tb, NLMSGERR_ATTR_MAX, nullptr).ok() && tb[NLMSGERR_ATTR_MSG])
        out->message = tb[NLMSGERR_ATTR_MSG].str();
    }
    return true;
  }
  if (h->nlmsg_type != NLMSG_ERROR) return false;
  if (h->nlmsg_len < kHdrLen + sizeof(nlmsgerr)) return false;
  nlmsgerr e;
  std::memcpy(&e, base + kHdrLen, sizeof e);
  // Negative, as the kernel sends it (and as DONE's status is made above).
  out->error = e.error > 0 ? -e.error : e.error;
  out->seq = e.msg.nlmsg_seq;
  out->req_type = e.msg.nlmsg_type;
  if (!(h->nlmsg_flags & NLM_F_ACK_TLVS)) return true;
  // The echoed request is only the header when capped, else all of it.
  size_t off = kHdrLen + sizeof(int);
  if (h->nlmsg_flags & NLM_F_CAPPED) {
    off += kHdrLen;
  } else {
    if (e.msg.nlmsg_len < sizeof(nlmsghdr)) return true;
    off += align4(e.msg.nlmsg_len);
  }
  if (off >= h->nlmsg_len) return true;
  Attr tb[NLMSGERR_ATTR_MAX + 1];
  static const Policy policy[NLMSGERR_ATTR_MAX + 1] = {
      {}, {Kind::String, 0, 0}, {Kind::U32}, {}, {}, {Kind::U32}, {Kind::U32},
  };
  if (!parse(base + off, h->nlmsg_len - off, tb, NLMSGERR_ATTR_MAX, policy).ok()) return true;
  if (tb[NLMSGERR_ATTR_MSG]) out->message = tb[NLMSGERR_ATTR_MSG].str();
  if (tb[NLMSGERR_ATTR_OFFS]) {
    out->has_offset = true;
    out->offset = tb[NLMSGERR_ATTR_OFFS].u32();
  }
  if (tb[NLMSGERR_ATTR_MISS_TYPE]) {
    out->has_missing_type = true;
    out->missing_type = tb[NLMSGERR_ATTR_MISS_TYPE].u32();
  }
  return true;
}

}  // namespace nsnet::nl
