// Advisory file locks (flock) that the processes of one state dir share.
// The kernel drops a process's locks when it exits, however it exits, so a
// crash never leaves one held; and none of them ever waits here: a lock
// another process holds is the caller's to try again later.
#pragma once

namespace nsnet::io {

// Takes a shared or an exclusive lock on fd without waiting: 0, -EWOULDBLOCK
// when another open file holds a conflicting one, or another -errno.
int try_flock(int fd, bool exclusive);

}  // namespace nsnet::io
