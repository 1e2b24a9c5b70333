// IP address parsing without regular expressions: Node's net.isIP matches
// IPv6 with one large regular expression, which V8 compiles on its first use,
// on the JS thread, inside whatever call needed it first; nsnet must not put
// that stall in a caller's first create. The accepted forms are net.isIP's
// (test/ipaddr.test.ts checks them against it), zones aside.

/** The four octets of a dotted-quad IPv4 address, or null. */
export function parseIPv4(s: string): number[] | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  const out: number[] = [];
  for (const p of parts) {
    if (p.length === 0 || p.length > 3) return null;
    let n = 0;
    for (let i = 0; i < p.length; i++) {
      const c = p.charCodeAt(i) - 48;
      if (c < 0 || c > 9) return null;
      n = n * 10 + c;
    }
    if (n > 255 || (p.length > 1 && p[0] === '0')) return null; // no octal-looking octets
    out.push(n);
  }
  return out;
}

/** The eight 16-bit groups of an IPv6 address (with `::` and an IPv4 tail), or null. */
export function parseIPv6(s: string): number[] | null {
  if (s.length < 2 || s.length > 45) return null;
  const dbl = s.indexOf('::');
  if (dbl >= 0 && s.indexOf('::', dbl + 1) >= 0) return null;
  // An IPv4 tail may end the address, nowhere else: not before '::'.
  const groups = (part: string, end: boolean): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    const fields = part.split(':');
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      if (end && i === fields.length - 1 && f.includes('.')) {
        const v4 = parseIPv4(f);
        if (!v4) return null;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
        continue;
      }
      if (f.length === 0 || f.length > 4) return null;
      let n = 0;
      for (let k = 0; k < f.length; k++) {
        const c = f.charCodeAt(k);
        const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
        if (d < 0) return null;
        n = n * 16 + d;
      }
      out.push(n);
    }
    return out;
  };
  if (dbl < 0) {
    const g = groups(s, true);
    return g && g.length === 8 ? g : null;
  }
  const head = groups(s.slice(0, dbl), false);
  const tail = groups(s.slice(dbl + 2), true);
  if (!head || !tail || head.length + tail.length > 7) return null;
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/** 4, 6, or 0 when s is not an IP address (net.isIP's contract, without zones). */
export function ipFamily(s: string): 0 | 4 | 6 {
  if (s.includes(':')) return parseIPv6(s) ? 6 : 0;
  return parseIPv4(s) ? 4 : 0;
}

// Addresses as bigints, so IPv4 and IPv6 share one code path in IPAM and the firewall.
export type Family = 4 | 6;

export function toBig(addr: string): { family: Family; n: bigint } | null {
  if (addr.includes(':')) {
    const g = parseIPv6(addr);
    if (!g) return null;
    let n = 0n;
    for (const x of g) n = (n << 16n) | BigInt(x);
    return { family: 6, n };
  }
  const o = parseIPv4(addr);
  if (!o) return null;
  return { family: 4, n: BigInt(((o[0]! << 24) >>> 0) + (o[1]! << 16) + (o[2]! << 8) + o[3]!) };
}

export function fromBig(family: Family, n: bigint): string {
  if (family === 4) {
    const v = Number(n);
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const g: string[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((n >> BigInt(i * 16)) & 0xffffn).toString(16));
  // The longest run of two or more zero groups becomes '::' (RFC 5952), as `ip` prints it.
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === '0') j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return g.join(':');
  return `${g.slice(0, best).join(':')}::${g.slice(best + bestLen).join(':')}`;
}
