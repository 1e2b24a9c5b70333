// Pure netlink codec: builds and parses netlink messages in caller-owned
// buffers. No I/O, no N-API, no allocation in the builder (only
// build_grown grows the buffer its caller hands it), so it can be unit
// tested and fuzzed on its own and serves every netlink family we speak
// (rtnetlink in rtnl.h, nf_tables in nft.h).
#pragma once

#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <string_view>
#include <utility>
#include <vector>

namespace nsnet::nl {

constexpr size_t align4(size_t n) { return (n + 3u) & ~size_t{3}; }
constexpr size_t kHdrLen = align4(sizeof(nlmsghdr));
constexpr size_t kAttrHdrLen = align4(sizeof(nlattr));

// Writes one or more messages back to back into [buf, buf+cap). An overflow
// latches ok() to false and turns every later call into a no-op, so callers
// check once after building instead of after every put.
class Builder {
 public:
  Builder(uint8_t* buf, size_t cap) : buf_(buf), cap_(cap) {}

  // Opens a new message at the end of the buffer. Closes the previous one.
  nlmsghdr* begin(uint16_t type, uint16_t flags, uint32_t seq, uint32_t portid = 0);
  // Reserves a zeroed family header (ifinfomsg, rtmsg, nfgenmsg ...).
  void* put_extra(size_t len);
  template <class T>
  T* put_extra() { return static_cast<T*>(put_extra(sizeof(T))); }
  // begin() and put_extra<T>(): null if the header does not fit.
  template <class T>
  T* begin_with(uint16_t type, uint16_t flags, uint32_t seq) {
    begin(type, flags, seq);
    return put_extra<T>();
  }

  bool put(uint16_t type, const void* data, size_t len);
  bool put_flag(uint16_t type) { return put(type, nullptr, 0); }
  bool put_u8(uint16_t type, uint8_t v) { return put(type, &v, sizeof v); }
  bool put_u16(uint16_t type, uint16_t v) { return put(type, &v, sizeof v); }
  bool put_u32(uint16_t type, uint32_t v) { return put(type, &v, sizeof v); }
  bool put_s32(uint16_t type, int32_t v) { return put(type, &v, sizeof v); }
  bool put_u64(uint16_t type, uint64_t v) { return put(type, &v, sizeof v); }
  bool put_be16(uint16_t type, uint16_t host);
  bool put_be32(uint16_t type, uint32_t host);
  bool put_be64(uint16_t type, uint64_t host);
  // NUL-terminated, as the kernel's NLA_STRING/NLA_NUL_STRING policies expect.
  bool put_str(uint16_t type, std::string_view s);

  // Nests are recorded by offset, not pointer, so they stay valid however
  // the caller sizes the buffer. nest_cancel drops a nest and all inside it.
  size_t nest_start(uint16_t type);
  void nest_end(size_t nest);
  void nest_cancel(size_t nest);

  // Sets nlmsg_len of the open message. begin() and size() call it too.
  void end();
  // end(), then whether everything so far fitted: an encoder's last word.
  bool finish() {
    end();
    return ok_;
  }

  bool ok() const { return ok_; }
  size_t size() { end(); return len_; }
  const uint8_t* data() const { return buf_; }
  // Offset of the open message, so ops can map an ACK's error offset back.
  size_t message_offset() const { return msg_; }
  nlmsghdr* message() { return msg_open_ ? reinterpret_cast<nlmsghdr*>(buf_ + msg_) : nullptr; }

 private:
  void* reserve(size_t len);

  uint8_t* buf_;
  size_t cap_;
  size_t len_ = 0;
  size_t msg_ = 0;
  bool msg_open_ = false;
  bool ok_ = true;
};

// The one place that decides whether messages fit: runs build(Builder&)
// on *buf, and while what it builds does not fit, doubles *buf (up to
// `limit` bytes) and builds again. On success *buf holds exactly the
// messages; false means they need more than `limit`. The buffer is the
// caller's, sized by the caller's first guess: a good guess costs one
// allocation and one build.
template <class Build>
bool build_grown(std::vector<uint8_t>* buf, size_t limit, const Build& build) {
  for (;;) {
    Builder b(buf->data(), buf->size());
    build(b);
    if (b.ok()) {
      buf->resize(b.size());
      return true;
    }
    if (buf->size() >= limit) return false;
    buf->resize(std::min(limit, std::max<size_t>(buf->size() * 2, 256)));
  }
}

// One attribute, viewed in place.
struct Attr {
  const nlattr* raw = nullptr;

