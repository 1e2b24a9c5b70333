/*
 * floor.c: the "C floor" of the nsnet bench. It builds the same bridge-mode
 * sandboxes as every other peer, with raw rtnetlink and nothing else, so the
 * others have a lower bound to be compared with.
 *
 * Build: cc -O2 -Wall -o floor floor.c
 * Usage: floor --n 100 [--rundir /run/netns] [--prefix nsb] [--explicit] [--json]
 *        floor --op K [--get]  K single round trips (set lo up, or read lo), each timed, as JSON
 *        floor --encode K      builds one sandbox's requests K times (no I/O): ns per sandbox, as JSON
 *        floor --churn K       K create+release cycles one after another: cycles per second, as JSON
 *
 * Run it only inside a private network+mount namespace: it creates a bridge
 * in the current netns and mounts namespaces under the rundir.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_link.h>
#include <linux/veth.h>

#define BRIDGE "nsbr0"
#define GATEWAY 0x0ac80001u /* 10.200.0.1 */
#define PREFIXLEN 16
#define SELF_NS "/proc/thread-self/ns/net"

struct sandbox {
	char path[PATH_MAX];
	char veth[IFNAMSIZ];
	int nl;   /* rtnetlink socket living in the sandbox */
	int nsfd;
	int created, mounted;
};

static struct sandbox *sbs;
static int nsbs; /* sandboxes that may hold state */
static int orig_ns = -1, host_nl = -1, br_index;
static int bridge_made, rundir_made, rundir_bound;
static const char *rundir = "/run/netns", *prefix = "nsb";

static void cleanup(void);

static _Noreturn void die(const char *fmt, ...)
{
	va_list ap;
	fputs("floor: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cleanup();
	exit(1);
}

/* ---- request building: requests are laid out back to back in tx ---- */

static char tx[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
static size_t txlen;
static int txcount;
static uint32_t seq, txfirst;
static char txwhat[8][128];

static void begin(void)
{
	txlen = 0;
	txcount = 0;
	txfirst = seq + 1;
}

static struct nlmsghdr *msg(uint16_t type, uint16_t flags, const void *body, size_t len,
			    const char *fmt, ...)
{
	struct nlmsghdr *h = (struct nlmsghdr *)(tx + txlen);
	va_list ap;

	if (txcount == 8 || txlen + NLMSG_SPACE(len) > sizeof tx)
		die("request buffer overflow");
	memset(h, 0, NLMSG_SPACE(len));
	h->nlmsg_len = NLMSG_LENGTH(len);
	h->nlmsg_type = type;
	h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	h->nlmsg_seq = ++seq;
	memcpy(NLMSG_DATA(h), body, len);
	va_start(ap, fmt);
	vsnprintf(txwhat[txcount++], sizeof txwhat[0], fmt, ap);
	va_end(ap);
	txlen += NLMSG_ALIGN(h->nlmsg_len);
	return h;
}

/* Appends to the last message; nests work because they end where the message ends. */
static struct rtattr *attr(struct nlmsghdr *h, uint16_t type, const void *data, size_t len)
{
	struct rtattr *a = (struct rtattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));

	if ((char *)a + RTA_SPACE(len) > tx + sizeof tx)
		die("request buffer overflow");
	memset(a, 0, RTA_SPACE(len));
	a->rta_type = type;
	a->rta_len = RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(a), data, len);
	h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + RTA_SPACE(len);
	txlen = (size_t)((char *)h - tx) + h->nlmsg_len;
	return a;
}

static void attr_u32(struct nlmsghdr *h, uint16_t type, uint32_t v) { attr(h, type, &v, 4); }
static void attr_str(struct nlmsghdr *h, uint16_t type, const char *s) { attr(h, type, s, strlen(s) + 1); }
static struct rtattr *nest(struct nlmsghdr *h, uint16_t type) { return attr(h, type | NLA_F_NESTED, NULL, 0); }
static void nest_end(struct nlmsghdr *h, struct rtattr *a) { a->rta_len = (unsigned short)((char *)h + h->nlmsg_len - (char *)a); }

