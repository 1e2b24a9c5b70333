#include "ops.h"

#include <errno.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <unordered_set>

namespace nsnet::ops {

namespace {

// First guesses for nl::build_grown: the largest message here (a vxlan, or
// a veth with its peer) is under 300 bytes, a link lookup a header and a name.
constexpr size_t kPerMsg = 1024;
constexpr size_t kPerLookup = 256;
// One sendmsg's worth: the socket's send buffer.
constexpr size_t kMaxBatch = 4 << 20;

bool needs_dev_index(const Op& op) {
  switch (op.type) {
    case OpType::AddrAdd:
    case OpType::AddrDel:
    case OpType::NeighAdd:
    case OpType::NeighReplace:
    case OpType::NeighAppend:
    case OpType::NeighDel: return true;
    case OpType::RouteAdd:
    case OpType::RouteReplace:
    case OpType::RouteDel: return op.dev.set();
    case OpType::LinkSet: return !op.link.name.empty();  // renaming: IFLA_IFNAME is the new name
    default: return false;
  }
}

// Looks up every device given by name, all in one batch of RTM_GETLINKs.
// Returns false on I/O failure; a name that is not found fails its ops.
bool resolve(io::Socket& s, std::vector<Op>& ops, std::vector<io::Reply>* out, bool* failed, io::SysError* err) {
  std::map<std::string, int32_t> index;
  auto want = [&](const DevRef& d, bool needed) {
    if (needed && d.index <= 0 && !d.name.empty()) index.emplace(d.name, 0);
  };
  for (const Op& op : ops) {
    want(op.dev, needs_dev_index(op));
    want(op.master, true);
    want(op.lower, true);
  }
  if (!index.empty()) {
    std::vector<std::string> names;
    for (auto& [name, _] : index) names.push_back(name);
    std::vector<uint8_t> buf(names.size() * kPerLookup);
    const uint32_t first = s.reserve_seq(static_cast<uint32_t>(names.size()));
    const auto build = [&](nl::Builder& b) {
      for (size_t i = 0; i < names.size(); i++)
        if (rtnl::encode_link_get(b, first + static_cast<uint32_t>(i), 0, names[i]))
          b.message()->nlmsg_flags |= NLM_F_ACK;
    };
    if (!nl::build_grown(&buf, kMaxBatch, build)) return io::fail(err, EMSGSIZE, "link lookup does not fit");
    std::vector<io::Reply> replies;
    auto on_msg = [&](size_t i, const nlmsghdr* h) {
      rtnl::LinkInfo li;
      if (rtnl::decode_link(h, &li)) index[names[i]] = li.ifindex;
    };
    if (!s.transact(buf.data(), buf.size(), first, names.size(), &replies, on_msg, err)) return false;
  }
  auto fill = [&](DevRef& d, size_t i) {
    if (d.index > 0 || d.name.empty()) return;
    auto it = index.find(d.name);
    if (it == index.end()) return;  // not needed for this op
    if (it->second > 0) {
      d.index = it->second;
    } else if (!(*out)[i].error) {
      (*out)[i].error = -ENODEV;
      (*out)[i].message = "no link named '" + d.name + "'";
      *failed = true;
    }
  };
  for (size_t i = 0; i < ops.size(); i++) {
    if (needs_dev_index(ops[i])) fill(ops[i].dev, i);
    fill(ops[i].master, i);
    fill(ops[i].lower, i);
  }
  return true;
}

// An add fails if the object exists (`ip ... add`), a replace makes or
// changes it, a change or delete needs it to exist.
uint16_t request_flags(OpType t) {
  switch (t) {
    case OpType::LinkAdd:
    case OpType::AddrAdd:
    case OpType::RouteAdd:
    case OpType::NeighAdd: return rtnl::kCreate;
    case OpType::RouteReplace:
    case OpType::NeighReplace: return rtnl::kReplace;
    case OpType::NeighAppend: return rtnl::kAppend;
    default: return rtnl::kChange;
  }
}

void encode(nl::Builder& b, uint32_t seq, Op& op) {
  // Each family's delete is its own message type; the rest is RTM_NEW*.
  const bool del = op.type == OpType::AddrDel || op.type == OpType::RouteDel || op.type == OpType::NeighDel;
  const uint16_t flags = request_flags(op.type);
  switch (op.type) {
    case OpType::LinkAdd:
    case OpType::LinkSet: {
      rtnl::LinkSpec& l = op.link;
      if (op.master.index > 0) l.master = op.master.index;
      if (op.detach) l.master = 0;
      if (op.lower.index > 0) l.link = op.lower.index;
      if (op.type == OpType::LinkSet) {
        if (op.dev.index > 0) {
          l.ifindex = op.dev.index;
        } else {
          l.name = op.dev.name;  // select by name; no rename
        }
        l.kind.clear();
      }
      rtnl::encode_link_new(b, seq, flags, l);
      break;
    }
    case OpType::LinkDel: rtnl::encode_link_del(b, seq, op.dev.index, op.dev.name); break;
    case OpType::AddrAdd:
    case OpType::AddrDel:
      op.addr.ifindex = op.dev.index;
      rtnl::encode_addr(b, del ? RTM_DELADDR : RTM_NEWADDR, seq, flags, op.addr);
      break;
    case OpType::RouteAdd:
    case OpType::RouteReplace:
    case OpType::RouteDel:
      if (op.dev.index > 0) op.route.oif = op.dev.index;
      rtnl::encode_route(b, del ? RTM_DELROUTE : RTM_NEWROUTE, seq, flags, op.route);
      break;
    case OpType::NeighAdd:
    case OpType::NeighReplace:
    case OpType::NeighAppend:
    case OpType::NeighDel:
      op.neigh.ifindex = op.dev.index;
      rtnl::encode_neigh(b, del ? RTM_DELNEIGH : RTM_NEWNEIGH, seq, flags, op.neigh);
      break;
    case OpType::Raw:
      rtnl::encode_raw(b, op.raw_type, seq, NLM_F_REQUEST | NLM_F_ACK | op.raw_flags, op.raw.data(), op.raw.size());
      break;
    case OpType::AddrSettle: break;  // never in a segment: exec runs it between them
  }
}

// The link names that the ops of one segment create. An op that names one
// of them has to wait for a later segment: its lookup runs before the
// segment is sent. A set, not a scan of the segment per op: a peer batch of
// thousands of entries made the scan quadratic: a first join with 4000
// peers (8000 ops) spent 10-30 ms in it, and the time per peer grew with
// the peers.
class Created {
 public:
  void note(const Op& op) {
    if (op.type == OpType::LinkAdd || (op.type == OpType::LinkSet && !op.link.name.empty())) add(op.link.name);
    // A veth's peer appears here too when it is not sent to another namespace.
    if (op.type == OpType::LinkAdd && op.link.peer_netns_fd < 0) add(op.link.peer_name);
  }

