// The CNI plugin binary that runtimes exec (`nsnet`, and `nsnet-ipam` for
// other plugins' ipam sections): no Node start-up on the fast path.
//
// VERSION is answered here. Every other call goes to `nsnet daemon` over
// its unix socket (root only): a header, the CNI_* environment, then stdin
// until shutdown(SHUT_WR); the daemon answers with the exit code and the
// plugin's stdout until it closes. With no daemon listening, the call runs
// in a node process instead (the slow path), with the same environment and
// stdin, so a host without the service still works. Every wait is bounded.
// A daemon that breaks off mid-call gets the call redone by the slow path,
// except ADD, which may have been half done: that one answers 11 (try again
// later), after which a runtime DELs, and DEL never fails for want of a
// daemon.
//
// Wire format (little-endian):
//   request  "NSC1" u32 env_len  env_len bytes of NUL-terminated KEY=VALUE  stdin...
//   reply    "NSC1" u32 exit_code  stdout...
//
// Configuration: `nsnet.conf` beside the binary (written by
// `nsnet cni install`): socket=, node=, entry=, state_dir=, timeout_ms=.
// NSNET_CNI_SOCKET in the environment overrides socket=.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

extern char** environ;

static const char MAGIC[4] = {'N', 'S', 'C', '1'};
// What VERSION answers; src/cni/plugin/plugin.ts's versionInfo() answers the same (a test compares them).
static const char VERSION_REPLY[] = "{\"cniVersion\":\"1.1.0\",\"supportedVersions\":[\"0.3.0\",\"0.3.1\",\"0.4.0\",\"1.0.0\",\"1.1.0\"]}\n";
#define MAX_STDIN (16u << 20)
#define MAX_ENV (64u << 10)
#define CONNECT_MS 2000

struct conf {
  char socket[108];
  char node[PATH_MAX];
  char entry[PATH_MAX];
  char state_dir[PATH_MAX];
  long timeout_ms;
};

struct buf {
  char* p;
  size_t len, cap;
};

static int put(struct buf* b, const void* d, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n) cap *= 2;
    char* p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, d, n);
  b->len += n;
  return 0;
}

static long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

// The spec's error, as a plugin prints it, and the exit code that goes with it.
static int fail(int code, const char* msg, const char* details) {
  printf("{\"cniVersion\":\"1.1.0\",\"code\":%d,\"msg\":\"%s\"", code, msg);
  if (details) {
    // details come from strerror or a path: escape what JSON needs.
    fputs(",\"details\":\"", stdout);
    for (const char* s = details; *s; s++) {
      if (*s == '"' || *s == '\\') putchar('\\');
      if ((unsigned char)*s >= 0x20) putchar(*s);
    }
    putchar('"');
  }
  fputs("}\n", stdout);
  fflush(stdout);
  return 1;
}

static void set_field(char* dst, size_t cap, const char* v) {
  size_t n = strlen(v);
  if (n >= cap) n = cap - 1;
  memcpy(dst, v, n);
  dst[n] = 0;
}

// Reads dir/nsnet.conf; fills what it names. Defaults: the daemon's socket
// and, for the slow path, `node` on PATH and the package's own JS entry
// (the binary sits in build/Release or prebuilds/<platform>, two levels
// below the package root).
static void load_conf(const char* dir, struct conf* c) {
  set_field(c->socket, sizeof c->socket, "/run/nsnet/cni.sock");
  set_field(c->node, sizeof c->node, "node");
  snprintf(c->entry, sizeof c->entry, "%s/../../dist/cni/plugin/main.js", dir);
  c->state_dir[0] = 0;
  c->timeout_ms = 60000;
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/nsnet.conf", dir);
  FILE* f = fopen(path, "re");
  if (f) {
    char line[PATH_MAX + 32];
    while (fgets(line, sizeof line, f)) {
      line[strcspn(line, "\r\n")] = 0;
      char* eq = strchr(line, '=');
      if (line[0] == '#' || !eq) continue;
      *eq = 0;
      const char* v = eq + 1;
      if (!strcmp(line, "socket")) set_field(c->socket, sizeof c->socket, v);
      else if (!strcmp(line, "node")) set_field(c->node, sizeof c->node, v);
      else if (!strcmp(line, "entry")) set_field(c->entry, sizeof c->entry, v);
      else if (!strcmp(line, "state_dir")) set_field(c->state_dir, sizeof c->state_dir, v);
      else if (!strcmp(line, "timeout_ms")) c->timeout_ms = strtol(v, NULL, 10);
    }
    fclose(f);
  }
  const char* s = getenv("NSNET_CNI_SOCKET");
  if (s && *s) set_field(c->socket, sizeof c->socket, s);
  if (c->timeout_ms <= 0) c->timeout_ms = 60000;
}