/* A link's IPv6 address generation off (IN6_ADDR_GEN_MODE_NONE): no
 * link-local address, so no DAD, MLD or router solicitation floods the bridge.
 * The kernel applies IFLA_AF_SPEC after the flags, so this goes before "up". */
static void addrgen_none(const char *what, int ifindex, const char *name)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex };
	struct nlmsghdr *h = msg(RTM_NEWLINK, 0, &ifi, sizeof ifi, "%s", what);
	struct rtattr *af, *v6;
	uint8_t none = IN6_ADDR_GEN_MODE_NONE;

	if (!ifindex)
		attr_str(h, IFLA_IFNAME, name);
	af = nest(h, IFLA_AF_SPEC);
	v6 = nest(h, AF_INET6);
	attr(h, IFLA_INET6_ADDR_GEN_MODE, &none, 1);
	nest_end(h, v6);
	nest_end(h, af);
}

/* ---- exchange ---- */

static char rx[32768] __attribute__((aligned(NLMSG_ALIGNTO)));
static int nl_failed; /* index into txwhat of the failing request, -1 for I/O errors */
static char nl_ext[256];

static void ext_ack(const struct nlmsghdr *h)
{
	const struct nlmsgerr *e = NLMSG_DATA(h);
	size_t off = sizeof *e;
	int len;

	nl_ext[0] = 0;
	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(h->nlmsg_flags & NLM_F_CAPPED))
		off += NLMSG_ALIGN(e->msg.nlmsg_len - NLMSG_HDRLEN);
	len = (int)(h->nlmsg_len - NLMSG_HDRLEN - off);
	for (const struct rtattr *a = (const void *)((const char *)e + off); RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type == NLMSGERR_ATTR_MSG)
			snprintf(nl_ext, sizeof nl_ext, "%.*s", (int)RTA_PAYLOAD(a), (const char *)RTA_DATA(a));
}

/*
 * Sends everything queued since begin() in one sendmsg and collects one ACK
 * per request, matched by sequence number. Returns 0 or the first -errno.
 */
static int exchange(int fd, int *ifindex)
{
	int pending = txcount, err = 0;

	nl_failed = -1;
	nl_ext[0] = 0;
	if (send(fd, tx, txlen, 0) != (ssize_t)txlen)
		return -errno;
	while (pending > 0) {
		ssize_t n = recv(fd, rx, sizeof rx, 0);
		int len = (int)n;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (struct nlmsghdr *h = (void *)rx; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_seq < txfirst || h->nlmsg_seq >= txfirst + (uint32_t)txcount)
				continue; /* stale reply to an earlier exchange */
			if (h->nlmsg_type == RTM_NEWLINK && ifindex)
				*ifindex = ((struct ifinfomsg *)NLMSG_DATA(h))->ifi_index;
			if (h->nlmsg_type != NLMSG_ERROR)
				continue;
			pending--;
			int e = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
			if (e && !err) {
				err = e;
				nl_failed = (int)(h->nlmsg_seq - txfirst);
				ext_ack(h);
			}
		}
	}
	return err;
}

static void talk(int fd, const char *who, int *ifindex)
{
	int err = exchange(fd, ifindex);

	if (!err)
		return;
	die("%s: %s: %s (errno %d)%s%s", who, nl_failed >= 0 ? txwhat[nl_failed] : "netlink I/O",
	    strerror(-err), -err, nl_ext[0] ? "; kernel says: " : "", nl_ext);
}

static int nl_open(void)
{
	int one = 1, fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		die("socket(NETLINK_ROUTE): %s", strerror(errno));
	/* EXT_ACK: the kernel says why a request failed; CAP_ACK: it does not echo the request back */
	if (setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one) < 0 ||
	    setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one) < 0)
		die("setsockopt(SOL_NETLINK): %s", strerror(errno));
	return fd;
}

