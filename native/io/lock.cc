#include "lock.h"

#include <errno.h>
#include <sys/file.h>

namespace nsnet::io {

int try_flock(int fd, bool exclusive) {
  for (;;) {
    if (::flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0) return 0;
    if (errno != EINTR) return -errno;
  }
}

}  // namespace nsnet::io
