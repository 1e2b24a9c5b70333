// N-API glue for nf_tables: nftTransact and nftList (see src/native.ts for
// the shapes). Registered by addon.cc; the work is in ops/nft.
#pragma once

#include <napi.h>

#include "handle.h"
#include "runner.h"

namespace nsnet::addon {

// The namespace's nf_tables socket, opened on first use. Opening enters the
// namespace, so a job that may open it runs on the namespace lane.
io::Socket* nfnl_socket(Namespace& ns, io::SysError* err);
Lane nft_lane(const Namespace& ns);

// nftTransact(ns, ops: object[], genid: number | null)
//   -> Promise<{ replies, batch, gen, handles }>
Napi::Value nft_transact(Runner& runner, const Napi::CallbackInfo& info);
// nftList(ns, what: 'gen' | 'tables' | 'chains' | 'sets' | 'rules' | 'elems',
//         family: number, table: string, set: string) -> Promise<{ errno, message, offset, items | gen }>
Napi::Value nft_list(Runner& runner, const Napi::CallbackInfo& info);

}  // namespace nsnet::addon
