// Requests for several namespaces, run in order as one unit (one job of the
// addon): a change that spans namespaces (a veth, then its far end) costs
// one hop, and a new namespace and everything done in it first succeed or
// fail together.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../ns/namespace.h"
#include "nft.h"
#include "ops.h"

namespace nsnet::ops {

// Namespaces an op names (to create a link in, or move it to). They are held
// while the groups run and their fds read only then: one of them may be the
// namespace that the same run creates.
struct NsRefs {
  std::shared_ptr<ns::Namespace> netns, peer;
};

// rtnetlink requests on one namespace's socket, or (is_nft) one nf_tables
// transaction on it, so a sandbox's interfaces and its published ports'
// elements go in one unit; or (is_sysctl) writes of /proc/sys keys as the
// namespace sees them, for settings netlink cannot make (an interface's
// disable_ipv6), which only a thread that enters namespaces may run.
struct Group {
  std::shared_ptr<ns::Namespace> ns;
  std::vector<Op> list;
  std::vector<NsRefs> refs;  // one per op of list
  bool is_nft = false;
  std::vector<NftOp> nft;
  bool is_sysctl = false;
  std::vector<std::pair<std::string, std::string>> sysctl;  // key, value
  size_t size() const { return is_nft ? nft.size() : is_sysctl ? sysctl.size() : list.size(); }
};

// Runs the groups in order, one reply per op. After a failed op nothing
// further is sent: the rest report ECANCELED. Returns false on an I/O
// error (in err).
bool run_groups(std::vector<Group>& groups, std::vector<io::Reply>* replies, io::SysError* err);

// Whether the groups are one or two rtnetlink requests that neither create
// nor delete a link nor move one to another namespace: the kernel answers
// such requests in microseconds, unless someone else holds rtnl_lock.
bool is_quick(const std::vector<Group>& groups);

// Where a namespace is made: bind-mounted at rundir/name (so `ip netns`
// sees it), or without a name, held only by its fd.
struct Place {
  std::string rundir;
  std::optional<std::string> name;
};

// On the namespace thread: creates the namespace `ns` stands for (which must
// not hold one yet), brings its lo up, runs `groups`, and opens `listeners`
// in it (into *fds) right after the first group sent into it, as one. If any of it fails the namespace is
// released again (and with it the devices in it, and their veth peers) and
// the listeners closed, so the caller sees all or nothing. Returns whether
// all went through; replies line up with the groups' ops either way, and
// err says what failed when it was not one of them.
bool create_and_run(const std::shared_ptr<ns::Namespace>& ns, const Place& at, std::vector<Group>& groups,
                    std::vector<io::Reply>* replies, io::SysError* err, const std::vector<ns::Listener>& listeners = {},
                    std::vector<int>* fds = nullptr);

// One transaction on ns's nf_tables socket (see ns::Namespace::nfnl_socket
// for the thread it needs).
bool nft_transact(ns::Namespace& ns, const std::vector<NftOp>& ops, bool check_gen, uint32_t genid, NftResult* out,
                  io::SysError* err);

}  // namespace nsnet::ops
