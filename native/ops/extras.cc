#include "extras.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/mptcp.h>
#include <linux/pkt_sched.h>
#include <linux/tcp_metrics.h>
#include <linux/xfrm.h>
#include <linux/rtnetlink.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <set>
#include <string>
#include <tuple>

#include "../nl/nl.h"
#include "../ns/ns.h"

namespace nsnet::ops {

namespace {

using QdiscKey = std::tuple<int32_t, uint32_t, std::string>;
QdiscKey key(const rtnl::QdiscInfo& q) { return {q.ifindex, q.parent, q.kind}; }

using LabelKey = std::tuple<std::string, uint8_t, uint32_t, uint32_t>;
LabelKey key(const rtnl::AddrLabelInfo& l) {
  return {std::string(reinterpret_cast<const char*>(l.prefix.bytes), 16), l.prefixlen, l.ifindex, l.label};
}

template <class T>
auto keys(const std::vector<T>& xs) {
  std::set<decltype(key(xs.front()))> out;
  for (const T& x : xs) out.insert(key(x));
  return out;
}

// A dump or request a kernel without the feature refuses lists nothing:
// no nexthop objects (before 5.3), no IPv6 (address labels), no ipset
// module (nfnetlink's EINVAL for a subsystem it lacks), no IPsec default
// policies (before 5.16).
bool optional(bool ok, io::Reply* status, std::initializer_list<int> absent) {
  for (int e : absent)
    if (ok && status->error == -e) *status = io::Reply{};
  return ok;
}

// The devices of a snapshot (its links): the qdiscs and link settings a reset
// compares. A device the tenant added goes with all of its own later.
std::set<int32_t> devices_of(const Extras& e) {
  std::set<int32_t> out;
  for (const auto& l : e.links) out.insert(l.ifindex);
  return out;
}

const rtnl::LinkExtra* link_of(const Extras& e, int32_t ifindex) {
  for (const auto& l : e.links)
    if (l.ifindex == ifindex) return &l;
  return nullptr;
}

bool same_link(const rtnl::LinkExtra& a, const rtnl::LinkExtra& b) {
  return a.broadcast.set == b.broadcast.set && (!a.broadcast.set || std::memcmp(a.broadcast.bytes, b.broadcast.bytes, 6) == 0) &&
         a.linkmode == b.linkmode;
}

// A root "noop" is no qdisc (a root deleted while its device was down; the
// kernel lists none then, but may list noop).
bool unattached(const rtnl::QdiscInfo& q) { return q.parent == TC_H_ROOT && q.kind == "noop"; }

bool same_defaults(const rtnl::XfrmDefaults& a, const rtnl::XfrmDefaults& b) { return a.in == b.in && a.fwd == b.fwd && a.out == b.out; }

bool same_limits(const rtnl::MptcpLimits& a, const rtnl::MptcpLimits& b) {
  return a.add_addr_accepted == b.add_addr_accepted && a.subflows == b.subflows;
}

// One request, its ACK in *status; `gone` errnos (already taken away) are no failure.
bool ask(io::Socket& s, const io::Socket::Encode& enc, io::Reply* status, io::SysError* err, int gone = 0) {
  io::Reply r;
  if (!s.request(enc, [](size_t, const nlmsghdr*) {}, &r, err)) return false;
  if (r.error && r.error != -gone) *status = r;
  return true;
}

std::string hex(uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof b, "%x", v);
  return b;
}

std::string describe(const rtnl::QdiscInfo& q) {
  const std::string at = q.parent == TC_H_ROOT ? "root" : q.parent == TC_H_INGRESS ? "ingress" : "parent " + hex(q.parent);
  return "qdisc " + q.kind + " " + at + " of ifindex " + std::to_string(q.ifindex);
}

std::string describe(const rtnl::AddrLabelInfo& l) {
  char a[INET6_ADDRSTRLEN] = "";
  inet_ntop(AF_INET6, l.prefix.bytes, a, sizeof a);
  return "address label " + std::string(a) + "/" + std::to_string(l.prefixlen) + " label " + std::to_string(l.label) +
         (l.ifindex ? " of ifindex " + std::to_string(l.ifindex) : "");
}

// read_extras' readings, to the first that fails in either way.
bool read_all(const ExtrasSockets& s, Extras* out, io::Reply* status, io::SysError* err) {
  *out = Extras{};
  io::Socket& rtnl = s.rtnl;
  auto ok = [&](bool r) { return r && !status->error; };
  auto links = [](nl::Builder& b, uint32_t seq) { return rtnl::encode_link_get(b, seq, 0, ""); };
  if (!ok(io::dump_into(rtnl, links, rtnl::decode_link_extra, &out->links, status, err))) return false;
  if (!ok(io::dump_into(rtnl, rtnl::encode_qdisc_dump, rtnl::decode_qdisc, &out->qdiscs, status, err))) return false;
  if (!ok(optional(io::dump_into(rtnl, rtnl::encode_nexthop_dump, rtnl::decode_nexthop, &out->nexthops, status, err), status, {EOPNOTSUPP})))
    return false;
  if (!ok(optional(io::dump_into(rtnl, rtnl::encode_addrlabel_dump, rtnl::decode_addrlabel, &out->labels, status, err), status,
                   {EOPNOTSUPP, EAFNOSUPPORT})))
    return false;
  if (s.xfrm) {
    for (bool policies : {false, true}) {
      std::vector<rtnl::XfrmEntry> entries;
      auto enc = [policies](nl::Builder& b, uint32_t seq) { return rtnl::encode_xfrm_dump(b, seq, policies); };
      if (!ok(io::dump_into(*s.xfrm, enc, rtnl::decode_xfrm, &entries, status, err))) return false;
      (policies ? out->xfrm_policies : out->xfrm_states) = entries.size();
    }
    auto defaults = [&](size_t, const nlmsghdr* h) { rtnl::decode_xfrm_defaults(h, &out->xfrm_defaults); };
    if (!ok(optional(s.xfrm->request(rtnl::encode_xfrm_getdefault, defaults, status, err), status, {EINVAL, EOPNOTSUPP}))) return false;
  }
  if (s.nfnl) {
    std::vector<std::string> names;
    auto list = io::dump_into(*s.nfnl, rtnl::encode_ipset_list, rtnl::decode_ipset, &names, status, err);
    if (!ok(optional(list, status, {EINVAL, EOPNOTSUPP, EPROTONOSUPPORT}))) return false;
    std::set<std::string> sets(names.begin(), names.end());
    out->ipsets.assign(sets.begin(), sets.end());
  }
  if (s.genl && s.mptcp) {
    const uint16_t fam = s.mptcp;
    auto dump = [fam](nl::Builder& b, uint32_t seq) { return rtnl::encode_mptcp(b, seq, fam, MPTCP_PM_CMD_GET_ADDR); };
    auto endpoint = [fam](const nlmsghdr* h, uint8_t* id) { return rtnl::decode_mptcp_endpoint(h, fam, id); };
    if (!ok(io::dump_into(*s.genl, dump, endpoint, &out->mptcp_endpoints, status, err))) return false;
    bool got = false;
    auto limits = [&](size_t, const nlmsghdr* h) { got = rtnl::decode_mptcp_limits(h, fam, &out->mptcp_limits) || got; };
    auto ask_limits = [fam](nl::Builder& b, uint32_t seq) { return rtnl::encode_mptcp(b, seq, fam, MPTCP_PM_CMD_GET_LIMITS); };
    if (!ok(s.genl->request(ask_limits, limits, status, err))) return false;
    if (!got) *status = io::Reply{-EPROTO, "MPTCP's GET_LIMITS gave no limits", false, 0};
  }
  if (s.genl && s.tcp_metrics) {
    const uint16_t fam = s.tcp_metrics;
    std::vector<bool> entries;
    auto dump = [fam](nl::Builder& b, uint32_t seq) { return rtnl::encode_genl(b, seq, fam, TCP_METRICS_CMD_GET, TCP_METRICS_GENL_VERSION, true); };
    auto entry = [fam](const nlmsghdr* h, bool* e) { return *e = rtnl::is_genl(h, fam, TCP_METRICS_CMD_GET); };
    if (!ok(io::dump_into(*s.genl, dump, entry, &entries, status, err))) return false;
    out->tcp_metrics = entries.size();
  }
  return !status->error;
}

// reset_extras' work, to the first failure of either kind.
bool reset_all(const ExtrasSockets& s, const Extras& want, Extras* now, io::Reply* status, io::SysError* err) {
  Extras seen;
  if (!read_all(s, &seen, status, err)) return false;
  io::Socket& rtnl = s.rtnl;
  bool sent = false;
  auto run = [&](io::Socket& sock, const io::Socket::Encode& enc, int gone) {
    sent = true;
    return ask(sock, enc, status, err, gone) && !status->error;
  };
  const std::set<int32_t> devices = devices_of(want);
  for (const auto& l : want.links) {
    const rtnl::LinkExtra* now_l = link_of(seen, l.ifindex);
    if (now_l && !same_link(l, *now_l) && !run(rtnl, [&](nl::Builder& b, uint32_t seq) { return rtnl::encode_link_extra(b, seq, l); }, 0))
      return false;
  }
  const auto wq = keys(want.qdiscs);
  for (const auto& q : seen.qdiscs) {
    // What hangs below a root or ingress qdisc goes with it; a device the tenant added goes with its qdiscs.
    if ((q.parent != TC_H_ROOT && q.parent != TC_H_INGRESS) || unattached(q) || !devices.count(q.ifindex) || wq.count(key(q))) continue;
    if (!run(rtnl, [&](nl::Builder& b, uint32_t seq) { return rtnl::encode_qdisc_del(b, seq, q.ifindex, q.parent); }, ENOENT))
      return false;
  }
  const std::set<uint32_t> wn(want.nexthops.begin(), want.nexthops.end());
  for (uint32_t id : seen.nexthops)
    // A group whose members went first is gone already.
    if (!wn.count(id) && !run(rtnl, [&](nl::Builder& b, uint32_t seq) { return rtnl::encode_nexthop_del(b, seq, id); }, ENOENT))
      return false;
  const auto wl = keys(want.labels), sl = keys(seen.labels);
  for (const auto& l : seen.labels) {
    if (wl.count(key(l))) continue;
    auto del = [&](nl::Builder& b, uint32_t seq) { return rtnl::encode_raw(b, RTM_DELADDRLABEL, seq, rtnl::kChange, l.body.data(), l.body.size()); };
    if (!run(rtnl, del, ENOENT)) return false;
  }
  for (const auto& l : want.labels) {
    if (sl.count(key(l))) continue;
    auto add = [&](nl::Builder& b, uint32_t seq) { return rtnl::encode_raw(b, RTM_NEWADDRLABEL, seq, rtnl::kCreate, l.body.data(), l.body.size()); };
    if (!run(rtnl, add, EEXIST)) return false;
  }
  using rtnl::XfrmFlush;
  auto flush = [&](XfrmFlush what, int unsupported) {
    return run(*s.xfrm, [what](nl::Builder& b, uint32_t seq) { return rtnl::encode_xfrm_flush(b, seq, what); }, unsupported);
  };
  if (s.xfrm && seen.xfrm_states && !flush(XfrmFlush::States, 0)) return false;
  // Sub policies only where the kernel has them (EINVAL elsewhere).
  if (s.xfrm && seen.xfrm_policies && !(flush(XfrmFlush::Policies, 0) && flush(XfrmFlush::SubPolicies, EINVAL))) return false;
  if (s.xfrm && !same_defaults(seen.xfrm_defaults, want.xfrm_defaults) &&
      !run(*s.xfrm, [&](nl::Builder& b, uint32_t seq) { return rtnl::encode_xfrm_setdefault(b, seq, want.xfrm_defaults); }, 0))
    return false;
  if (s.nfnl && !seen.ipsets.empty()) {
    // All at once; if one is in use (a list:set member, a match of a rule)
    // the kernel destroys none, so then one by one: what is still held
    // stays, for the reading below to name.
    sent = true;
    io::Reply all;
    if (!ask(*s.nfnl, rtnl::encode_ipset_destroy_all, &all, err)) return false;
    for (size_t pass = 0; all.error && pass < 2; pass++)
      for (const auto& name : seen.ipsets) {
        io::Reply one;
        if (!ask(*s.nfnl, [&](nl::Builder& b, uint32_t seq) { return rtnl::encode_ipset_destroy(b, seq, name); }, &one, err)) return false;
      }
  }
  if (s.genl && s.tcp_metrics && seen.tcp_metrics) {
    // A delete that names no address flushes the cache.
    const uint16_t fam = s.tcp_metrics;
    if (!run(*s.genl, [fam](nl::Builder& b, uint32_t seq) { return rtnl::encode_genl(b, seq, fam, TCP_METRICS_CMD_DEL, TCP_METRICS_GENL_VERSION, false); }, 0))
      return false;
  }
  if (s.genl && s.mptcp) {
    const uint16_t fam = s.mptcp;
    if (!seen.mptcp_endpoints.empty() && !run(*s.genl, [fam](nl::Builder& b, uint32_t seq) { return rtnl::encode_mptcp(b, seq, fam, MPTCP_PM_CMD_FLUSH_ADDRS); }, 0))
      return false;
    const auto& w = want.mptcp_limits;
    if (!same_limits(seen.mptcp_limits, w) &&
        !run(*s.genl, [fam, w](nl::Builder& b, uint32_t seq) { return rtnl::encode_mptcp_set_limits(b, seq, fam, w); }, 0))
      return false;
  }
  if (!sent) {
    *now = std::move(seen);
    return true;
  }
  return read_all(s, now, status, err);
}

}  // namespace

