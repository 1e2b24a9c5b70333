#include "group.h"

#include <errno.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <functional>

#include "../ns/ns.h"

namespace nsnet::ops {

namespace {

void bind_refs(Op& op, const NsRefs& refs) {
  if (refs.netns) op.link.netns_fd = refs.netns->fd;
  if (refs.peer) op.link.peer_netns_fd = refs.peer->fd;
}

// One reply per op. The batch's own refusal (nothing applied) is reported on
// the first op when no op has a failure of its own.
bool run_nft(Group& g, std::vector<io::Reply>* r, io::SysError* err) {
  NftResult result;
  if (!nft_transact(*g.ns, g.nft, false, 0, &result, err)) return false;
  *r = std::move(result.replies);
  const bool any = std::any_of(r->begin(), r->end(), [](const io::Reply& x) { return x.error != 0; });
  if (!any && result.batch.error && !r->empty()) {
    (*r)[0] = result.batch;
    (*r)[0].message = "the transaction as a whole" + ((*r)[0].message.empty() ? "" : ": " + (*r)[0].message);
  }
  return true;
}

// One reply per key: a key the namespace lacks is that write's failure, not the job's.
void run_sysctl(Group& g, std::vector<io::Reply>* r) {
  for (const auto& [key, value] : g.sysctl) {
    io::SysError e;
    io::Reply reply;
    if (!ns::sysctl_write(g.ns->fd, key, value, &e)) {
      reply.error = -(e.err ? e.err : EIO);
      reply.message = e.what;
    }
    const bool failed = reply.error != 0;
    r->push_back(std::move(reply));
    if (failed) break;
  }
  while (r->size() < g.sysctl.size()) r->push_back(io::Reply{-ECANCELED, "not sent: an earlier request in the batch failed"});
}

Op lo_up() {
  Op lo;
  lo.type = OpType::LinkSet;
  lo.dev.index = 1;  // LOOPBACK_IFINDEX: lo is always 1 in a new namespace
  lo.link.up = 1;
  return lo;
}

// run_groups, and after group `at` (when nothing failed so far) `then`:
// when that fails (saying why in err), the groups after it are not sent.
bool run_groups_then(std::vector<Group>& groups, std::vector<io::Reply>* replies, io::SysError* err, size_t at,
                     const std::function<bool()>& then) {
  bool failed = false;
  for (size_t k = 0; k < groups.size(); k++) {
    Group& g = groups[k];
    std::vector<io::Reply> r;
    for (size_t i = 0; i < g.list.size(); i++) bind_refs(g.list[i], g.refs[i]);
    if (failed) {
      r.assign(g.size(), io::Reply{-ECANCELED, "not sent: an earlier request in the batch failed"});
    } else if (g.is_nft) {
      if (!run_nft(g, &r, err)) return false;
    } else if (g.is_sysctl) {
      run_sysctl(g, &r);
    } else if (!g.ns->with_rtnl([&](io::Socket& s) { return exec(s, g.list, &r, err); })) {
      return false;
    }
    for (auto& x : r) failed = failed || x.error != 0;
    replies->insert(replies->end(), r.begin(), r.end());
    if (k == at && !failed && then && !then()) failed = true;
  }
  return true;
}

}  // namespace

bool run_groups(std::vector<Group>& groups, std::vector<io::Reply>* replies, io::SysError* err) {
  return run_groups_then(groups, replies, err, SIZE_MAX, nullptr);
}

bool is_quick(const std::vector<Group>& groups) {
  if (groups.size() != 1 || groups[0].is_nft || groups[0].list.size() > 2) return false;
  for (const NsRefs& r : groups[0].refs)
    if (r.netns || r.peer) return false;
  for (const Op& op : groups[0].list)
    if (op.type == OpType::LinkAdd || op.type == OpType::LinkDel || op.type == OpType::AddrSettle) return false;
  return true;
}

bool create_and_run(const std::shared_ptr<ns::Namespace>& ns, const Place& at, std::vector<Group>& groups,
                    std::vector<io::Reply>* replies, io::SysError* err, const std::vector<ns::Listener>& listeners,
                    std::vector<int>* fds) {
  if (ns->is_ready()) return io::fail(err, EBUSY, "handle already holds a namespace");
  if (!listeners.empty() && !fds) return io::fail(err, EINVAL, "listeners need somewhere to put their fds");
  ns::Opened opened;
  if (!(at.name ? ns::create(at.rundir, *at.name, &opened, err) : ns::create_anonymous(&opened, err))) return false;
  ns->fill(opened);
  const auto release = [&] {
    ns->close();
    io::SysError ignored;
    if (at.name) ns::release(at.rundir, *at.name, &ignored);
  };
  // lo goes up in the first batch sent into the new namespace (one round
  // trip fewer than a request of its own), or alone when there is none.
  auto first = std::find_if(groups.begin(), groups.end(), [&](const Group& g) { return g.ns == ns && !g.is_nft && !g.is_sysctl; });
  if (first == groups.end()) {
    first = groups.insert(groups.begin(), Group{});
    first->ns = ns;
  }
  size_t lo = 0;  // its reply's index
  for (auto g = groups.begin(); g != first; ++g) lo += g->size();
  first->list.insert(first->list.begin(), lo_up());
  first->refs.insert(first->refs.begin(), NsRefs{});
  // The listeners right after that batch: an address of lo's is not local
  // before lo is up (a socket bound to one then would send from another
  // address), and a failure there is undone as a failed request is, by
  // releasing the namespace, before anything later (an nf_tables
  // transaction, which releasing cannot undo) is sent.
  const auto listen = [&] { return ns::listen_in(ns->fd, listeners, fds, err); };
  bool ok = run_groups_then(groups, replies, err, static_cast<size_t>(first - groups.begin()), listeners.empty() ? std::function<bool()>() : listen);
  if (lo < replies->size()) {
    // The caller's replies line up with the caller's ops: drop ours. A
    // failure of it is the error to report, unless it was only cancelled
    // by an earlier failure.
    const io::Reply& r = (*replies)[lo];
    if (r.error && r.error != -ECANCELED && !*err) io::fail(err, -r.error, "RTM_NEWLINK lo up");
    replies->erase(replies->begin() + static_cast<long>(lo));
  }
  ok = ok && !*err && std::all_of(replies->begin(), replies->end(), [](const io::Reply& r) { return r.error == 0; });
  if (ok) return true;
  if (fds) {
    for (int fd : *fds) ::close(fd);
    fds->clear();
  }
  release();
  return false;
}

bool nft_transact(ns::Namespace& ns, const std::vector<NftOp>& ops, bool check_gen, uint32_t genid, NftResult* out,
                  io::SysError* err) {
  return ns.with_nfnl(err, [&](io::Socket& s) { return nft_transact(s, ops, check_gen, genid, out, err); });
}

}  // namespace nsnet::ops
