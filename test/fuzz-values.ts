// Arbitrary JS values for test/addon-fuzz.test.ts: anything a caller of the
// addon could pass (every type, edge numbers, hostile objects), and specs
// shaped like the ones src/native.ts describes with a field or two replaced
// by such a value. A seeded generator, so a failure names its seed.

/** mulberry32: small, fast, good enough to pick test values. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Thrown by the hostile objects below: the addon must pass it on as it is. */
export class GetterError extends Error {}

export interface Pools {
  /** Namespace handles the fuzzer owns (anything may be done in them). */
  handles: () => object[];
  /** Other addon objects: closed handles, handles not yet created, watch handles. */
  others: () => object[];
  /** Called by a hostile getter: closes something, or calls back into the addon. */
  sideEffect: () => void;
}

const NUMBERS = [0, -0, 1, -1, 2, 4, 6, 10, 15, 16, 128, 255, 256, 1500, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32,
  2 ** 53, -(2 ** 53), -(2 ** 63), 1e300, 1.5, -0.5, NaN, Infinity, -Infinity, Number.MIN_VALUE];
const STRINGS = ['', ' ', 'x', 'lo', 'eth0', 'fz0', 'fz1', 'veth', 'bridge', 'dummy', 'macvlan', 'vxlan', 'ipvlan', 'bond', 'link.add',
  'addr.add', 'route.add', 'link.set', 'link.del', 'addr.del', 'route.del', 'route.replace', 'tcp', 'udp', 'table', 'chain', 'set',
  'elems', 'rule', 'add', 'create', 'del', 'destroy', 'gen', 'tables', 'chains', 'sets', 'rules', 'meta', 'payload', 'cmp', 'lookup',
  'immediate', 'counter', 'nat', 'masq', 'fib', 'ct', 'bitwise', '10.0.0.1', '10.0.0.0', '255.255.255.255', '0.0.0.0', '::', '::1',
  'fe80::1', 'ff02::1', '1.2.3', '1.2.3.4.5', '256.1.1.1', '10.0.0.1/24', '02:42:ac:11:00:02', '00:00:00:00:00:00', 'ff:ff:ff:ff:ff:ff',
  '02:42:ac:11:00', '02:42:ac:11:00:02:03', 'zz:zz:zz:zz:zz:zz', 'a'.repeat(15), 'a'.repeat(16), 'a'.repeat(300), 'x\0y',
  '\u{1F600}', '%s%n%x', 'default', 'inet', 'nat', 'filter', 'prerouting', 'accept', 'drop'];