bool read_extras(const ExtrasSockets& s, Extras* out, io::Reply* status, io::SysError* err) {
  read_all(s, out, status, err);
  return !*err;
}

bool reset_extras(const ExtrasSockets& s, const Extras& want, Extras* now, io::Reply* status, io::SysError* err) {
  reset_all(s, want, now, status, err);
  return !*err;
}

bool legacy_tables(int nsfd, std::string* in_use, io::SysError* err) {
  in_use->clear();
  return ns::run_in(nsfd, err, [&] {
    for (const char* family : {"ip", "ip6", "arp"}) {
      std::string names;
      io::SysError e;
      // A kernel without that family's x_tables has no file: nothing of it
      // can be in use. Any other failure to read fails the reset.
      if (!ns::read_here(std::string("/proc/thread-self/net/") + family + "_tables_names", &names, &e)) {
        if (e.err == ENOENT) continue;
        *err = e;
        return false;
      }
      std::string list;
      for (size_t at = 0; at < names.size();) {
        const size_t nl = names.find('\n', at);
        const std::string name = names.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
        if (!name.empty()) list += (list.empty() ? "" : ", ") + name;
        at = nl == std::string::npos ? names.size() : nl + 1;
      }
      if (!list.empty()) *in_use += (in_use->empty() ? "" : "; ") + std::string(family) + ": " + list;
    }
    return true;
  });
}

