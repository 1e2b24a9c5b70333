// A message buffer for the codec's unit tests: pre-filled with a poison
// byte, so that the zeroing of padding and family headers is observable;
// and a message's family header, read from it.
#pragma once

#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "nl.h"

namespace nsnet::test {

constexpr uint8_t kPoison = 0xEE;

struct Buf {
  alignas(8) uint8_t b[8192];
  Buf() { std::memset(b, kPoison, sizeof b); }
  const nlmsghdr* hdr(size_t off = 0) const { return reinterpret_cast<const nlmsghdr*>(b + off); }
};

template <class T>
T family_header(const nlmsghdr* h) {
  T t;
  std::memcpy(&t, reinterpret_cast<const uint8_t*>(h) + nl::kHdrLen, sizeof t);
  return t;
}

}  // namespace nsnet::test
