// The typed description of nf_tables changes (tables, chains, sets and
// maps, elements, rules) and its conversion into the addon's ops: every
// check happens here, before anything reaches the kernel.
import { ValidationError } from '../errors.js';
import type { NativeNftElem, NativeNftOp } from '../native.js';
import { toNativeExpr, verdictCode, type Expr, type Verdict } from './nftexpr.js';
import {
  NFT_DATA_VERDICT,
  commentUserdata,
  encodeTuple,
  ifnameRange,
  isIfnameWildcard,
  layout,
  prefixRange,
  setUserdata,
  successor,
  type Layout,
  type NftType,
  type NftValue,
} from './nftvalues.js';

export type NftFamily = 'ip' | 'ip6' | 'inet' | 'arp' | 'bridge' | 'netdev';
export const FAMILY: Record<NftFamily, number> = { ip: 2, ip6: 10, inet: 1, arp: 3, bridge: 7, netdev: 5 };
export const FAMILY_NAME = new Map(Object.entries(FAMILY).map(([k, v]) => [v, k as NftFamily]));

export type Hook = 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting' | 'ingress';
const HOOK: Record<Hook, number> = { prerouting: 0, input: 1, forward: 2, output: 3, postrouting: 4, ingress: 0 };
export const HOOK_NAME = ['prerouting', 'input', 'forward', 'output', 'postrouting'] as const;

export interface TableSpec {
  family: NftFamily;
  name: string;
}

export interface ChainSpec {
  family: NftFamily;
  table: string;
  name: string;
  /** A base chain: the hook it is attached to, with type and priority. */
  hook?: Hook;
  type?: 'filter' | 'nat' | 'route';
  /** nft's named priorities: filter 0, dstnat -100, srcnat 100, mangle -150, raw -300. */
  priority?: number;
  policy?: 'accept' | 'drop';
}

export interface SetSpec {
  family: NftFamily;
  table: string;
  name: string;
  /** One type, or several for a concatenation (`ipv4_addr . inet_service`). */
  key: NftType | NftType[];
  /** A map: the data type(s), or 'verdict' for a verdict map. */
  data?: NftType | NftType[] | 'verdict';
  /** Elements may be ranges or prefixes. */
  interval?: boolean;
}

export interface Element {
  /** A value, or a list for a concatenation; in interval sets an address field may be a prefix. */
  key: NftValue | NftValue[];
  /** Interval sets: the inclusive end of a range starting at key. */
  keyEnd?: NftValue | NftValue[];
  /** A map's data: a value or a list. */
  data?: NftValue | NftValue[];
  /** A verdict map's data. */
  verdict?: Verdict;
  /**
   * One-field interval sets: given (true or false), the element is sent as
   * the kernel lists it (elements() of such a set), a range's start or the
   * first value past it, rather than as a range to expand; so a listing
   * can be added back as it was.
   */
  intervalEnd?: boolean;
  /**
   * Kept with the element as nft keeps an element's comment
   * (NFTA_SET_ELEM_USERDATA); `nft list` shows it. In a one-field interval
   * set it goes with the range's start (the kernel refuses it on an end).
   */
  comment?: string;
}

export interface ElementsSpec {
  set: SetSpec;
  elements: Element[];
}

export interface RuleSpec {
  family: NftFamily;
  table: string;
  chain: string;
  exprs: Expr[];
  /** Stored as nft does (rule user data), so `nft list` shows it and rules() finds the rule by it. */
  comment?: string;
  /** Add after the rule with this handle instead of at the end. */
  position?: number;
  /** Delete: the rule's handle. */
  handle?: number;
}

/**
 * add: create, or leave an existing one as it is; create: fail if it
 * exists (EEXIST); delete: fail if it does not (ENOENT); destroy: delete if
 * it exists (Linux 6.3+).
 */
export type NftVerb = 'add' | 'create' | 'delete' | 'destroy';

export type NftOp =
  | { verb: NftVerb; table: TableSpec }
  | { verb: NftVerb; chain: ChainSpec }
  | { verb: NftVerb; set: SetSpec }
  | { verb: NftVerb; elements: ElementsSpec }
  | { verb: 'add' | 'delete' | 'destroy'; rule: RuleSpec };

export function family(v: unknown, field: string): number {
  if (typeof v !== 'string' || !Object.hasOwn(FAMILY, v)) throw new ValidationError(field, v, `must be one of ${Object.keys(FAMILY).join(', ')}`);
  return FAMILY[v as NftFamily];
}

