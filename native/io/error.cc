#include "error.h"

#include <string.h>

namespace nsnet::io {

namespace {

// Overloads on strerror_r's return type: the GNU variant's char*, or the
// XSI variant's int.
[[maybe_unused]] const char* text_of(const char* text, const char*) { return text; }
[[maybe_unused]] const char* text_of(int rc, const char* buf) { return rc == 0 ? buf : "Unknown error"; }

}  // namespace

const char* errno_text(int e, char* buf, size_t len) {
  buf[0] = '\0';
  return text_of(strerror_r(e, buf, len), buf);
}

}  // namespace nsnet::io