std::string extras_diff(const Extras& want, const Extras& got) {
  std::string out;
  auto add = [&](const std::string& clause) { out += (out.empty() ? "" : "; ") + clause; };
  // A device the tenant added (and the reset deletes later) has qdiscs of its own.
  const std::set<int32_t> devices = devices_of(want);
  for (const auto& w : want.links) {
    const rtnl::LinkExtra* g = link_of(got, w.ifindex);
    if (!g) continue;  // a link gone: the reset's own reading names it
    if (!same_link(w, *g)) add("ifindex " + std::to_string(w.ifindex) + "'s broadcast address or link mode is not the fresh one");
    if (g->xdp) add("an XDP program is attached to ifindex " + std::to_string(w.ifindex));
  }
  // A device with no root listed (or noop) has none attached: its default
  // comes back when it next comes up, as in a fresh one.
  std::set<int32_t> rooted;
  for (const auto& q : got.qdiscs)
    if (q.parent == TC_H_ROOT && !unattached(q)) rooted.insert(q.ifindex);
  const auto wq = keys(want.qdiscs), gq = keys(got.qdiscs);
  for (const auto& q : got.qdiscs)
    if (devices.count(q.ifindex) && !unattached(q) && !wq.count(key(q))) add(describe(q) + " is new");
  for (const auto& q : want.qdiscs)
    if (!gq.count(key(q)) && !(q.parent == TC_H_ROOT && !rooted.count(q.ifindex))) add(describe(q) + " is missing");
  const std::set<uint32_t> wn(want.nexthops.begin(), want.nexthops.end()), gn(got.nexthops.begin(), got.nexthops.end());
  for (uint32_t id : gn)
    if (!wn.count(id)) add("nexthop id " + std::to_string(id) + " is new");
  for (uint32_t id : wn)
    if (!gn.count(id)) add("nexthop id " + std::to_string(id) + " is missing");
  const auto wl = keys(want.labels), gl = keys(got.labels);
  for (const auto& l : got.labels)
    if (!wl.count(key(l))) add(describe(l) + " is new");
  for (const auto& l : want.labels)
    if (!gl.count(key(l))) add(describe(l) + " is missing");
  if (got.xfrm_states != want.xfrm_states) add(std::to_string(got.xfrm_states) + " IPsec state(s)");
  if (got.xfrm_policies != want.xfrm_policies) add(std::to_string(got.xfrm_policies) + " IPsec policies");
  if (!same_defaults(got.xfrm_defaults, want.xfrm_defaults)) add("IPsec default policies are not the fresh ones");
  if (got.tcp_metrics > want.tcp_metrics) add(std::to_string(got.tcp_metrics) + " TCP metrics entries");
  for (const auto& set : got.ipsets)
    if (std::find(want.ipsets.begin(), want.ipsets.end(), set) == want.ipsets.end()) add("ipset " + set + " is new");
  if (got.mptcp_endpoints.size() != want.mptcp_endpoints.size()) add(std::to_string(got.mptcp_endpoints.size()) + " MPTCP endpoint(s)");
  const auto &gm = got.mptcp_limits, &wm = want.mptcp_limits;
  if (!same_limits(gm, wm))
    add("MPTCP limits add_addr_accepted " + std::to_string(gm.add_addr_accepted) + " subflows " + std::to_string(gm.subflows) +
        " (fresh: " + std::to_string(wm.add_addr_accepted) + ", " + std::to_string(wm.subflows) + ")");
  return out;
}

}  // namespace nsnet::ops
