// N-API glue for what recycling a namespace needs (see src/netlink/reset.ts):
// its sockets, its /proc/sys/net values, its nf_tables and connection
// tracking, and the dumps a reset compares. Registered by addon.cc; all of
// it but snapshot runs on the namespace lane (each enters the namespace, or
// opens a socket inside it on first use).
#pragma once

#include <napi.h>

#include "runner.h"

namespace nsnet::addon {

// sockets(ns, destroyTimeWait: boolean) -> Promise<{ items, unlisted, destroyed }>
Napi::Value list_sockets(Runner& runner, const Napi::CallbackInfo& info);
// snapshot(ns) -> Promise<{ errno, message, links, addresses, routes, rules, neighbours }>:
// every dump a namespace's reset compares, in one job.
Napi::Value snapshot(Runner& runner, const Napi::CallbackInfo& info);
// sysctlDump(ns) -> Promise<SysctlSnapshot>: opaque to JS (some 700 values
// that a restore reads in C++, never converted to and from JS each time).
Napi::Value sysctl_dump(Runner& runner, const Napi::CallbackInfo& info);

// resetStep(ns, { clear?, groups?, sysctls? }) -> Promise<{ errno, message,
// stage, changed, left, links, addresses, routes, rules, neighbours }>: one
// stage of a reset in one job, so the reset does not wait for the JS thread
// between its parts. In order, each only if asked: every nf_tables table
// destroyed and conntrack flushed (clear); the groups run (as exec); the
// values of /proc/sys/net that differ from `sysctls` (a sysctlDump) written
// back, with a new TCP Fast Open key (left: those still different); then
// the snapshot read. The first refusal stops it, named by stage
// ('nftables', 'requests', 'dump').
Napi::Value reset_step(Runner& runner, const Napi::CallbackInfo& info);

}  // namespace nsnet::addon