static int get_link(int fd, const char *who, const char *name)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	struct nlmsghdr *h;
	int index = 0;

	begin();
	h = msg(RTM_GETLINK, 0, &ifi, sizeof ifi, "get link %s", name);
	attr_str(h, IFLA_IFNAME, name);
	attr_u32(h, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS); /* keeps the reply small */
	talk(fd, who, &index);
	if (index <= 0)
		die("%s: no ifindex in reply for %s", who, name);
	return index;
}

static void queue_del_link(const char *name)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };

	attr_str(msg(RTM_DELLINK, 0, &ifi, sizeof ifi, "delete link %s", name), IFLA_IFNAME, name);
}

/* ---- the work ---- */

static void prepare_rundir(void)
{
	if (mkdir(rundir, 0755) == 0)
		rundir_made = 1;
	else if (errno != EEXIST)
		die("mkdir %s: %s", rundir, strerror(errno));
	/* Shared like iproute2 makes it, so namespace mounts show up in other mount namespaces.
	 * EINVAL means rundir is not a mount point yet: bind it onto itself first. */
	if (mount("none", rundir, NULL, MS_SHARED | MS_REC, NULL) == 0)
		return;
	if (errno != EINVAL)
		die("make %s shared: %s", rundir, strerror(errno));
	if (mount(rundir, rundir, "none", MS_BIND | MS_REC, NULL) < 0)
		die("bind %s onto itself: %s", rundir, strerror(errno));
	rundir_bound = 1;
	if (mount("none", rundir, NULL, MS_SHARED | MS_REC, NULL) < 0)
		die("make %s shared: %s", rundir, strerror(errno));
}

static void make_bridge(void)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_flags = IFF_UP, .ifi_change = IFF_UP };
	struct ifaddrmsg ifa = { .ifa_family = AF_INET, .ifa_prefixlen = PREFIXLEN };
	uint32_t gw = htonl(GATEWAY);
	struct nlmsghdr *h;
	struct rtattr *li;

	begin();
	h = msg(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof ifi, "create bridge " BRIDGE);
	attr_str(h, IFLA_IFNAME, BRIDGE);
	li = nest(h, IFLA_LINKINFO);
	attr_str(h, IFLA_INFO_KIND, "bridge");
	nest_end(h, li);
	talk(host_nl, "setup", NULL);
	bridge_made = 1;
	br_index = get_link(host_nl, "setup", BRIDGE);

	begin();
	ifa.ifa_index = (uint32_t)br_index;
	h = msg(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &ifa, sizeof ifa, "add 10.200.0.1/16 to " BRIDGE);
	attr(h, IFA_LOCAL, &gw, 4);
	attr(h, IFA_ADDRESS, &gw, 4);
	talk(host_nl, "setup", NULL);
}

/* The host's batch: the veth's host end enslaved at creation, then IPv6
 * address generation off and up, as nsnet's bridge driver does; the peer is
 * born inside the sandbox. Asking for the peer up here fails with ENOTCONN,
 * hence the later request. */
static void queue_host(const struct sandbox *s)
{
	struct nlmsghdr *h;
	struct rtattr *li, *data, *peer;

	begin();
	struct ifinfomsg host = { .ifi_family = AF_UNSPEC };
	struct ifinfomsg pifi = { .ifi_family = AF_UNSPEC };
	h = msg(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &host, sizeof host, "create veth %s", s->veth);
	attr_str(h, IFLA_IFNAME, s->veth);
	attr_u32(h, IFLA_MASTER, (uint32_t)br_index);
	li = nest(h, IFLA_LINKINFO);
	attr_str(h, IFLA_INFO_KIND, "veth");
	data = nest(h, IFLA_INFO_DATA);
	peer = attr(h, VETH_INFO_PEER | NLA_F_NESTED, &pifi, sizeof pifi);
	attr_str(h, IFLA_IFNAME, "eth0");
	attr_u32(h, IFLA_NET_NS_FD, (uint32_t)s->nsfd);
	nest_end(h, peer);
	nest_end(h, data);
	nest_end(h, li);
	addrgen_none("veth address generation off", 0, s->veth);
	struct ifinfomsg hostup = { .ifi_family = AF_UNSPEC, .ifi_flags = IFF_UP, .ifi_change = IFF_UP };
	h = msg(RTM_NEWLINK, 0, &hostup, sizeof hostup, "set %s up", s->veth);
	attr_str(h, IFLA_IFNAME, s->veth);
}