function bytes(rand: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

export class Values {
  constructor(
    readonly rand: () => number,
    private readonly pools: Pools,
  ) {}

  int(n: number): number {
    return Math.floor(this.rand() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  chance(p: number): boolean {
    return this.rand() < p;
  }

  number(): number {
    return this.chance(0.7) ? this.pick(NUMBERS) : Math.floor((this.rand() - 0.5) * 2 ** (1 + this.int(40)));
  }
  string(): string {
    if (this.chance(0.8)) return this.pick(STRINGS);
    let s = '';
    for (let i = this.int(24); i > 0; i--) s += String.fromCharCode(this.int(this.chance(0.9) ? 128 : 0x10000));
    return s;
  }
  buffer(): Buffer {
    return bytes(this.rand, this.chance(0.1) ? 70_000 : this.int(40));
  }
  handle(): object {
    const own = this.pools.handles();
    const others = this.pools.others();
    return own.length && (this.chance(0.8) || !others.length) ? this.pick(own) : others.length ? this.pick(others) : {};
  }

  /** An object whose properties throw, or change the world as they are read. */
  hostile(shape: Record<string, unknown> = {}): object {
    const side = this.pools.sideEffect;
    switch (this.int(5)) {
      case 0:
        return new Proxy(shape, { get: () => { throw new GetterError('get'); } });
      case 1:
        return new Proxy(shape, { ownKeys: () => { throw new GetterError('ownKeys'); } });
      case 2: {
        const o: Record<string, unknown> = { ...shape };
        const k = this.pick(Object.keys(o).concat(['x']));
        Object.defineProperty(o, k, { enumerable: true, get: () => { side(); return shape[k]; } });
        return o;
      }
      case 3:
        return Object.assign(Object.create(null), shape);
      default:
        return Object.assign(Object.create({ inherited: 1, op: 'link.add', name: 'fzp' }), shape);
    }
  }

  /** Any value at all. */
  any(depth = 0): unknown {
    switch (this.int(depth > 2 ? 10 : 14)) {
      case 0: return undefined;
      case 1: return null;
      case 2: return this.chance(0.5);
      case 3:
      case 4: return this.number();
      case 5:
      case 6: return this.string();
      case 7: return this.buffer();
      case 8: return this.handle();
      case 9: return this.pick([0n, -1n, 2n ** 64n, Symbol('s'), () => 1, new Date(0), new Uint8Array(4), new ArrayBuffer(8), new Map(), /x/]);
      case 10: return Array.from({ length: this.int(4) }, () => this.any(depth + 1));
      case 11: {
        const o: Record<string, unknown> = {};
        for (let i = this.int(4); i > 0; i--) o[this.string()] = this.any(depth + 1);
        return o;
      }
      case 12: return this.hostile({ op: 'link.add', kind: 'dummy', name: 'fzh' });
      // One item; something that only says it is long; an array as long as
      // JS allows, all holes (it costs JS nothing).
      default: return this.pick([[this.any(depth + 1)], { length: 2 ** 32 - 1 }, new Array(2 ** 32 - 1), new Array(100_000)]);
    }
  }

  /** shape with now and then a field replaced, dropped or added, or the whole of it hostile. */
  mutate(shape: Record<string, unknown>): unknown {
    const o: Record<string, unknown> = { ...shape };
    const keys = Object.keys(o);
    for (let n = this.int(3); n > 0; n--) {
      const k = this.chance(0.8) && keys.length ? this.pick(keys) : this.string();
      if (this.chance(0.2)) delete o[k];
      else o[k] = this.any(1);
    }
    if (this.chance(0.05)) return this.hostile(o);
    if (this.chance(0.03)) return this.any();
    return o;
  }

  dev(): unknown {
    return this.chance(0.5) ? this.pick(['lo', 'fz0', 'fz1', 'fzb', 'nope']) : this.pick([1, 2, 3, 0, -1, 2 ** 31]);
  }
  ip(v6 = this.chance(0.3)): string {
    return v6 ? this.pick(['fd00::1', 'fd00::2', '::1', 'fe80::1']) : `10.${this.int(3)}.${this.int(3)}.${this.int(256)}`;
  }

  /** A NativeOp, mostly right. */
  op(): unknown {
    const v6 = this.chance(0.3);
    const shapes: (() => Record<string, unknown>)[] = [
      () => ({ op: 'link.add', kind: this.pick(['dummy', 'bridge', 'veth', 'macvlan', 'vxlan', 'bogus']), name: this.pick(['fz0', 'fz1', 'fzb', 'fzv']),
        up: this.chance(0.5), mtu: this.pick([1280, 1500, 9000]), peer: { name: 'fzp', netns: this.handle() }, link: this.dev(),
        mode: 4, vni: this.int(100), port: 4789, master: this.chance(0.3) ? 'fzb' : undefined }),
      () => ({ op: 'link.set', dev: this.dev(), up: this.chance(0.5), mtu: 1400, master: this.pick([null, 'fzb', 'lo', 9]),
        netns: this.chance(0.2) ? this.handle() : undefined, mac: '02:00:00:00:00:01', addrGenMode: 1, hairpin: true, fdbFlush: true }),
      () => ({ op: 'link.del', dev: this.dev() }),
      () => ({ op: this.pick(['addr.add', 'addr.del']), dev: this.dev(), address: this.ip(v6), prefixlen: this.int(129),
        peer: this.chance(0.2) ? this.ip(v6) : undefined, label: this.chance(0.2) ? 'fz0:1' : undefined }),
      () => ({ op: this.pick(['route.add', 'route.replace', 'route.del']), family: v6 ? 10 : 2, dst: this.ip(v6), dstLen: this.int(129),
        gateway: this.chance(0.5) ? this.ip(v6) : undefined, dev: this.dev(), table: this.pick([254, 100, 0, 2 ** 32 - 1]),
        metric: this.int(1000), onlink: this.chance(0.2) }),
    ];
    return this.mutate(this.pick(shapes)());
  }

  /** A NativeNftOp, mostly right: a table, chain, set, elements or a rule. */
  nftOp(): unknown {
    const T = { family: this.pick([1, 2, 10, 7, 0, 99]), table: this.pick(['fz', 'fz2', '']) };
    const verb = this.pick(['add', 'create', 'del', 'destroy']);
    const expr = (): unknown =>
      this.mutate(this.pick([
        { expr: 'meta', key: 3, dreg: 1 },
        { expr: 'payload', base: 1, offset: 9, len: 1, dreg: 1 },
        { expr: 'cmp', sreg: 1, op: 0, data: this.buffer() },
        { expr: 'lookup', sreg: 1, set: 'fzs', flags: 0 },
        { expr: 'immediate', dreg: 0, verdict: { code: this.pick([1, 0, -1, -2, -3, -4]), chain: this.chance(0.3) ? 'fzc' : undefined } },
        { expr: 'counter' },
        { expr: 'nat', natType: 1, family: 2, regAddrMin: 1, regProtoMin: 2 },
        { expr: 'bitwise', sreg: 1, dreg: 1, len: 4, mask: this.buffer(), xor: this.buffer() },
      ]));
    const shapes: (() => Record<string, unknown>)[] = [
      () => ({ obj: 'table', verb, ...T, flags: this.int(4) }),
      () => ({ obj: 'chain', verb, ...T, name: 'fzc', hook: this.chance(0.5) ? this.int(6) : undefined, priority: this.int(200) - 100,
        type: this.pick(['filter', 'nat', 'route', 'x']), policy: this.int(3) - 1 }),
      () => ({ obj: 'set', verb, ...T, name: 'fzs', keyType: 7, keyLen: this.pick([4, 16, 0, 65]), dataType: this.chance(0.3) ? 7 : undefined,
        dataLen: 4, flags: this.int(64), id: this.int(5), fieldLen: this.chance(0.3) ? [4, 2] : undefined, userdata: this.buffer() }),
      () => ({ obj: 'elems', verb, ...T, set: 'fzs', setId: this.int(3),
        elems: Array.from({ length: this.int(4) }, () => this.mutate({ key: this.buffer(), keyEnd: this.chance(0.2) ? this.buffer() : undefined,
          data: this.chance(0.3) ? this.buffer() : undefined, flags: this.int(4) })) }),
      () => ({ obj: 'rule', verb, ...T, chain: 'fzc', handle: this.int(10), position: this.int(10), userdata: this.buffer(),
        exprs: Array.from({ length: this.int(5) }, expr) }),
    ];
    return this.mutate(this.pick(shapes)());
  }

  /** A list of ops or nft ops, a group, or junk. */
  groups(): unknown {
    if (this.chance(0.05)) return this.any();
    return Array.from({ length: this.int(3) }, () => {
      const g = this.chance(0.7)
        ? { ns: this.handle(), ops: Array.from({ length: this.int(5) }, () => this.op()) }
        : { ns: this.handle(), nft: Array.from({ length: this.int(5) }, () => this.nftOp()) };
      return this.mutate(g);
    });
  }
}
