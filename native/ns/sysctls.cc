// The sweep over a namespace's /proc/sys/net that recycling a namespace
// needs: dump every value of a fresh one, and later put a used one back to
// those values. Files are opened relative to their directory, each
// directory once per sweep: a sweep reads some 700 files, and a path
// walked from / for each would cost more than the reads.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <map>

#include "ns.h"

namespace nsnet::ns {

using io::fail;

namespace {

constexpr const char* kRoot = "/proc/sys/net";

// Directory fds by path below kRoot, closed with the sweep.
class Dirs {
 public:
  ~Dirs() {
    for (auto& [_, fd] : fds_) ::close(fd);
  }
  int at(const std::string& dir) {
    auto it = fds_.find(dir);
    if (it != fds_.end()) return it->second;
    const std::string full = dir.empty() ? kRoot : std::string(kRoot) + "/" + dir;
    const int fd = ::open(full.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    fds_.emplace(dir, fd);
    return fd;
  }

 private:
  std::map<std::string, int> fds_;
};

void split(const std::string& path, std::string* dir, std::string* base) {
  const size_t slash = path.rfind('/');
  *dir = slash == std::string::npos ? "" : path.substr(0, slash);
  *base = slash == std::string::npos ? path : path.substr(slash + 1);
}

// The value of dir/base, or -errno (write-only and unreadable files say so).
int read_value(int dirfd, const std::string& base, std::string* out) {
  if (dirfd < 0) return -ENOENT;
  const int fd = ::openat(dirfd, base.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  char buf[4096];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  const int e = errno;
  ::close(fd);
  if (n < 0) return -e;
  out->assign(buf, static_cast<size_t>(n));
  return 0;
}

int write_value(int dirfd, const std::string& base, const std::string& value) {
  if (dirfd < 0) return -ENOENT;
  const int fd = ::openat(dirfd, base.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  const ssize_t n = ::write(fd, value.data(), value.size());
  const int e = errno;
  ::close(fd);
  return n < 0 ? -e : 0;
}

void walk(Dirs& dirs, const std::string& dir, std::vector<std::pair<std::string, std::string>>* out) {
  const int fd = dirs.at(dir);
  if (fd < 0) return;
  const int dup = ::dup(fd);
  DIR* d = dup >= 0 ? ::fdopendir(dup) : nullptr;
  if (!d) {
    if (dup >= 0) ::close(dup);
    return;
  }
  std::vector<std::pair<std::string, bool>> entries;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    entries.emplace_back(e->d_name, e->d_type == DT_DIR);
  }
  ::closedir(d);
  for (const auto& [name, is_dir] : entries) {
    const std::string path = dir.empty() ? name : dir + "/" + name;
    if (is_dir) {
      walk(dirs, path, out);
      continue;
    }
    std::string v;
    if (read_value(fd, name, &v) == 0) out->emplace_back(path, std::move(v));
  }
}

}  // namespace

bool sysctl_dump(int nsfd, std::vector<std::pair<std::string, std::string>>* out, io::SysError* err) {
  return run_in(nsfd, err, [&] {
    Dirs dirs;
    walk(dirs, "", out);
    return !out->empty() || fail(err, ENOENT, std::string("no readable file under ") + kRoot);
  });
}

bool sysctl_restore(int nsfd, const std::vector<std::pair<std::string, std::string>>& want, std::vector<std::string>* changed,
                    std::vector<std::pair<std::string, std::string>>* left, io::SysError* err) {
  return run_in(nsfd, err, [&] {
    Dirs dirs;
    std::string dir, base, now;
    std::vector<size_t> written;
    for (size_t i = 0; i < want.size(); i++) {
      split(want[i].first, &dir, &base);
      const int fd = dirs.at(dir);
      if (read_value(fd, base, &now) == 0 && now == want[i].second) continue;
      // A failed write shows in the second reading.
      write_value(fd, base, want[i].second);
      written.push_back(i);
    }
    for (size_t i : written) {
      split(want[i].first, &dir, &base);
      const int r = read_value(dirs.at(dir), base, &now);
      changed->push_back(want[i].first);
      if (r != 0) left->emplace_back(want[i].first, std::string("(") + strerror(-r) + ")");
      else if (now != want[i].second) left->emplace_back(want[i].first, now);
    }
    return true;
  });
}

}  // namespace nsnet::ns