export function objName(v: unknown, field: string): string {
  if (typeof v !== 'string' || v.length === 0 || Buffer.byteLength(v) > 255 || v.includes('\0'))
    throw new ValidationError(field, v, 'must be a name of 1 to 255 bytes without NUL');
  return v;
}

function handle(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new ValidationError(field, v, 'must be a positive integer handle');
  return v;
}

const VERB: Record<NftVerb, NativeNftOp['verb']> = { add: 'add', create: 'create', delete: 'del', destroy: 'destroy' };

/** What every op on something inside a table starts with: the object, the verb, and the table. */
function inTable(obj: NativeNftOp['obj'], verb: NftVerb, at: { family: unknown; table: unknown }, field: string): NativeNftOp {
  return { obj, verb: VERB[verb], family: family(at.family, `${field}.family`), table: objName(at.table, `${field}.table`) };
}

export interface SetLayout {
  key: Layout;
  data: Layout | null;
  verdict: boolean;
  interval: boolean;
}

// A ruleset reuses a few constant SetSpecs for every element it adds: the
// layout of a frozen one (with frozen type lists) cannot change, so it is
// worked out once; any other spec is read afresh each time.
const layouts = new WeakMap<SetSpec, SetLayout>();
const frozen = (s: SetSpec) =>
  Object.isFrozen(s) && (!Array.isArray(s.key) || Object.isFrozen(s.key)) && (!Array.isArray(s.data) || Object.isFrozen(s.data));

export function setLayout(s: SetSpec, field: string): SetLayout {
  const known = s && typeof s === 'object' ? layouts.get(s) : undefined;
  if (known) return known;
  const l = computeLayout(s, field);
  if (frozen(s)) layouts.set(s, l);
  return l;
}

function computeLayout(s: SetSpec, field: string): SetLayout {
  const key = layout(s.key, `${field}.key`);
  const verdict = s.data === 'verdict';
  const data = s.data === undefined || verdict ? null : layout(s.data as NftType | NftType[], `${field}.data`);
  return { key, data, verdict, interval: !!s.interval };
}

function setOp(verb: NftVerb, s: SetSpec, field: string): NativeNftOp {
  const op = inTable('set', verb, s, field);
  op.name = objName(s.name, `${field}.name`);
  if (verb === 'delete' || verb === 'destroy') return op;
  const l = setLayout(s, field);
  const concat = l.key.types.length > 1;
  // NFT_SET_INTERVAL 4, NFT_SET_MAP 8, NFT_SET_CONCAT 0x80 (a concatenation
  // with ranges: the kernel matches it field by field).
  op.flags = (l.interval ? 4 : 0) | (l.data || l.verdict ? 8 : 0) | (concat && l.interval ? 0x80 : 0);
  op.keyType = l.key.id;
  op.keyLen = l.key.len;
  if (l.verdict) {
    op.dataType = NFT_DATA_VERDICT;
    op.dataLen = 0;
  } else if (l.data) {
    op.dataType = l.data.id;
    op.dataLen = l.data.len;
  }
  if (concat && l.interval) op.fieldLen = l.key.fieldLen;
  const ud = setUserdata(l.key, l.data);
  if (ud) op.userdata = ud;
  return op;
}

function isAddressType(t: NftType): t is 'ipv4_addr' | 'ipv6_addr' {
  return t === 'ipv4_addr' || t === 'ipv6_addr';
}

// A key with prefixes, in an interval set: its first and last value.
function keyRange(l: Layout, e: Element, field: string): [Buffer, Buffer] {
  if (e.keyEnd !== undefined) return [encodeTuple(l, e.key, `${field}.key`), encodeTuple(l, e.keyEnd, `${field}.keyEnd`)];
  const values = l.types.length > 1 ? e.key : [e.key];
  if (!Array.isArray(values) || values.length !== l.types.length) {
    const b = encodeTuple(l, e.key, `${field}.key`); // throws the right message
    return [b, b];
  }
  const first: Buffer[] = [];
  const last: Buffer[] = [];
  l.types.forEach((t, i) => {
    const f = l.types.length > 1 ? `${field}.key[${i}]` : `${field}.key`;
    const [a, b] = isAddressType(t)
      ? prefixRange(t, values[i], f)
      : t === 'ifname' && isIfnameWildcard(values[i])
        ? ifnameRange(values[i] as string, f)
        : [encodeTuple({ ...l, types: [t] }, values[i], f), null];
    const pad = (x: Buffer) => (l.types.length > 1 ? Buffer.concat([x, Buffer.alloc(((x.length + 3) & ~3) - x.length)]) : x);
    first.push(pad(a));
    last.push(pad(b ?? a));
  });
  return [Buffer.concat(first), Buffer.concat(last)];
}