// The slow path: node runs the plugin with this environment. stdin is
// either still ours to pass on, or (already read) handed over in a memfd.
static int slow_path(const struct conf* c, const char* plugin, const struct buf* stdin_copy) {
  if (stdin_copy) {
    int fd = memfd_create("nsnet-cni-stdin", MFD_CLOEXEC);
    if (fd < 0 || (stdin_copy->len && write(fd, stdin_copy->p, stdin_copy->len) != (ssize_t)stdin_copy->len) || lseek(fd, 0, SEEK_SET) < 0 ||
        dup2(fd, 0) < 0)
      return fail(5, "cannot hand the configuration to the slow path", strerror(errno));
  }
  if (c->state_dir[0] && !getenv("NSNET_STATE_DIR")) setenv("NSNET_STATE_DIR", c->state_dir, 1);
  char* argv[] = {(char*)c->node, (char*)c->entry, (char*)plugin, NULL};
  execvp(c->node, argv);
  return fail(50, "no nsnet daemon answers and node cannot be run for the slow path", strerror(errno));
}

// Connects to the daemon; -1 when none listens (or it does not accept in time).
static int connect_daemon(const struct conf* c) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  set_field(a.sun_path, sizeof a.sun_path, c->socket);
  long deadline = now_ms() + CONNECT_MS;
  for (;;) {
    if (connect(fd, (struct sockaddr*)&a, sizeof a) == 0) return fd;
    // EAGAIN: a live daemon's backlog is full; anything else: no daemon.
    if (errno != EAGAIN || now_ms() >= deadline) break;
    usleep(1000);
  }
  close(fd);
  return -1;
}

// Writes all of d before the deadline; 0 on success.
static int send_all(int fd, const char* d, size_t n, long deadline) {
  while (n) {
    ssize_t w = send(fd, d, n, MSG_NOSIGNAL);
    if (w > 0) {
      d += w;
      n -= (size_t)w;
      continue;
    }
    if (w < 0 && errno != EAGAIN && errno != EINTR) return -1;
    long left = deadline - now_ms();
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    if (left <= 0 || poll(&p, 1, (int)left) < 0) return -1;
  }
  return 0;
}

// Reads until EOF before the deadline; 0 on EOF, -1 on error or timeout.
static int recv_all(int fd, struct buf* out, long deadline) {
  char chunk[65536];
  for (;;) {
    ssize_t r = recv(fd, chunk, sizeof chunk, 0);
    if (r > 0) {
      if (put(out, chunk, (size_t)r) < 0) return -1;
      continue;
    }
    if (r == 0) return 0;
    if (errno != EAGAIN && errno != EINTR) return -1;
    long left = deadline - now_ms();
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (left <= 0 || poll(&p, 1, (int)left) < 0) return -1;
  }
}

static int read_stdin(struct buf* b) {
  char chunk[65536];
  for (;;) {
    ssize_t r = read(0, chunk, sizeof chunk);
    if (r == 0) return 0;
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (b->len + (size_t)r > MAX_STDIN || put(b, chunk, (size_t)r) < 0) {
      errno = EFBIG;
      return -1;
    }
  }
}

int main(int argc, char** argv) {
  (void)argc;
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n < 0) return fail(5, "cannot find the plugin's own directory", strerror(errno));
  self[n] = 0;
  char* base = basename(argv[0]);
  const char* plugin = !strcmp(base, "nsnet-ipam") ? "nsnet-ipam" : "nsnet";
  const char* command = getenv("CNI_COMMAND");
  if (command && !strcmp(command, "VERSION")) {
    fputs(VERSION_REPLY, stdout);
    return 0;
  }
  struct conf c;
  load_conf(dirname(self), &c);

  int fd = connect_daemon(&c);
  if (fd < 0) return slow_path(&c, plugin, NULL);

  // The request: the plugin's name, the CNI_* variables, stdin.
  struct buf env = {0}, in = {0}, req = {0}, rep = {0};
  char name[64];
  int nl = snprintf(name, sizeof name, "NSNET_PLUGIN=%s", plugin);
  put(&env, name, (size_t)nl + 1);
  for (char** e = environ; *e; e++)
    if (!strncmp(*e, "CNI_", 4) && env.len + strlen(*e) + 1 <= MAX_ENV) put(&env, *e, strlen(*e) + 1);
  if (read_stdin(&in) < 0) return fail(5, "cannot read the network configuration from stdin", strerror(errno));
  uint32_t el = (uint32_t)env.len;
  unsigned char len[4] = {el & 0xff, (el >> 8) & 0xff, (el >> 16) & 0xff, el >> 24};
  put(&req, MAGIC, 4);
  put(&req, len, 4);
  put(&req, env.p, env.len);
  if (in.len) put(&req, in.p, in.len);

  long deadline = now_ms() + c.timeout_ms;
  int ok = send_all(fd, req.p, req.len, deadline) == 0 && shutdown(fd, SHUT_WR) == 0 && recv_all(fd, &rep, deadline) == 0 && rep.len >= 8 &&
           !memcmp(rep.p, MAGIC, 4);
  close(fd);
  if (!ok) {
    if (command && !strcmp(command, "ADD")) return fail(11, "the nsnet daemon broke off the call", "try again: the runtime's DEL cleans up what it may have made");
    return slow_path(&c, plugin, &in);
  }
  unsigned char* h = (unsigned char*)rep.p + 4;
  uint32_t code = h[0] | (h[1] << 8) | (h[2] << 16) | ((uint32_t)h[3] << 24);
  if (fwrite(rep.p + 8, 1, rep.len - 8, stdout) != rep.len - 8 || fflush(stdout) != 0) return 1;
  return (int)(code & 0xff);
}
