#include "nft.h"

#include <endian.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <sys/socket.h>

#include <cstring>
#include <iterator>

namespace nsnet::nft {

using nl::Attr;
using nl::Builder;
using nl::Kind;
using nl::kNested;
using nl::kU32;
using nl::kU64;
using nl::Policies;
using nl::Policy;

namespace {

// Every nf_tables message opens with a struct nfgenmsg; res_id is only used
// by batch begin/end, to name the subsystem the batch is for.
bool begin(Builder& b, uint16_t type, uint16_t flags, uint32_t seq, uint8_t family, uint16_t res_id = 0) {
  auto* g = b.begin_with<nfgenmsg>(type, flags, seq);
  if (!g) return false;
  g->nfgen_family = family;
  g->version = NFNETLINK_V0;
  g->res_id = htobe16(res_id);
  return true;
}

// The attributes that name a chain or a set in its message.
struct NameAttrs {
  uint16_t table, name, handle;
};

// begin(), then the table an object (T) is in.
template <class T>
bool begin_in(Builder& b, uint8_t type, uint16_t flags, uint32_t seq, const T& x, uint16_t table) {
  if (!begin(b, msg_type(type), flags, seq, x.family)) return false;
  b.put_str(table, x.table);
  return true;
}

// begin_in(), then a chain's or a set's (T) name, or else its handle.
template <class T>
bool begin_named(Builder& b, uint8_t type, uint16_t flags, uint32_t seq, const T& x, NameAttrs a) {
  if (!begin_in(b, type, flags, seq, x, a.table)) return false;
  if (!x.name.empty()) b.put_str(a.name, x.name);
  else if (x.handle) b.put_be64(a.handle, x.handle);
  return true;
}

void put_bytes(Builder& b, uint16_t type, const std::vector<uint8_t>& v) { b.put(type, v.data(), v.size()); }

void put_data(Builder& b, uint16_t type, const Data& d) {
  const size_t n = b.nest_start(type);
  if (d.is_verdict) {
    const size_t v = b.nest_start(NFTA_DATA_VERDICT);
    b.put_be32(NFTA_VERDICT_CODE, static_cast<uint32_t>(d.verdict.code));
    if (!d.verdict.chain.empty()) b.put_str(NFTA_VERDICT_CHAIN, d.verdict.chain);
    b.nest_end(v);
  } else {
    put_bytes(b, NFTA_DATA_VALUE, d.value);
  }
  b.nest_end(n);
}

void put_reg(Builder& b, uint16_t type, uint32_t reg) {
  if (reg) b.put_be32(type, reg);
}

// Attribute order follows libnftnl's, so our bytes can be compared with nft's.
void put_expr_data(Builder& b, const Expr& e) {
  switch (e.kind) {
    case ExprKind::Meta:
      b.put_be32(NFTA_META_KEY, e.key);
      put_reg(b, NFTA_META_DREG, e.dreg);
      put_reg(b, NFTA_META_SREG, e.sreg);
      break;
    case ExprKind::Payload:
      put_reg(b, NFTA_PAYLOAD_DREG, e.dreg);
      b.put_be32(NFTA_PAYLOAD_BASE, e.base);
      b.put_be32(NFTA_PAYLOAD_OFFSET, e.offset);
      b.put_be32(NFTA_PAYLOAD_LEN, e.len);
      break;
    case ExprKind::Cmp:
      b.put_be32(NFTA_CMP_SREG, e.sreg);
      b.put_be32(NFTA_CMP_OP, e.op);
      put_data(b, NFTA_CMP_DATA, e.data);
      break;
    case ExprKind::Bitwise: {
      b.put_be32(NFTA_BITWISE_SREG, e.sreg);
      b.put_be32(NFTA_BITWISE_DREG, e.dreg);
      b.put_be32(NFTA_BITWISE_LEN, e.len);
      Data m;
      m.value = e.mask;
      put_data(b, NFTA_BITWISE_MASK, m);
      m.value = e.xor_;
      put_data(b, NFTA_BITWISE_XOR, m);
      break;
    }
    case ExprKind::Lookup:
      b.put_be32(NFTA_LOOKUP_SREG, e.sreg);
      b.put_str(NFTA_LOOKUP_SET, e.set);
      if (e.set_id) b.put_be32(NFTA_LOOKUP_SET_ID, e.set_id);
      put_reg(b, NFTA_LOOKUP_DREG, e.dreg);
      if (e.flags) b.put_be32(NFTA_LOOKUP_FLAGS, e.flags);
      break;
    case ExprKind::Immediate:
      // dreg 0 is NFT_REG_VERDICT, a real register here: always sent.
      b.put_be32(NFTA_IMMEDIATE_DREG, e.dreg);
      put_data(b, NFTA_IMMEDIATE_DATA, e.data);
      break;
    case ExprKind::Ct:
      b.put_be32(NFTA_CT_KEY, e.key);
      put_reg(b, NFTA_CT_DREG, e.dreg);
      if (e.direction >= 0) b.put_u8(NFTA_CT_DIRECTION, static_cast<uint8_t>(e.direction));
      put_reg(b, NFTA_CT_SREG, e.sreg);
      break;
    case ExprKind::Nat:
      b.put_be32(NFTA_NAT_TYPE, e.nat_type);
      b.put_be32(NFTA_NAT_FAMILY, e.family);
      put_reg(b, NFTA_NAT_REG_ADDR_MIN, e.reg_addr_min);
      put_reg(b, NFTA_NAT_REG_ADDR_MAX, e.reg_addr_max);
      put_reg(b, NFTA_NAT_REG_PROTO_MIN, e.reg_proto_min);
      put_reg(b, NFTA_NAT_REG_PROTO_MAX, e.reg_proto_max);
      if (e.flags) b.put_be32(NFTA_NAT_FLAGS, e.flags);
      break;
    case ExprKind::Masq:
      if (e.flags) b.put_be32(NFTA_MASQ_FLAGS, e.flags);
      put_reg(b, NFTA_MASQ_REG_PROTO_MIN, e.reg_proto_min);
      put_reg(b, NFTA_MASQ_REG_PROTO_MAX, e.reg_proto_max);
      break;
    case ExprKind::Counter: break;  // starts at zero; nft sends an empty nest too
    case ExprKind::Fib:
      b.put_be32(NFTA_FIB_DREG, e.dreg);
      b.put_be32(NFTA_FIB_RESULT, e.result);
      b.put_be32(NFTA_FIB_FLAGS, e.flags);
      break;
  }
}

}  // namespace

void put_expr(Builder& b, const Expr& e) {
  const size_t elem = b.nest_start(NFTA_LIST_ELEM);
  b.put_str(NFTA_EXPR_NAME, expr_name(e.kind));
  const size_t data = b.nest_start(NFTA_EXPR_DATA);
  put_expr_data(b, e);
  b.nest_end(data);
  b.nest_end(elem);
}

bool encode_batch_begin(Builder& b, uint32_t seq, bool check_gen, uint32_t genid) {
  if (!begin(b, NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, seq, AF_UNSPEC, NFNL_SUBSYS_NFTABLES)) return false;
  // The kernel refuses the whole batch with ERESTART if the ruleset's
  // generation is no longer genid: what we read before has changed.
  if (check_gen) b.put_be32(NFNL_BATCH_GENID, genid);
  return b.finish();
}

bool encode_ct_flush(nl::Builder& b, uint32_t seq, bool expectations) {
  // A delete with no tuple deletes them all.
  const uint16_t type = expectations ? (NFNL_SUBSYS_CTNETLINK_EXP << 8) | IPCTNL_MSG_EXP_DELETE : (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;
  auto* g = b.begin_with<nfgenmsg>(type, NLM_F_REQUEST | NLM_F_ACK, seq);
  if (!g) return false;
  g->nfgen_family = AF_UNSPEC;
  g->version = NFNETLINK_V0;
  return b.finish();
}

bool encode_batch_end(Builder& b, uint32_t seq) {
  return begin(b, NFNL_MSG_BATCH_END, NLM_F_REQUEST, seq, AF_UNSPEC, NFNL_SUBSYS_NFTABLES) && b.finish();
}

bool encode_table(Builder& b, uint8_t type, uint16_t flags, uint32_t seq, const Table& t) {
  if (!begin(b, msg_type(type), flags, seq, t.family)) return false;
  if (!t.name.empty()) b.put_str(NFTA_TABLE_NAME, t.name);
  else if (t.handle) b.put_be64(NFTA_TABLE_HANDLE, t.handle);
  if (type == NFT_MSG_NEWTABLE) b.put_be32(NFTA_TABLE_FLAGS, t.flags);
  return b.finish();
}

bool encode_chain(Builder& b, uint8_t type, uint16_t flags, uint32_t seq, const Chain& c) {
  if (!begin_named(b, type, flags, seq, c, {NFTA_CHAIN_TABLE, NFTA_CHAIN_NAME, NFTA_CHAIN_HANDLE})) return false;
  if (type == NFT_MSG_NEWCHAIN) {
    if (c.base && !c.type.empty()) b.put_str(NFTA_CHAIN_TYPE, c.type);
    if (c.policy >= 0) b.put_be32(NFTA_CHAIN_POLICY, static_cast<uint32_t>(c.policy));
    if (c.base) {
      const size_t hook = b.nest_start(NFTA_CHAIN_HOOK);
      b.put_be32(NFTA_HOOK_HOOKNUM, c.hooknum);
      b.put_be32(NFTA_HOOK_PRIORITY, static_cast<uint32_t>(c.priority));
      b.nest_end(hook);
    }
    if (c.flags) b.put_be32(NFTA_CHAIN_FLAGS, c.flags);
  }
  return b.finish();
}

bool encode_set(Builder& b, uint8_t type, uint16_t flags, uint32_t seq, const Set& s) {
  if (!begin_named(b, type, flags, seq, s, {NFTA_SET_TABLE, NFTA_SET_NAME, NFTA_SET_HANDLE})) return false;
  if (type == NFT_MSG_NEWSET) {
    b.put_be32(NFTA_SET_FLAGS, s.flags);
    b.put_be32(NFTA_SET_KEY_TYPE, s.key_type);
    b.put_be32(NFTA_SET_KEY_LEN, s.key_len);
    if (s.has_data) {
      b.put_be32(NFTA_SET_DATA_TYPE, s.data_type);
      b.put_be32(NFTA_SET_DATA_LEN, s.data_len);
    }
    if (s.id) b.put_be32(NFTA_SET_ID, s.id);
    // The field lengths let the kernel pick a backend that matches ranges
    // field by field (pipapo); without them a concatenation is one blob.
    if (!s.field_len.empty()) {
      const size_t desc = b.nest_start(NFTA_SET_DESC);
      const size_t concat = b.nest_start(NFTA_SET_DESC_CONCAT);
      for (uint32_t len : s.field_len) {
        const size_t f = b.nest_start(NFTA_LIST_ELEM);
        b.put_be32(NFTA_SET_FIELD_LEN, len);
        b.nest_end(f);
      }
      b.nest_end(concat);
      b.nest_end(desc);
    }
    if (!s.userdata.empty()) put_bytes(b, NFTA_SET_USERDATA, s.userdata);
  }
  return b.finish();
}

bool encode_setelems(Builder& b, uint8_t type, uint16_t flags, uint32_t seq, const ElemList& l) {
  if (!begin_in(b, type, flags, seq, l, NFTA_SET_ELEM_LIST_TABLE)) return false;
  b.put_str(NFTA_SET_ELEM_LIST_SET, l.set);
  if (l.set_id) b.put_be32(NFTA_SET_ELEM_LIST_SET_ID, l.set_id);
  const size_t list = b.nest_start(NFTA_SET_ELEM_LIST_ELEMENTS);
  uint16_t i = 0;
  for (const Elem& e : l.elems) {
    // The kernel reads any type here; libnftnl numbers the elements 1, 2, ...
    // and so do we, to stay byte-for-byte comparable with nft.
    const size_t n = b.nest_start(static_cast<uint16_t>(++i & NLA_TYPE_MASK));
    if (e.flags) b.put_be32(NFTA_SET_ELEM_FLAGS, e.flags);
    Data k;
    k.value = e.key;
    put_data(b, NFTA_SET_ELEM_KEY, k);
    if (!e.key_end.empty()) {
      k.value = e.key_end;
      put_data(b, NFTA_SET_ELEM_KEY_END, k);
    }
    if (e.has_data) put_data(b, NFTA_SET_ELEM_DATA, e.data);
    if (!e.userdata.empty()) put_bytes(b, NFTA_SET_ELEM_USERDATA, e.userdata);
    b.nest_end(n);
  }
  b.nest_end(list);
  return b.finish();
}

bool encode_rule(Builder& b, uint8_t type, uint16_t flags, uint32_t seq, const Rule& r) {
  if (!begin_in(b, type, flags, seq, r, NFTA_RULE_TABLE)) return false;
  b.put_str(NFTA_RULE_CHAIN, r.chain);
  if (r.handle) b.put_be64(NFTA_RULE_HANDLE, r.handle);
  if (type == NFT_MSG_NEWRULE) {
    if (r.position) b.put_be64(NFTA_RULE_POSITION, r.position);
    if (!r.exprs.empty()) {
      const size_t list = b.nest_start(NFTA_RULE_EXPRESSIONS);
      for (const Expr& e : r.exprs) put_expr(b, e);
      b.nest_end(list);
    }
    if (!r.userdata.empty()) put_bytes(b, NFTA_RULE_USERDATA, r.userdata);
  }
  return b.finish();
}

bool encode_getgen(Builder& b, uint32_t seq) {
  return begin(b, msg_type(NFT_MSG_GETGEN), NLM_F_REQUEST | NLM_F_ACK, seq, AF_UNSPEC) && b.finish();
}

bool encode_dump(Builder& b, uint8_t type, uint32_t seq, uint8_t family, const std::string& table,
                 const std::string& set) {
  if (!begin(b, msg_type(type), NLM_F_REQUEST | NLM_F_DUMP, seq, family)) return false;
  // Only GETSETELEM takes (and needs) the table and set. The other dumps
  // would look the table up by family, and with family 0 quietly find none:
  // callers filter those by table themselves.
  if (type == NFT_MSG_GETSETELEM) {
    b.put_str(NFTA_SET_ELEM_LIST_TABLE, table);
    b.put_str(NFTA_SET_ELEM_LIST_SET, set);
  }
  return b.finish();
}

// ---------------------------------------------------------------- offsets

namespace {

// Top-level attribute names per object, indexed by attribute type.
const char* const kTableAttrs[] = {"", "NAME", "FLAGS", "USE", "HANDLE"};
const char* const kChainAttrs[] = {"", "TABLE", "HANDLE", "NAME", "HOOK", "POLICY", "USE", "TYPE", "COUNTERS", "PAD", "FLAGS"};
const char* const kSetAttrs[] = {"",   "TABLE",    "NAME",   "FLAGS",       "KEY_TYPE", "KEY_LEN",
                                 "DATA_TYPE", "DATA_LEN", "POLICY", "DESC", "ID",       "TIMEOUT",
                                 "GC_INTERVAL", "USERDATA", "PAD",  "OBJ_TYPE", "HANDLE"};
const char* const kElemListAttrs[] = {"", "TABLE", "SET", "ELEMENTS", "SET_ID"};
const char* const kRuleAttrs[] = {"", "TABLE", "CHAIN", "HANDLE", "EXPRESSIONS", "COMPAT", "POSITION", "USERDATA"};

struct Names {
  const char* prefix;
  const char* const* names;
  size_t count;
};

bool names_for(uint8_t msg, Names* out) {
  switch (msg) {
    case NFT_MSG_NEWTABLE: case NFT_MSG_DELTABLE: case kMsgDestroyTable:
      *out = {"NFTA_TABLE_", kTableAttrs, std::size(kTableAttrs)};
      return true;
    case NFT_MSG_NEWCHAIN: case NFT_MSG_DELCHAIN: case kMsgDestroyChain:
      *out = {"NFTA_CHAIN_", kChainAttrs, std::size(kChainAttrs)};
      return true;
    case NFT_MSG_NEWSET: case NFT_MSG_DELSET: case kMsgDestroySet:
      *out = {"NFTA_SET_", kSetAttrs, std::size(kSetAttrs)};
      return true;
    case NFT_MSG_NEWSETELEM: case NFT_MSG_DELSETELEM: case kMsgDestroySetElem:
      *out = {"NFTA_SET_ELEM_LIST_", kElemListAttrs, std::size(kElemListAttrs)};
      return true;
    case NFT_MSG_NEWRULE: case NFT_MSG_DELRULE: case kMsgDestroyRule:
      *out = {"NFTA_RULE_", kRuleAttrs, std::size(kRuleAttrs)};
      return true;
    default: return false;
  }
}

// Calls f(attr) for each attribute of the stream [p, p+len) while f
// returns true. Returns false if f stopped it or the stream is malformed.
template <class F>
bool walk(const uint8_t* p, size_t len, F f) {
  while (len >= nl::kAttrHdrLen) {
    const auto* a = reinterpret_cast<const nlattr*>(p);
    if (a->nla_len < nl::kAttrHdrLen || a->nla_len > len) return false;
    if (!f(a)) return false;
    const size_t step = nl::align4(a->nla_len);
    if (step >= len) break;
    p += step;
    len -= step;
  }
  return true;
}

// The attribute of the stream [p, p+len) that contains absolute offset
// `at` (base is where offsets count from); its index in the stream too.
const nlattr* containing(const uint8_t* base, const uint8_t* p, size_t len, uint32_t at, size_t* index) {
  const nlattr* found = nullptr;
  size_t i = 0;
  walk(p, len, [&](const nlattr* a) {
    const size_t start = static_cast<size_t>(reinterpret_cast<const uint8_t*>(a) - base);
    if (at >= start && at < start + a->nla_len) {
      found = a;
      *index = i;
      return false;
    }
    i++;
    return true;
  });
  return found;
}

}  // namespace

std::string describe_offset(const nlmsghdr* h, uint32_t offset) {
  Names n;
  if ((h->nlmsg_type >> 8) != NFNL_SUBSYS_NFTABLES || !names_for(nft_msg_of(h->nlmsg_type), &n)) return "";
  const auto* base = reinterpret_cast<const uint8_t*>(h);
  const size_t off = nl::kHdrLen + nl::align4(sizeof(nfgenmsg));
  if (h->nlmsg_len <= off || offset >= h->nlmsg_len) return "";
  size_t index = 0;
  const nlattr* a = containing(base, base + off, h->nlmsg_len - off, offset, &index);
  if (!a) return "";
  const uint16_t type = a->nla_type & NLA_TYPE_MASK;
  std::string out = n.prefix;
  out += type < n.count ? n.names[type] : std::to_string(type);
  const bool is_list = (nft_msg_of(h->nlmsg_type) == NFT_MSG_NEWRULE && type == NFTA_RULE_EXPRESSIONS) ||
                       (n.names == kElemListAttrs && type == NFTA_SET_ELEM_LIST_ELEMENTS);
  if (!is_list) return out;
  // Lists say which element, and for expressions which kind.
  const auto* inner = reinterpret_cast<const uint8_t*>(a) + nl::kAttrHdrLen;
  const nlattr* el = containing(base, inner, a->nla_len - nl::kAttrHdrLen, offset, &index);
  if (!el) return out;
  out += "[" + std::to_string(index) + "]";
  if (type == NFTA_RULE_EXPRESSIONS && n.names == kRuleAttrs) {
    Attr e[NFTA_EXPR_MAX + 1];
    static const Policy ep[NFTA_EXPR_MAX + 1] = {{}, {Kind::String, 0, 31}, kNested};
    if (nl::parse_nested(Attr{el}, e, NFTA_EXPR_MAX, ep).ok() && e[NFTA_EXPR_NAME])
      out += " (" + std::string(e[NFTA_EXPR_NAME].str()) + ")";
  }
  return out;
}

// ---------------------------------------------------------------- decoding

namespace {

uint32_t be32(Attr a) { return a.be32(); }
uint64_t be64(Attr a) { return be64toh(a.u64()); }
std::string str(Attr a) { return a ? std::string(a.str()) : std::string(); }
std::vector<uint8_t> bytes(Attr a) { return a ? std::vector<uint8_t>(a.data(), a.data() + a.len()) : std::vector<uint8_t>(); }

const nfgenmsg* genmsg(const nlmsghdr* h, uint8_t want) {
  if ((h->nlmsg_type >> 8) != NFNL_SUBSYS_NFTABLES || nft_msg_of(h->nlmsg_type) != want) return nullptr;
  if (h->nlmsg_len < nl::kHdrLen + sizeof(nfgenmsg)) return nullptr;
  return reinterpret_cast<const nfgenmsg*>(reinterpret_cast<const uint8_t*>(h) + nl::kHdrLen);
}

// Checks that h is an nf_tables `want` message and indexes its attributes
// into tb, which must hold `required` (0: nothing is). Returns the message's
// nfgenmsg, or null.
template <size_t N>
const nfgenmsg* parse_obj(const nlmsghdr* h, uint8_t want, Attr (&tb)[N], const Policy (&p)[N], uint16_t required) {
  const nfgenmsg* g = genmsg(h, want);
  if (!g || !nl::parse_msg(h, sizeof(nfgenmsg), tb, N - 1, p).ok() || (required && !tb[required])) return nullptr;
  return g;
}

constexpr Policy kName{Kind::String, 0, NFT_NAME_MAXLEN - 1};
constexpr Policy kChainName{Kind::String, 0, NFT_CHAIN_MAXNAMELEN - 1};

bool get_data(Attr a, Data* out) {
  Attr tb[NFTA_DATA_MAX + 1];
  static const Policy p[NFTA_DATA_MAX + 1] = {{}, {Kind::Binary, 1, NFT_DATA_VALUE_MAXLEN}, kNested};
  if (!nl::parse_nested(a, tb, NFTA_DATA_MAX, p).ok()) return false;
  *out = Data{};
  if (tb[NFTA_DATA_VALUE]) {
    out->value = bytes(tb[NFTA_DATA_VALUE]);
    return true;
  }
  if (!tb[NFTA_DATA_VERDICT]) return false;
  Attr v[NFTA_VERDICT_MAX + 1];
  static const Policy vp[NFTA_VERDICT_MAX + 1] = {{}, kU32, kChainName};
  if (!nl::parse_nested(tb[NFTA_DATA_VERDICT], v, NFTA_VERDICT_MAX, vp).ok() || !v[NFTA_VERDICT_CODE]) return false;
  out->is_verdict = true;
  out->verdict.code = static_cast<int32_t>(be32(v[NFTA_VERDICT_CODE]));
  out->verdict.chain = str(v[NFTA_VERDICT_CHAIN]);
  return true;
}

// parse_obj, then *out started afresh with the message's family.
template <class T, size_t N>
bool parse_into(const nlmsghdr* h, uint8_t want, Attr (&tb)[N], const Policy (&p)[N], uint16_t required, T* out) {
  const nfgenmsg* g = parse_obj(h, want, tb, p, required);
  if (!g) return false;
  *out = T{};
  out->family = g->nfgen_family;
  return true;
}

// The table, name and handle of a chain or a set (T), as begin_named puts them.
template <class T>
void get_named(const Attr* tb, NameAttrs a, T* out) {
  out->table = str(tb[a.table]);
  out->name = str(tb[a.name]);
  if (tb[a.handle]) out->handle = be64(tb[a.handle]);
}

// Calls f(attr) for each attribute of a list nest (NFTA_LIST_ELEM ...).
// Returns false if the list is malformed.
template <class F>
bool each_in(Attr list, F f) {
  return walk(list.data(), list.len(), [&](const nlattr* a) { return f(Attr{a}); });
}


}  // namespace

namespace {

// In ExprKind order.
constexpr const char* kExprNames[] = {"meta", "payload", "cmp",  "bitwise", "lookup", "immediate",
                                      "ct",   "nat",     "masq", "counter", "fib"};
static_assert(std::size(kExprNames) == static_cast<size_t>(ExprKind::Fib) + 1, "a name for every ExprKind");

}  // namespace

const char* expr_name(ExprKind k) { return kExprNames[static_cast<size_t>(k)]; }

bool expr_kind(std::string_view name, ExprKind* out) {
  for (size_t i = 0; i < std::size(kExprNames); i++) {
    if (name == kExprNames[i]) {
      *out = static_cast<ExprKind>(i);
      return true;
    }
  }
  return false;
}

bool decode_gen(const nlmsghdr* h, uint32_t* genid) {
  Attr tb[NFTA_GEN_MAX + 1];
  static const Policy p[NFTA_GEN_MAX + 1] = {{}, kU32, kU32, {Kind::String, 0, 0}};
  if (!parse_obj(h, NFT_MSG_NEWGEN, tb, p, NFTA_GEN_ID)) return false;
  *genid = be32(tb[NFTA_GEN_ID]);
  return true;
}

bool decode_table(const nlmsghdr* h, Table* out) {
  Attr tb[NFTA_TABLE_MAX + 1];
  static const Policies<NFTA_TABLE_MAX> p{
      {NFTA_TABLE_NAME, kName}, {NFTA_TABLE_FLAGS, kU32}, {NFTA_TABLE_USE, kU32}, {NFTA_TABLE_HANDLE, kU64}};
  if (!parse_into(h, NFT_MSG_NEWTABLE, tb, p.p, NFTA_TABLE_NAME, out)) return false;
  out->name = str(tb[NFTA_TABLE_NAME]);
  if (tb[NFTA_TABLE_FLAGS]) out->flags = be32(tb[NFTA_TABLE_FLAGS]);
  if (tb[NFTA_TABLE_USE]) out->use = be32(tb[NFTA_TABLE_USE]);
  if (tb[NFTA_TABLE_HANDLE]) out->handle = be64(tb[NFTA_TABLE_HANDLE]);
  return true;
}

bool decode_chain(const nlmsghdr* h, Chain* out) {
  Attr tb[NFTA_CHAIN_MAX + 1];
  static const Policies<NFTA_CHAIN_MAX> p{
      {NFTA_CHAIN_TABLE, kName}, {NFTA_CHAIN_NAME, kChainName}, {NFTA_CHAIN_HANDLE, kU64}, {NFTA_CHAIN_HOOK, kNested},
      {NFTA_CHAIN_POLICY, kU32}, {NFTA_CHAIN_USE, kU32}, {NFTA_CHAIN_FLAGS, kU32}, {NFTA_CHAIN_TYPE, {Kind::String, 0, 15}}};
  if (!parse_into(h, NFT_MSG_NEWCHAIN, tb, p.p, NFTA_CHAIN_NAME, out)) return false;
  get_named(tb, {NFTA_CHAIN_TABLE, NFTA_CHAIN_NAME, NFTA_CHAIN_HANDLE}, out);
  if (tb[NFTA_CHAIN_HOOK]) {
    Attr hk[NFTA_HOOK_MAX + 1];
    static const Policy hp[NFTA_HOOK_MAX + 1] = {{}, kU32, kU32, {Kind::String, 0, 15}};
    if (!nl::parse_nested(tb[NFTA_CHAIN_HOOK], hk, NFTA_HOOK_MAX, hp).ok()) return false;
    out->base = hk[NFTA_HOOK_HOOKNUM] && hk[NFTA_HOOK_PRIORITY];
    if (hk[NFTA_HOOK_HOOKNUM]) out->hooknum = be32(hk[NFTA_HOOK_HOOKNUM]);
    if (hk[NFTA_HOOK_PRIORITY]) out->priority = static_cast<int32_t>(be32(hk[NFTA_HOOK_PRIORITY]));
  }
  if (tb[NFTA_CHAIN_POLICY]) out->policy = static_cast<int32_t>(be32(tb[NFTA_CHAIN_POLICY]));
  if (tb[NFTA_CHAIN_USE]) out->use = be32(tb[NFTA_CHAIN_USE]);
  out->type = str(tb[NFTA_CHAIN_TYPE]);
  if (tb[NFTA_CHAIN_FLAGS]) out->flags = be32(tb[NFTA_CHAIN_FLAGS]);
  return true;
}

bool decode_set(const nlmsghdr* h, Set* out) {
  Attr tb[NFTA_SET_MAX + 1];
  static const Policies<NFTA_SET_MAX> p{
      {NFTA_SET_TABLE, kName},     {NFTA_SET_NAME, kName},      {NFTA_SET_FLAGS, kU32},
      {NFTA_SET_KEY_TYPE, kU32},   {NFTA_SET_KEY_LEN, kU32},    {NFTA_SET_DATA_TYPE, kU32},
      {NFTA_SET_DATA_LEN, kU32},   {NFTA_SET_DESC, kNested},    {NFTA_SET_ID, kU32},
      {NFTA_SET_HANDLE, kU64}};
  if (!parse_into(h, NFT_MSG_NEWSET, tb, p.p, NFTA_SET_NAME, out)) return false;
  get_named(tb, {NFTA_SET_TABLE, NFTA_SET_NAME, NFTA_SET_HANDLE}, out);
  if (tb[NFTA_SET_FLAGS]) out->flags = be32(tb[NFTA_SET_FLAGS]);
  if (tb[NFTA_SET_KEY_TYPE]) out->key_type = be32(tb[NFTA_SET_KEY_TYPE]);
  if (tb[NFTA_SET_KEY_LEN]) out->key_len = be32(tb[NFTA_SET_KEY_LEN]);
  if (tb[NFTA_SET_DATA_TYPE]) {
    out->has_data = true;
    out->data_type = be32(tb[NFTA_SET_DATA_TYPE]);
    if (tb[NFTA_SET_DATA_LEN]) out->data_len = be32(tb[NFTA_SET_DATA_LEN]);
  }
  if (tb[NFTA_SET_ID]) out->id = be32(tb[NFTA_SET_ID]);
  out->userdata = bytes(tb[NFTA_SET_USERDATA]);
  if (tb[NFTA_SET_DESC]) {
    Attr d[NFTA_SET_DESC_MAX + 1];
    if (nl::parse_nested(tb[NFTA_SET_DESC], d, NFTA_SET_DESC_MAX, nullptr).ok() && d[NFTA_SET_DESC_CONCAT]) {
      // A list: every element is NFTA_LIST_ELEM, so walk it rather than index it.
      const bool ok = each_in(d[NFTA_SET_DESC_CONCAT], [&](Attr f) {
        Attr fl[NFTA_SET_FIELD_MAX + 1];
        static const Policy fp[NFTA_SET_FIELD_MAX + 1] = {{}, kU32};
        if (!nl::parse_nested(f, fl, NFTA_SET_FIELD_MAX, fp).ok() || !fl[NFTA_SET_FIELD_LEN]) return false;
        out->field_len.push_back(be32(fl[NFTA_SET_FIELD_LEN]));
        return true;
      });
      if (!ok) return false;
    }
  }
  return true;
}

bool decode_setelems(const nlmsghdr* h, ElemList* out) {
  Attr tb[NFTA_SET_ELEM_LIST_MAX + 1];
  static const Policy p[NFTA_SET_ELEM_LIST_MAX + 1] = {{}, kName, kName, kNested, kU32};
  if (!parse_into(h, NFT_MSG_NEWSETELEM, tb, p, 0, out)) return false;
  out->table = str(tb[NFTA_SET_ELEM_LIST_TABLE]);
  out->set = str(tb[NFTA_SET_ELEM_LIST_SET]);
  if (!tb[NFTA_SET_ELEM_LIST_ELEMENTS]) return true;
  return each_in(tb[NFTA_SET_ELEM_LIST_ELEMENTS], [&](Attr a) {
    Attr e[NFTA_SET_ELEM_MAX + 1];
    static const Policies<NFTA_SET_ELEM_MAX> ep{
        {NFTA_SET_ELEM_KEY, kNested}, {NFTA_SET_ELEM_DATA, kNested}, {NFTA_SET_ELEM_FLAGS, kU32},
        {NFTA_SET_ELEM_KEY_END, kNested}, {NFTA_SET_ELEM_USERDATA, {Kind::Binary, 0, NFT_USERDATA_MAXLEN}}};
    if (!nl::parse_nested(a, e, NFTA_SET_ELEM_MAX, ep.p).ok()) return false;
    Elem el;
    Data d;
    // A catch-all element has no key.
    if (e[NFTA_SET_ELEM_KEY]) {
      if (!get_data(e[NFTA_SET_ELEM_KEY], &d) || d.is_verdict) return false;
      el.key = std::move(d.value);
    }
    if (e[NFTA_SET_ELEM_KEY_END]) {
      if (!get_data(e[NFTA_SET_ELEM_KEY_END], &d) || d.is_verdict) return false;
      el.key_end = std::move(d.value);
    }
    if (e[NFTA_SET_ELEM_FLAGS]) el.flags = be32(e[NFTA_SET_ELEM_FLAGS]);
    if (e[NFTA_SET_ELEM_USERDATA])
      el.userdata.assign(e[NFTA_SET_ELEM_USERDATA].data(), e[NFTA_SET_ELEM_USERDATA].data() + e[NFTA_SET_ELEM_USERDATA].len());
    if (e[NFTA_SET_ELEM_DATA]) {
      if (!get_data(e[NFTA_SET_ELEM_DATA], &el.data)) return false;
      el.has_data = true;
    }
    out->elems.push_back(std::move(el));
    return true;
  });
}

bool decode_rule(const nlmsghdr* h, Rule* out) {
  Attr tb[NFTA_RULE_MAX + 1];
  static const Policies<NFTA_RULE_MAX> p{
      {NFTA_RULE_TABLE, kName}, {NFTA_RULE_CHAIN, kChainName}, {NFTA_RULE_HANDLE, kU64},
      {NFTA_RULE_EXPRESSIONS, kNested}, {NFTA_RULE_POSITION, kU64}};
  if (!parse_into(h, NFT_MSG_NEWRULE, tb, p.p, NFTA_RULE_HANDLE, out)) return false;
  out->table = str(tb[NFTA_RULE_TABLE]);
  out->chain = str(tb[NFTA_RULE_CHAIN]);
  out->handle = be64(tb[NFTA_RULE_HANDLE]);
  if (tb[NFTA_RULE_POSITION]) out->position = be64(tb[NFTA_RULE_POSITION]);
  out->userdata = bytes(tb[NFTA_RULE_USERDATA]);
  if (!tb[NFTA_RULE_EXPRESSIONS]) return true;
  return each_in(tb[NFTA_RULE_EXPRESSIONS], [&](Attr a) {
    Attr e[NFTA_EXPR_MAX + 1];
    static const Policy ep[NFTA_EXPR_MAX + 1] = {{}, {Kind::String, 0, 31}, kNested};
    if (!nl::parse_nested(a, e, NFTA_EXPR_MAX, ep).ok() || !e[NFTA_EXPR_NAME]) return false;
    out->expr_names.push_back(str(e[NFTA_EXPR_NAME]));
    return true;
  });
}

}  // namespace nsnet::nft