/* The sandbox's batch: eth0's address generation off, up, address, default route. */
static void queue_inside(int eth0, uint32_t addr)
{
	uint32_t gw = htonl(GATEWAY);
	struct nlmsghdr *h;

	begin();
	addrgen_none("eth0 address generation off", eth0, NULL);
	struct ifinfomsg up = { .ifi_family = AF_UNSPEC, .ifi_index = eth0, .ifi_flags = IFF_UP, .ifi_change = IFF_UP };
	msg(RTM_NEWLINK, 0, &up, sizeof up, "set eth0 up");
	struct ifaddrmsg ifa = { .ifa_family = AF_INET, .ifa_prefixlen = PREFIXLEN, .ifa_index = (uint32_t)eth0 };
	h = msg(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &ifa, sizeof ifa, "add address to eth0");
	attr(h, IFA_LOCAL, &addr, 4);
	attr(h, IFA_ADDRESS, &addr, 4);
	struct rtmsg rt = { .rtm_family = AF_INET, .rtm_table = RT_TABLE_MAIN, .rtm_protocol = RTPROT_BOOT,
			    .rtm_scope = RT_SCOPE_UNIVERSE, .rtm_type = RTN_UNICAST };
	h = msg(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &rt, sizeof rt, "add default route");
	attr(h, RTA_GATEWAY, &gw, 4);
	attr_u32(h, RTA_OIF, (uint32_t)eth0);
}

static uint32_t sandbox_addr(int i) { return htonl((GATEWAY & 0xffff0000u) | (uint32_t)(i + 2)); }

static void setup(int i)
{
	struct sandbox *s = &sbs[i];
	const char *who = s->path;
	uint32_t addr = sandbox_addr(i);
	int fd, eth0;

	nsbs = i + 1;
	if (unshare(CLONE_NEWNET) < 0)
		die("%s: unshare(CLONE_NEWNET): %s", who, strerror(errno));
	fd = open(s->path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0)
		die("%s: create mountpoint: %s", who, strerror(errno));
	close(fd);
	s->created = 1;
	if (mount(SELF_NS, s->path, "none", MS_BIND, NULL) < 0)
		die("%s: bind %s: %s", who, SELF_NS, strerror(errno));
	s->mounted = 1;

	s->nl = nl_open(); /* a netlink socket acts on the netns it was created in */
	begin();
	struct ifinfomsg lo = { .ifi_family = AF_UNSPEC, .ifi_index = 1, .ifi_flags = IFF_UP, .ifi_change = IFF_UP };
	msg(RTM_NEWLINK, 0, &lo, sizeof lo, "set lo up");
	talk(s->nl, who, NULL);
	s->nsfd = open(SELF_NS, O_RDONLY | O_CLOEXEC);
	if (s->nsfd < 0)
		die("%s: open %s: %s", who, SELF_NS, strerror(errno));
	if (setns(orig_ns, CLONE_NEWNET) < 0)
		die("%s: setns back to the original netns: %s", who, strerror(errno));

	queue_host(s);
	talk(host_nl, who, NULL);

	eth0 = get_link(s->nl, who, "eth0");
	queue_inside(eth0, addr);
	talk(s->nl, who, NULL);
}