  bool used_by(const Op& op) const {
    if (names_.empty()) return false;
    auto uses = [&](const DevRef& d) { return d.index <= 0 && !d.name.empty() && names_.count(d.name) > 0; };
    return (needs_dev_index(op) && uses(op.dev)) || uses(op.master) || uses(op.lower);
  }

 private:
  void add(const std::string& n) {
    if (!n.empty()) names_.insert(n);
  }
  std::unordered_set<std::string> names_;
};

// Waits, 20 ms at most, until dev answers for an address: until the
// kernel's link watcher has handled the link's coming up (its operstate;
// till then a veth's far end, a bridge port, may still be disabled and drop
// what comes for it) and, for an IPv6 address, it has joined the address's
// solicited-node group (the multicast groups' dump). The kernel does both
// from work queues after the requests' answers, within a fraction of a
// millisecond, a few under load (measured: 6.6 ms at most with namespaces
// torn down beside); a peer's ARP request or neighbour solicitation lost
// before that costs its first connection a second. A link without carrier
// has nothing pending that would answer, so nothing is waited for. The
// socket stays held meanwhile (this runs inside exec): the pauses grow,
// and the kernel's workers need the CPU more than this thread does.
bool settle(io::Socket& s, const Op& op, io::Reply* out, io::SysError* err) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(20);
  auto pause = std::chrono::microseconds(20);
  const auto wait = [&] {
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(1000));
  };
  int32_t ifindex = op.dev.index;
  for (;;) {
    // Since Linux 6.8, asking for a link also has the kernel handle its
    // pending link event there and then (linkwatch_sync_dev); before, the
    // polling does.
    std::vector<rtnl::LinkInfo> li;
    io::Reply status;
    if (!list_links(s, ifindex, ifindex > 0 ? "" : op.dev.name, &li, &status, err)) return false;
    if (status.error) {
      *out = std::move(status);
      return true;
    }
    if (li.empty()) {
      out->error = -ENODEV;
      out->message = "no such link";
      return true;
    }
    ifindex = li[0].ifindex;
    const bool carrier = (li[0].flags & IFF_UP) && (li[0].flags & IFF_LOWER_UP);
    if (!carrier) return true;
    if (li[0].operstate == 6 /* IF_OPER_UP */ || std::chrono::steady_clock::now() >= deadline) break;
    wait();
  }
  if (op.addr.local.family != AF_INET6) return true;
  const rtnl::IpAddr group = rtnl::solicited_node(op.addr.local);
  for (;;) {
    bool joined = false;
    auto on_msg = [&](size_t, const nlmsghdr* h) {
      rtnl::McastInfo m;
      joined = joined || (rtnl::decode_mcast(h, &m) && m.ifindex == ifindex && std::memcmp(m.group.bytes, group.bytes, 16) == 0);
    };
    io::Reply status;
    const auto enc = [&](nl::Builder& b, uint32_t seq) { return rtnl::encode_mcast_dump(b, seq, AF_INET6, ifindex); };
    if (!s.dump(enc, on_msg, [&] { joined = false; }, &status, err)) return false;
    if (status.error) {
      *out = std::move(status);
      return true;
    }
    if (joined || std::chrono::steady_clock::now() >= deadline) return true;
    wait();
  }
}

}  // namespace

