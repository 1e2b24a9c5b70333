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

#include <sys/resource.h>

#include <atomic>
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

int pread_value(int fd, std::string* out) {
  char buf[4096];
  const ssize_t n = ::pread(fd, buf, sizeof buf, 0);
  if (n < 0) return -errno;
  out->assign(buf, static_cast<size_t>(n));
  return 0;
}

int pwrite_value(int fd, const std::string& value) {
  return ::pwrite(fd, value.data(), value.size(), 0) < 0 ? -errno : 0;
}

// io(fd) on dir/base opened with flags, or -errno where it cannot be opened.
template <typename Io>
int with_file(int dirfd, const std::string& base, int flags, Io io) {
  if (dirfd < 0) return -ENOENT;
  const int fd = ::openat(dirfd, base.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return -errno;
  const int r = io(fd);
  ::close(fd);
  return r;
}

// The value of dir/base, or -errno (write-only and unreadable files say so).
int read_value(int dirfd, const std::string& base, std::string* out) {
  return with_file(dirfd, base, O_RDONLY, [out](int fd) { return pread_value(fd, out); });
}

int write_value(int dirfd, const std::string& base, const std::string& value) {
  return with_file(dirfd, base, O_WRONLY, [&value](int fd) { return pwrite_value(fd, value); });
}

// Descriptors all caches hold, and the most they may (a quarter of the limit).
std::atomic<long> g_cached{0};
long cache_cap() {
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 4096;
  return static_cast<long>(rl.rlim_cur / 4);
}

// One sweep's access to the files: through the cache where it holds an open
// file, else opened relative to its directory for this access alone.
class Files {
 public:
  Files(Dirs& dirs, std::vector<int>* fds) : dirs_(dirs), fds_(fds) {}
  int read(size_t i, const std::string& path, std::string* out) {
    const int fd = cached(i, path);
    if (fd >= 0) {
      const int r = pread_value(fd, out);
      // Gone stale (the device was renamed, and its directory made again): open afresh.
      if (r == 0) return 0;
      drop(i);
    }
    split(path, &dir_, &base_);
    return read_value(dirs_.at(dir_), base_, out);
  }
  int write(size_t i, const std::string& path, const std::string& value) {
    split(path, &dir_, &base_);
    // O_RDWR when cached: the cache opened it for both.
    const int fd = fds_ && i < fds_->size() ? (*fds_)[i] : -1;
    if (fd >= 0 && pwrite_value(fd, value) == 0) return 0;
    return write_value(dirs_.at(dir_), base_, value);
  }

 private:
  int cached(size_t i, const std::string& path) {
    if (!fds_ || i >= fds_->size()) return -1;
    int& fd = (*fds_)[i];
    if (fd >= 0) return fd;
    if (g_cached.load() >= cache_cap()) return -1;
    split(path, &dir_, &base_);
    const int dirfd = dirs_.at(dir_);
    fd = dirfd < 0 ? -1 : ::openat(dirfd, base_.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) fd = dirfd < 0 ? -1 : ::openat(dirfd, base_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) g_cached++;
    return fd;
  }
  void drop(size_t i) {
    ::close((*fds_)[i]);
    (*fds_)[i] = -1;
    g_cached--;
  }

  Dirs& dirs_;
  std::vector<int>* fds_;
  std::string dir_, base_;
};

// A fresh namespace draws its TCP Fast Open key at random: a restore must
// not hand every namespace the same one (the caller draws a new one).
bool random_per_namespace(const std::string& path) { return path == "ipv4/tcp_fastopen_key"; }

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
    if (!random_per_namespace(path) && read_value(fd, name, &v) == 0) out->emplace_back(path, std::move(v));
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

void SysctlCache::clear() {
  for (int fd : fds_)
    if (fd >= 0) {
      ::close(fd);
      g_cached--;
    }
  fds_.clear();
  for_size_ = 0;
}

bool sysctl_restore(int nsfd, const std::vector<std::pair<std::string, std::string>>& want, SysctlCache* cache,
                    std::vector<std::string>* changed, std::vector<std::pair<std::string, std::string>>* left, io::SysError* err) {
  return run_in(nsfd, err, [&] {
    if (cache && (cache->for_size_ != want.size() || (!want.empty() && (cache->for_first_ != want.front().first || cache->for_last_ != want.back().first)))) {
      cache->clear();
      cache->fds_.assign(want.size(), -1);
      cache->for_size_ = want.size();
      if (!want.empty()) cache->for_first_ = want.front().first, cache->for_last_ = want.back().first;
    }
    Dirs dirs;
    Files files(dirs, cache ? &cache->fds_ : nullptr);
    std::string now;
    std::vector<size_t> written;
    for (size_t i = 0; i < want.size(); i++) {
      if (files.read(i, want[i].first, &now) == 0 && now == want[i].second) continue;
      // A failed write shows in the second reading.
      files.write(i, want[i].first, want[i].second);
      written.push_back(i);
    }
    for (size_t i : written) {
      const int r = files.read(i, want[i].first, &now);
      changed->push_back(want[i].first);
      if (r != 0) left->emplace_back(want[i].first, std::string("(") + strerror(-r) + ")");
      else if (now != want[i].second) left->emplace_back(want[i].first, now);
    }
    return true;
  });
}

}  // namespace nsnet::ns