/* Dropping the last reference (mount, fds, sockets) lets the kernel destroy the netns. */
static int release(struct sandbox *s)
{
	int err = 0;

	if (s->nl >= 0)
		close(s->nl), s->nl = -1;
	if (s->nsfd >= 0)
		close(s->nsfd), s->nsfd = -1;
	if (s->mounted) {
		if (umount2(s->path, MNT_DETACH) < 0)
			err = errno;
		else
			s->mounted = 0;
	}
	if (s->created && !s->mounted) {
		if (unlink(s->path) < 0)
			err = err ? err : errno;
		else
			s->created = 0;
	}
	return err;
}

static void teardown(int i, int explicit_del)
{
	struct sandbox *s = &sbs[i];
	int err;

	if (explicit_del) {
		begin();
		queue_del_link(s->veth);
		talk(host_nl, s->path, NULL);
	}
	if ((err = release(s)))
		die("%s: release: %s", s->path, strerror(err));
}

static void cleanup(void)
{
	static int done;
	int fd;

	if (done)
		return;
	done = 1;
	/* die() may strike while the thread sits in a sandbox netns */
	if (orig_ns >= 0)
		setns(orig_ns, CLONE_NEWNET);
	for (int i = 0; i < nsbs; i++)
		release(&sbs[i]);
	if (bridge_made && (fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)) >= 0) {
		begin();
		queue_del_link(BRIDGE);
		if (exchange(fd, NULL))
			fprintf(stderr, "floor: cleanup: could not delete " BRIDGE "\n");
		close(fd);
	}
	/* Not lazy: if someone else mounted a namespace below our bind, leave it alone. */
	if (rundir_bound)
		umount2(rundir, 0);
	if (rundir_made)
		rmdir(rundir);
}

/* ---- driver ---- */

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void print_json_array(const double *xs, int n)
{
	putchar('[');
	for (int i = 0; i < n; i++)
		printf("%s%.4f", i ? "," : "", xs[i]);
	putchar(']');
}

static void print_summary(const char *label, const double *xs, int n)
{
	double *s = malloc(sizeof *s * (size_t)n);

	if (!s)
		die("out of memory");
	memcpy(s, xs, sizeof *s * (size_t)n);
	qsort(s, (size_t)n, sizeof *s, cmp_double);
	double med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	printf("%-9s median %8.3f ms   min %8.3f ms   max %8.3f ms\n", label, med, s[0], s[n - 1]);
	free(s);
}

static _Noreturn void usage(void)
{
	fprintf(stderr, "usage: floor --n N [--rundir DIR] [--prefix NAME] [--explicit] [--json] | floor --op K [--get] | floor --encode K | floor --churn K\n");
	exit(2);
}

/* One request, one ACK (and for a read, one reply before it): the least a
 * single low-level operation can cost. */
static int op_bench(int k, int get)
{
	int fd = nl_open(), index;
	double *us = malloc(sizeof *us * (size_t)k);

	if (!us)
		die("out of memory");
	for (int i = 0; i < k; i++) {
		struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = 1, .ifi_flags = IFF_UP, .ifi_change = IFF_UP };
		struct ifinfomsg lo = { .ifi_family = AF_UNSPEC, .ifi_index = 1 };
		double t0 = now_ms();

		begin();
		if (get)
			attr_u32(msg(RTM_GETLINK, 0, &lo, sizeof lo, "get lo"), IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
		else
			msg(RTM_NEWLINK, 0, &ifi, sizeof ifi, "set lo up");
		talk(fd, "op", &index);
		us[i] = (now_ms() - t0) * 1e3;
	}
	printf("{\"peer\":\"floor\",\"n\":%d,\"op_us\":", k);
	print_json_array(us, k);
	printf("}\n");
	close(fd);
	return 0;
}

