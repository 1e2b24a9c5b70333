// The error every layer below the addon reports: a failed system call or a
// protocol violation, with the name of the operation.
#pragma once

#include <string>

namespace nsnet::io {

struct SysError {
  int err = 0;  // positive errno
  std::string what;
  explicit operator bool() const { return err != 0; }
};

// Fills *err and returns false, so a failing path is one statement:
// `return fail(err, errno, "socket");`
inline bool fail(SysError* err, int e, std::string what) {
  err->err = e;
  err->what = std::move(what);
  return false;
}

// strerror_r's text for e. Works with either strerror_r: glibc with
// _GNU_SOURCE returns the text (maybe not in buf), musl and POSIX return 0
// and fill buf.
const char* errno_text(int e, char* buf, size_t len);

}  // namespace nsnet::io