function elemsOp(verb: NftVerb, spec: ElementsSpec, field: string): NativeNftOp {
  if (!spec || typeof spec !== 'object' || !spec.set) throw new ValidationError(field, spec, 'must be { set, elements }');
  const s = spec.set;
  const l = setLayout(s, `${field}.set`);
  if (!Array.isArray(spec.elements) || spec.elements.length === 0) throw new ValidationError(`${field}.elements`, spec.elements, 'must be a non-empty list');
  const adding = verb === 'add' || verb === 'create';
  const elems: NativeNftElem[] = [];
  spec.elements.forEach((e, i) => {
    const f = `${field}.elements[${i}]`;
    if (!e || typeof e !== 'object') throw new ValidationError(f, e, 'must be an element object');
    const data: Partial<NativeNftElem> = {};
    const ud = e.comment === undefined || !adding ? {} : { userdata: commentUserdata(e.comment, `${f}.comment`) };
    if (adding && l.verdict) {
      if (e.verdict === undefined) throw new ValidationError(`${f}.verdict`, e.verdict, 'a verdict map element needs a verdict');
      data.verdict = verdictCode(e.verdict, `${f}.verdict`);
    } else if (adding && l.data) {
      if (e.data === undefined) throw new ValidationError(`${f}.data`, e.data, 'a map element needs data');
      data.data = encodeTuple(l.data, e.data, `${f}.data`);
    } else if (adding && (e.data !== undefined || e.verdict !== undefined)) {
      throw new ValidationError(f, e, 'a set element has no data');
    }
    if (!l.interval) {
      if (e.keyEnd !== undefined) throw new ValidationError(`${f}.keyEnd`, e.keyEnd, 'only interval sets hold ranges');
      const values = l.key.types.length > 1 ? e.key : [e.key];
      if (Array.isArray(values) && values.some((x, j) => l.key.types[j] === 'ifname' && isIfnameWildcard(x)))
        throw new ValidationError(`${f}.key`, e.key, 'an interface name wildcard (name*) is a range: only interval sets hold one');
      elems.push({ key: encodeTuple(l.key, e.key, `${f}.key`), ...data, ...ud });
      return;
    }
    if (e.intervalEnd !== undefined && l.key.types.length === 1) {
      if (typeof e.intervalEnd !== 'boolean') throw new ValidationError(`${f}.intervalEnd`, e.intervalEnd, 'must be a boolean');
      // The kernel takes no user data on a range's end (EINVAL): the comment is the start's.
      elems.push({ key: encodeTuple(l.key, e.key, `${f}.key`), ...(e.intervalEnd ? { flags: 1 } : { ...data, ...ud }) });
      return;
    }
    const [first, last] = keyRange(l.key, e, f);
    if (Buffer.compare(first, last) > 0) throw new ValidationError(`${f}.keyEnd`, e.keyEnd, 'must not be below key');
    if (l.key.types.length > 1) {
      elems.push({ key: first, keyEnd: last, ...data, ...ud });
      return;
    }
    // One field: the kernel's rbtree wants the range as two elements, the
    // start and the first value past it flagged NFT_SET_ELEM_INTERVAL_END.
    elems.push({ key: first, ...data, ...ud });
    const past = successor(last);
    if (past) elems.push({ key: past, flags: 1 });
  });
  return { ...inTable('elems', verb, s, `${field}.set`), set: objName(s.name, `${field}.set.name`), elems };
}

function chainOp(verb: NftVerb, c: ChainSpec, field: string): NativeNftOp {
  const op = inTable('chain', verb, c, field);
  op.name = objName(c.name, `${field}.name`);
  if (verb === 'delete' || verb === 'destroy') return op;
  if (c.hook !== undefined) {
    if (!Object.hasOwn(HOOK, c.hook)) throw new ValidationError(`${field}.hook`, c.hook, `must be one of ${Object.keys(HOOK).join(', ')}`);
    const type = c.type ?? 'filter';
    if (!['filter', 'nat', 'route'].includes(type)) throw new ValidationError(`${field}.type`, c.type, "must be 'filter', 'nat' or 'route'");
    const prio = c.priority ?? 0;
    if (!Number.isInteger(prio) || prio < -0x80000000 || prio > 0x7fffffff) throw new ValidationError(`${field}.priority`, c.priority, 'must be a 32-bit integer');
    op.hook = HOOK[c.hook];
    op.type = type;
    op.priority = prio;
  } else if (c.type !== undefined || c.priority !== undefined || c.policy !== undefined) {
    throw new ValidationError(`${field}.hook`, c.hook, 'type, priority and policy need a hook (a base chain)');
  }
  if (c.policy !== undefined) {
    if (c.policy !== 'accept' && c.policy !== 'drop') throw new ValidationError(`${field}.policy`, c.policy, "must be 'accept' or 'drop'");
    op.policy = c.policy === 'accept' ? 1 : 0;
  }
  return op;
}

