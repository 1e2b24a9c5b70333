// nf_tables messages (NFNL_SUBSYS_NFTABLES over NETLINK_NETFILTER): plain
// structs in, bytes out (encode_*), and bytes in, plain structs out
// (decode_*). Pure like nl.h and rtnl.h. Values (keys, data, cmp operands)
// are raw bytes in the kernel's layout: the typed layer above decides byte
// order and padding, as nft does, so this codec never guesses.
#pragma once

#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "nl.h"

namespace nsnet::nft {

// Messages newer than the uapi headers this builds against (Linux 6.3+).
constexpr uint8_t kMsgDestroyTable = 26;
constexpr uint8_t kMsgDestroyChain = 27;
constexpr uint8_t kMsgDestroyRule = 28;
constexpr uint8_t kMsgDestroySet = 29;
constexpr uint8_t kMsgDestroySetElem = 30;

constexpr uint16_t msg_type(uint8_t nft_msg) { return static_cast<uint16_t>((NFNL_SUBSYS_NFTABLES << 8) | nft_msg); }
constexpr uint8_t nft_msg_of(uint16_t type) { return static_cast<uint8_t>(type & 0xff); }

// NEW* flags: "add" leaves an existing object alone, "create" fails on it.
constexpr uint16_t kAdd = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE;
constexpr uint16_t kCreate = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
constexpr uint16_t kDel = NLM_F_REQUEST | NLM_F_ACK;

// NF_ACCEPT, NF_DROP, NFT_CONTINUE, NFT_RETURN, NFT_JUMP (with a chain) ...
struct Verdict {
  int32_t code = 0;
  std::string chain;
};

// struct nft_data as netlink carries it: a value, or a verdict.
struct Data {
  bool is_verdict = false;
  std::vector<uint8_t> value;
  Verdict verdict;
};

enum class ExprKind : uint8_t { Meta, Payload, Cmp, Bitwise, Lookup, Immediate, Ct, Nat, Masq, Counter, Fib };

// One expression of a rule. Registers are the kernel's numbers
// (NFT_REG_VERDICT, NFT_REG_1.., NFT_REG32_00..); 0 in an sreg/dreg field
// other than immediate's dreg means "not sent".
struct Expr {
  ExprKind kind = ExprKind::Counter;
  uint32_t dreg = 0, sreg = 0;
  uint32_t key = 0;                            // meta, ct: NFT_META_*, NFT_CT_*
  int32_t direction = -1;                      // ct: IP_CT_DIR_*, -1 = not sent
  uint32_t base = 0, offset = 0, len = 0;      // payload; bitwise: len
  uint32_t op = 0;                             // cmp: NFT_CMP_*
  Data data;                                   // cmp operand, immediate value or verdict
  std::vector<uint8_t> mask, xor_;             // bitwise: (reg & mask) ^ xor
  std::string set;                             // lookup
  uint32_t set_id = 0;                         // lookup: a set added in the same batch
  uint32_t flags = 0;                          // lookup NFT_LOOKUP_F_INV, nat/masq NF_NAT_RANGE_*, fib NFTA_FIB_F_*
  uint32_t nat_type = 0;                       // NFT_NAT_SNAT / NFT_NAT_DNAT
  uint32_t family = 0;                         // nat: NFPROTO_IPV4 / IPV6
  uint32_t reg_addr_min = 0, reg_addr_max = 0, reg_proto_min = 0, reg_proto_max = 0;
  uint32_t result = 0;                         // fib: NFT_FIB_RESULT_*
};

struct Table {
  uint8_t family = 0;  // NFPROTO_*
  std::string name;
  uint32_t flags = 0;
  uint64_t handle = 0;  // decode; encode selects by it when name is empty
  uint32_t use = 0;     // decode only
};

struct Chain {
  uint8_t family = 0;
  std::string table, name;
  uint64_t handle = 0;
  bool base = false;       // a base chain: hooknum, priority and type apply
  uint32_t hooknum = 0;    // NF_INET_*
  int32_t priority = 0;
  std::string type;        // "filter", "nat", "route"
  int32_t policy = -1;     // NF_ACCEPT / NF_DROP, -1 = not sent
  uint32_t flags = 0;
  uint32_t use = 0;        // decode only
};

struct Set {
  uint8_t family = 0;
  std::string table, name;
  uint32_t flags = 0;                 // NFT_SET_*
  uint32_t key_type = 0, key_len = 0; // key_type: nft's datatype id, opaque to the kernel
  bool has_data = false;
  uint32_t data_type = 0, data_len = 0;  // NFT_DATA_VERDICT for verdict maps
  std::vector<uint32_t> field_len;    // NFTA_SET_DESC_CONCAT: one per concatenated field
  uint32_t id = 0;                    // NFTA_SET_ID, names the set inside one batch
  uint64_t handle = 0;                // decode
  std::vector<uint8_t> userdata;      // opaque (nft keeps byte order and typeof hints here)
};

struct Elem {
  std::vector<uint8_t> key;
  std::vector<uint8_t> key_end;  // ranges in concatenated interval sets
  uint32_t flags = 0;            // NFT_SET_ELEM_INTERVAL_END ...
  bool has_data = false;
  Data data;
  std::vector<uint8_t> userdata;  // NFTA_SET_ELEM_USERDATA: opaque (nft keeps an element's comment here)
};

struct ElemList {
  uint8_t family = 0;
  std::string table, set;
  uint32_t set_id = 0;
  std::vector<Elem> elems;
};

struct Rule {
  uint8_t family = 0;
  std::string table, chain;
  uint64_t handle = 0;    // DELRULE selects by it; decode fills it
  uint64_t position = 0;  // NEWRULE: insert after this handle (0 = append)
  std::vector<Expr> exprs;
  std::vector<uint8_t> userdata;
  std::vector<std::string> expr_names;  // decode only
};

// Each encoder appends one message to b and returns b.ok(). `type` is an
// NFT_MSG_* (or kMsgDestroy*), `flags` the netlink flags (kAdd, kCreate ...).
bool encode_batch_begin(nl::Builder& b, uint32_t seq, bool check_gen, uint32_t genid);
// Flushes the namespace's connection tracking table (ctnetlink, every
// family), or with expectations its expectations, as `conntrack -F` does.
bool encode_ct_flush(nl::Builder& b, uint32_t seq, bool expectations);
bool encode_batch_end(nl::Builder& b, uint32_t seq);
bool encode_table(nl::Builder& b, uint8_t type, uint16_t flags, uint32_t seq, const Table& t);
bool encode_chain(nl::Builder& b, uint8_t type, uint16_t flags, uint32_t seq, const Chain& c);
bool encode_set(nl::Builder& b, uint8_t type, uint16_t flags, uint32_t seq, const Set& s);
bool encode_setelems(nl::Builder& b, uint8_t type, uint16_t flags, uint32_t seq, const ElemList& l);
bool encode_rule(nl::Builder& b, uint8_t type, uint16_t flags, uint32_t seq, const Rule& r);
// The name the kernel knows an expression by ("meta", "payload" ...), and back.
const char* expr_name(ExprKind k);
bool expr_kind(std::string_view name, ExprKind* out);
// One NFTA_LIST_ELEM of a rule's NFTA_RULE_EXPRESSIONS.
void put_expr(nl::Builder& b, const Expr& e);
bool encode_getgen(nl::Builder& b, uint32_t seq);
// Its answer's generation id: false for a message of the wrong type or a malformed one, as every decoder's.
bool decode_gen(const nlmsghdr* h, uint32_t* genid);
// A dump of GETTABLE/GETCHAIN/GETSET/GETRULE (family 0 = all; `table` and
// `set` are not sent, filter the answers) or of GETSETELEM (family, table
// and set required).
bool encode_dump(nl::Builder& b, uint8_t type, uint32_t seq, uint8_t family, const std::string& table,
                 const std::string& set);

// Decoders return false for a message of the wrong type or a malformed one.
bool decode_table(const nlmsghdr* h, Table* out);
bool decode_chain(const nlmsghdr* h, Chain* out);
bool decode_set(const nlmsghdr* h, Set* out);
bool decode_setelems(const nlmsghdr* h, ElemList* out);
bool decode_rule(const nlmsghdr* h, Rule* out);

// Names the attribute at byte `offset` of a request we built (what an
// extended ACK's NLMSGERR_ATTR_OFFS points at): "NFTA_CHAIN_NAME",
// "NFTA_RULE_EXPRESSIONS[1] (lookup)", or "" if the offset is in no attribute.
std::string describe_offset(const nlmsghdr* request, uint32_t offset);

}  // namespace nsnet::nft