/* n sandbox slots named in the rundir, and the bridge they go on. */
static void start(int n)
{
	sbs = calloc((size_t)n, sizeof *sbs);
	if (!sbs)
		die("out of memory");
	for (int i = 0; i < n; i++) {
		struct sandbox *s = &sbs[i];
		s->nl = s->nsfd = -1;
		if ((size_t)snprintf(s->path, sizeof s->path, "%s/%s%d", rundir, prefix, i) >= sizeof s->path)
			die("rundir path too long");
		snprintf(s->veth, sizeof s->veth, "nsv%d", i);
	}
	orig_ns = open(SELF_NS, O_RDONLY | O_CLOEXEC);
	if (orig_ns < 0)
		die("open %s: %s", SELF_NS, strerror(errno));
	prepare_rundir();
	host_nl = nl_open();
	make_bridge();
}

/* Building one sandbox's two batches, with no I/O: the codec's share of the work. */
static int encode_bench(int k)
{
	struct sandbox s = { .nsfd = 3 };
	double t0;

	snprintf(s.veth, sizeof s.veth, "nsv0");
	br_index = 2;
	t0 = now_ms();
	for (int i = 0; i < k; i++) {
		queue_host(&s);
		queue_inside(2, sandbox_addr(i & 0xfff));
	}
	printf("{\"peer\":\"floor\",\"n\":%d,\"ns_per_sandbox\":%.1f,\"bytes\":%zu}\n", k, (now_ms() - t0) * 1e6 / k, txlen);
	return 0;
}

/* Create and release one sandbox at a time: the kernel's price for each
 * namespace, its teardown (done in the background) included. */
static int churn_bench(int k)
{
	const int slots = 1000; /* a name is free again once the kernel destroyed its namespace */
	double t0;

	start(slots);
	t0 = now_ms();
	for (int i = 0; i < k; i++) {
		setup(i % slots);
		teardown(i % slots, 0);
	}
	double ms = now_ms() - t0;
	cleanup();
	printf("{\"peer\":\"floor\",\"cycles\":%d,\"per_cycle_ms\":%.4f}\n", k, ms / k);
	return 0;
}

int main(int argc, char **argv)
{
	int n = 0, json = 0, explicit_del = 0;
	double *su, *td, t0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--op") && i + 1 < argc)
			return op_bench(atoi(argv[i + 1]), i + 2 < argc && !strcmp(argv[i + 2], "--get"));
		if (!strcmp(argv[i], "--encode") && i + 1 < argc)
			return encode_bench(atoi(argv[++i]));
		if (!strcmp(argv[i], "--churn") && i + 1 < argc)
			return churn_bench(atoi(argv[++i]));
		if (!strcmp(argv[i], "--n") && i + 1 < argc)
			n = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--rundir") && i + 1 < argc)
			rundir = argv[++i];
		else if (!strcmp(argv[i], "--prefix") && i + 1 < argc)
			prefix = argv[++i];
		else if (!strcmp(argv[i], "--explicit"))
			explicit_del = 1;
		else if (!strcmp(argv[i], "--json"))
			json = 1;
		else
			usage();
	}
	/* i+2 must stay a host address inside 10.200.0.0/16 */
	if (n < 1 || n > 65533)
		usage();

	su = malloc(sizeof *su * (size_t)n);
	td = malloc(sizeof *td * (size_t)n);
	if (!su || !td)
		die("out of memory");
	start(n);

	for (int i = 0; i < n; i++) {
		t0 = now_ms();
		setup(i);
		su[i] = now_ms() - t0;
	}
	for (int i = 0; i < n; i++) {
		t0 = now_ms();
		teardown(i, explicit_del);
		td[i] = now_ms() - t0;
	}
	cleanup();

	if (json) {
		printf("{\"peer\":\"floor\",\"n\":%d,\"setup_ms\":", n);
		print_json_array(su, n);
		printf(",\"teardown_ms\":");
		print_json_array(td, n);
		printf(",\"teardown\":\"%s\"}\n", explicit_del ? "explicit" : "release");
	} else {
		printf("floor: %d sandboxes, teardown %s\n", n, explicit_del ? "explicit" : "release");
		print_summary("setup", su, n);
		print_summary("teardown", td, n);
	}
	return 0;
}
