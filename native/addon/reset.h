// N-API glue for what recycling a namespace needs (see src/netlink/reset.ts):
// its sockets, its /proc/sys/net values and its connection tracking. Registered by addon.cc; all of
// it but ctFlush runs on the namespace lane (each enters the namespace, or
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
// sysctlRestore(ns, want: SysctlSnapshot) -> Promise<{ changed: string[], left: [path, value][] }>
Napi::Value sysctl_restore(Runner& runner, const Napi::CallbackInfo& info);

// ctFlush(ns) -> Promise<void>: the namespace's conntrack entries and expectations.
Napi::Value ct_flush(Runner& runner, const Napi::CallbackInfo& info);

}  // namespace nsnet::addon