bool exec(io::Socket& s, std::vector<Op>& ops, std::vector<io::Reply>* out, io::SysError* err) {
  out->assign(ops.size(), io::Reply{});
  // Ops go out in as few sendmsg calls as lookups allow: a batch is cut only
  // where an op names a link that an earlier op of the batch creates, and
  // around a wait (AddrSettle), which needs what came before it applied.
  for (size_t begin = 0; begin < ops.size();) {
    size_t end = begin + 1;
    bool failed = false;
    if (ops[begin].type == OpType::AddrSettle) {
      if (!settle(s, ops[begin], &(*out)[begin], err)) return false;
      failed = (*out)[begin].error != 0;
    } else {
      Created made;
      made.note(ops[begin]);
      while (end < ops.size() && ops[end].type != OpType::AddrSettle && !made.used_by(ops[end])) made.note(ops[end++]);
      std::vector<Op> seg(std::make_move_iterator(ops.begin() + begin), std::make_move_iterator(ops.begin() + end));
      std::vector<io::Reply> replies(seg.size());
      if (!resolve(s, seg, &replies, &failed, err)) return false;
      if (failed) {
        for (auto& r : replies)
          if (!r.error) r.error = -ECANCELED, r.message = "not sent: a link lookup in the batch failed";
      } else {
        std::vector<uint8_t> buf(seg.size() * kPerMsg);
        const uint32_t first = s.reserve_seq(static_cast<uint32_t>(seg.size()));
        const auto build = [&](nl::Builder& b) {
          for (size_t i = 0; i < seg.size(); i++) encode(b, first + static_cast<uint32_t>(i), seg[i]);
        };
        if (!nl::build_grown(&buf, kMaxBatch, build)) return io::fail(err, EMSGSIZE, "batch does not fit");
        if (!s.transact(buf.data(), buf.size(), first, seg.size(), &replies, nullptr, err)) return false;
      }
      for (size_t i = 0; i < seg.size(); i++) {
        (*out)[begin + i] = std::move(replies[i]);
        if ((*out)[begin + i].error) failed = true;
      }
    }
    if (failed) {
      // Later ops may depend on what failed; nothing more is sent.
      for (size_t i = end; i < ops.size(); i++)
        (*out)[i].error = -ECANCELED, (*out)[i].message = "not sent: an earlier request in the batch failed";
      return true;
    }
    begin = end;
  }
  return true;
}

bool list_links(io::Socket& s, int32_t ifindex, const std::string& name, std::vector<rtnl::LinkInfo>* out,
                io::Reply* status, io::SysError* err) {
  if (ifindex > 0 || !name.empty()) {
    // A single GET answers with one message and then our ACK.
    auto on_msg = [&](size_t, const nlmsghdr* h) {
      rtnl::LinkInfo li;
      if (rtnl::decode_link(h, &li)) out->push_back(std::move(li));
    };
    return s.request([&](nl::Builder& b, uint32_t seq) { return rtnl::encode_link_get(b, seq, ifindex, name); },
                     on_msg, status, err);
  }
  return io::dump_into(
      s, [](nl::Builder& b, uint32_t seq) { return rtnl::encode_link_get(b, seq, 0, ""); }, rtnl::decode_link, out,
      status, err);
}

bool list_addrs(io::Socket& s, uint8_t family, int32_t ifindex, std::vector<rtnl::AddrInfo>* out, io::Reply* status,
                io::SysError* err) {
  return io::dump_into(
      s, [&](nl::Builder& b, uint32_t seq) { return rtnl::encode_addr_dump(b, seq, family, ifindex); },
      rtnl::decode_addr, out, status, err);
}

bool list_routes(io::Socket& s, uint8_t family, uint32_t table, std::vector<rtnl::RouteInfo>* out, io::Reply* status,
                 io::SysError* err) {
  return io::dump_into(
      s, [&](nl::Builder& b, uint32_t seq) { return rtnl::encode_route_dump(b, seq, family, table); },
      rtnl::decode_route, out, status, err);
}

bool list_rules(io::Socket& s, uint8_t family, std::vector<rtnl::RuleInfo>* out, io::Reply* status, io::SysError* err) {
  return io::dump_into<rtnl::RuleInfo>(
      s, [&](nl::Builder& b, uint32_t seq) { return rtnl::encode_rule_dump(b, seq, family); }, rtnl::decode_rule, out, status,
      err);
}

bool list_neighs(io::Socket& s, uint8_t family, std::vector<rtnl::NeighInfo>* out, io::Reply* status, io::SysError* err) {
  return io::dump_into(
      s, [&](nl::Builder& b, uint32_t seq) { return rtnl::encode_neigh_dump(b, seq, family); }, rtnl::decode_neigh, out,
      status, err);
}

bool list_fdb(io::Socket& s, std::vector<rtnl::FdbInfo>* out, io::Reply* status, io::SysError* err) {
  return io::dump_into(
      s, [&](nl::Builder& b, uint32_t seq) { return rtnl::encode_neigh_dump(b, seq, AF_BRIDGE); }, rtnl::decode_fdb, out,
      status, err);
}

}  // namespace nsnet::ops
