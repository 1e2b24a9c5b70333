// N-API glue for nf_tables: nftTransact and nftList (see src/native.ts for
// the shapes). Registered by addon.cc; the work is in ops/nft.
#pragma once

#include <napi.h>

#include <vector>

#include "../ops/nft.h"
#include "handle.h"
#include "runner.h"

namespace nsnet::addon {

// The lane a job using ns's nf_tables socket must run on: opening the socket
// enters the namespace, so until it is open only the namespace lane may.
Lane nft_lane(const ns::Namespace& ns);

// nftTransact(ns, ops: object[], genid: number | null)
//   -> Promise<{ replies, batch, gen, handles }>
Napi::Value nft_transact(Runner& runner, const Napi::CallbackInfo& info);
// nftList(ns, what: 'gen' | 'tables' | 'chains' | 'sets' | 'rules' | 'elems',
//         family: number, table: string, set: string) -> Promise<{ errno, message, offset, items | gen }>
Napi::Value nft_list(Runner& runner, const Napi::CallbackInfo& info);

}  // namespace nsnet::addon