  explicit operator bool() const { return raw != nullptr; }
  uint16_t type() const { return raw->nla_type & NLA_TYPE_MASK; }
  const uint8_t* data() const { return reinterpret_cast<const uint8_t*>(raw) + kAttrHdrLen; }
  size_t len() const { return raw->nla_len - kAttrHdrLen; }
  uint8_t u8() const { return data()[0]; }
  uint16_t u16() const { uint16_t v; std::memcpy(&v, data(), 2); return v; }
  uint32_t u32() const { uint32_t v; std::memcpy(&v, data(), 4); return v; }
  int32_t s32() const { int32_t v; std::memcpy(&v, data(), 4); return v; }
  uint64_t u64() const { uint64_t v; std::memcpy(&v, data(), 8); return v; }
  uint16_t be16() const;
  uint32_t be32() const;
  // Strings are validated as NUL-terminated or bounded by the policy; the
  // view stops at the first NUL.
  std::string_view str() const;
};

enum class Kind : uint8_t { Any, U8, U16, U32, U64, String, Flag, Nested, Binary };

// Per-type validation, as the kernel's nla_policy: a type not in the table
// (or Kind::Any) is accepted as-is; a listed one must have the right size.
struct Policy {
  Kind kind = Kind::Any;
  uint16_t min_len = 0;  // Binary: minimum length; String: ignored
  uint16_t max_len = 0;  // String/Binary: 0 = unbounded
};

// The fixed-size kinds, as policy table entries.
constexpr Policy kU8{Kind::U8}, kU32{Kind::U32}, kU64{Kind::U64}, kNested{Kind::Nested};

// A policy table for types up to Max, written as {type, policy} pairs: the
// types not listed get Kind::Any. Pass .p to parse().
template <uint16_t Max>
struct Policies {
  Policy p[Max + 1];
  Policies(std::initializer_list<std::pair<uint16_t, Policy>> listed) {
    for (const auto& [type, policy] : listed) p[type] = policy;
  }
};

enum class ParseStatus : uint8_t { Ok, Truncated, BadLength, BadType };

struct ParseResult {
  ParseStatus status = ParseStatus::Ok;
  uint16_t type = 0;  // the offending attribute, when not Ok
  bool ok() const { return status == ParseStatus::Ok; }
};

// Indexes the attribute stream [data, data+len) by type into tb[0..maxtype].
// Types above maxtype are skipped (newer kernels add attributes); a later
// duplicate wins, as in the kernel. policy may be null or hold maxtype+1 entries.
ParseResult parse(const void* data, size_t len, Attr* tb, uint16_t maxtype, const Policy* policy);

// Parses the attributes that follow a message's family header.
ParseResult parse_msg(const nlmsghdr* h, size_t extra_len, Attr* tb, uint16_t maxtype, const Policy* policy);
inline ParseResult parse_nested(Attr a, Attr* tb, uint16_t maxtype, const Policy* policy) {
  return parse(a.data(), a.len(), tb, maxtype, policy);
}

// Walks the messages in a datagram. A message whose length field is out of
// bounds ends the walk and sets truncated().
class MsgIter {
 public:
  MsgIter(const void* buf, size_t len) : p_(static_cast<const uint8_t*>(buf)), left_(len) {}
  const nlmsghdr* next();
  bool truncated() const { return truncated_; }

 private:
  const uint8_t* p_;
  size_t left_;
  bool truncated_ = false;
};

// An NLMSG_ERROR (error 0 is an ACK) or the status carried by NLMSG_DONE,
// with the extended ACK the kernel attached when NETLINK_EXT_ACK is on.
struct Ack {
  int error = 0;              // negative errno, 0 for success
  uint32_t seq = 0;           // sequence of the request it answers
  uint16_t req_type = 0;      // nlmsg_type of the request it answers
  std::string_view message;   // NLMSGERR_ATTR_MSG
  bool has_offset = false;
  uint32_t offset = 0;        // NLMSGERR_ATTR_OFFS: byte offset into the request
  bool has_missing_type = false;
  uint32_t missing_type = 0;  // NLMSGERR_ATTR_MISS_TYPE
};

// Decodes NLMSG_ERROR or NLMSG_DONE. Returns false if the message is neither
// or is malformed.
bool decode_ack(const nlmsghdr* h, Ack* out);

}  // namespace nsnet::nl