function ruleOp(verb: NftVerb, r: RuleSpec, field: string): NativeNftOp {
  const op = inTable('rule', verb, r, field);
  op.chain = objName(r.chain, `${field}.chain`);
  if (verb === 'create') throw new ValidationError(`${field}`, verb, "rules are added, not created: use 'add'");
  if (verb !== 'add') {
    op.handle = handle(r.handle, `${field}.handle`);
    return op;
  }
  if (!Array.isArray(r.exprs) || r.exprs.length === 0) throw new ValidationError(`${field}.exprs`, r.exprs, 'must be a non-empty list');
  if (r.exprs.length > 128) throw new ValidationError(`${field}.exprs`, r.exprs.length, 'must be at most 128 expressions');
  op.exprs = r.exprs.map((e, i) => toNativeExpr(e, `${field}.exprs[${i}]`));
  if (r.comment !== undefined) op.userdata = commentUserdata(r.comment);
  if (r.position !== undefined) op.position = handle(r.position, `${field}.position`);
  return op;
}

export interface Described {
  op: NativeNftOp;
  request: string;
  object: string;
}

const REQUEST: Record<NativeNftOp['obj'], [string, string]> = {
  table: ['NFT_MSG_NEWTABLE', 'NFT_MSG_DELTABLE'],
  chain: ['NFT_MSG_NEWCHAIN', 'NFT_MSG_DELCHAIN'],
  set: ['NFT_MSG_NEWSET', 'NFT_MSG_DELSET'],
  elems: ['NFT_MSG_NEWSETELEM', 'NFT_MSG_DELSETELEM'],
  rule: ['NFT_MSG_NEWRULE', 'NFT_MSG_DELRULE'],
};

/** Checks one op and converts it for the addon; throws ValidationError. */
export function toNativeNftOp(o: NftOp, field = 'op'): Described {
  if (!o || typeof o !== 'object' || !['add', 'create', 'delete', 'destroy'].includes(o.verb))
    throw new ValidationError(`${field}.verb`, (o as { verb?: unknown })?.verb, "must be 'add', 'create', 'delete' or 'destroy'");
  let op: NativeNftOp;
  let object: string;
  if ('table' in o) {
    const t = o.table;
    op = { obj: 'table', verb: VERB[o.verb], family: family(t?.family, `${field}.table.family`), table: objName(t.name, `${field}.table.name`) };
    object = `table ${t.family} ${t.name}`;
  } else if ('chain' in o) {
    op = chainOp(o.verb, o.chain, `${field}.chain`);
    object = `chain ${o.chain.family} ${o.chain.table} ${o.chain.name}`;
  } else if ('set' in o) {
    op = setOp(o.verb, o.set, `${field}.set`);
    object = `${o.set.data ? 'map' : 'set'} ${o.set.family} ${o.set.table} ${o.set.name}`;
  } else if ('elements' in o) {
    op = elemsOp(o.verb, o.elements, `${field}.elements`);
    object = `elements of ${o.elements.set.family} ${o.elements.set.table} ${o.elements.set.name}`;
  } else if ('rule' in o) {
    op = ruleOp(o.verb, o.rule, `${field}.rule`);
    object = `rule ${o.rule.family} ${o.rule.table} ${o.rule.chain}${o.rule.comment ? ` '${o.rule.comment}'` : ''}${o.rule.handle ? ` handle ${o.rule.handle}` : ''}`;
  } else {
    throw new ValidationError(field, o, 'must name a table, chain, set, elements or rule');
  }
  const [add, del] = REQUEST[op.obj];
  const request = op.verb === 'add' || op.verb === 'create' ? add : op.verb === 'destroy' ? del.replace('DEL', 'DESTROY') : del;
  return { op, request, object };
}

