// The Docker front door's pure parts: the plugin protocol's readers, the
// names Docker's ids map to, Docker's port bindings as nsnet's `-p` values
// and back, and the DOCKER-USER rules of a network. No privileges.
import { describe, expect, test } from 'vitest';

import { endpointName, networkName, sandboxName } from '../src/docker/ids.js';
import { portBindings, portSpecs, PORTMAP } from '../src/docker/portmap.js';
import { dockerId, parseBody, PluginError, read } from '../src/docker/protocol.js';
import { dockerUserRules } from '../src/firewall/dockeruser.js';
import { parsePort } from '../src/ports.js';

const ID = 'a'.repeat(60) + '0123';

describe('the plugin protocol', () => {
  test('a body is a JSON object or empty; anything else is a 400 naming what is wrong', () => {
    expect(parseBody('')).toEqual({});
    expect(parseBody(' {"A": 1} ')).toEqual({ A: 1 });
    for (const bad of ['{"A":', '[]', 'null', '7', '"x"']) {
      const e = (() => {
        try {
          parseBody(bad);
        } catch (err) {
          return err as PluginError;
        }
      })();
      expect(e).toBeInstanceOf(PluginError);
      expect(e!.status).toBe(400);
    }
  });

  test("readers take Go's nil (null) as absent, and refuse a field of the wrong type with a 400", () => {
    expect(read.str({ A: null }, 'A', false)).toBe('');
    expect(read.obj({ A: null }, 'A')).toEqual({});
    expect(read.list({}, 'A')).toEqual([]);
    expect(read.bool({ A: true }, 'A')).toBe(true);
    expect(() => read.str({}, 'A')).toThrow(/A is missing/);
    expect(() => read.str({ A: 7 }, 'A')).toThrow(/A must be a string/);
    expect(() => read.obj({ A: [] }, 'A')).toThrow(/A must be an object/);
    expect(() => read.list({ A: [1] }, 'A')).toThrow(/list of objects/);
    expect(() => read.strings({ A: { k: 1 } }, 'A')).toThrow(/A\.k must be a string/);
    expect(() => read.bool({ A: 'yes' }, 'A')).toThrow(/true or false/);
  });

  test("Docker's ids are 64 hex digits", () => {
    expect(dockerId({ NetworkID: ID }, 'NetworkID')).toBe(ID);
    for (const bad of ['', 'abc', ID.toUpperCase(), `${ID}0`, '../etc/passwd']) expect(() => dockerId({ NetworkID: bad }, 'NetworkID')).toThrow(PluginError);
  });
});

describe("names of Docker's objects", () => {
  test('a network is docker-<12 digits>, an endpoint its id less the last digit (63 characters), a sandbox docker-<the key\'s last part> or a hash of an odd key', () => {
    expect(networkName(ID)).toBe(`docker-${ID.slice(0, 12)}`);
    expect(endpointName(ID)).toBe(ID.slice(0, 63));
    expect(sandboxName('/var/run/docker/netns/3f2a9c1b0d4e')).toBe('docker-3f2a9c1b0d4e');
    const odd = sandboxName('/run/docker/netns/ bad name');
    expect(odd).toMatch(/^docker-[0-9a-f]{16}$/);
    expect(sandboxName('/a/ bad name')).not.toBe(odd);
  });
});

describe("Docker's port bindings", () => {
  const binding = (o: object) => ({ Proto: 6, IP: '', Port: 80, HostIP: '', HostPort: 0, HostPortEnd: 0, ...o });

  test('each binding is the -p value Docker parsed it from: every address or one (IPv6 in brackets), a host port, a range, or an ephemeral one; tcp, udp and sctp', () => {
    const specs = portSpecs({
      [PORTMAP]: [
        binding({ HostPort: 8080, HostPortEnd: 8080 }),
        binding({ Proto: 17, Port: 53, HostIP: '127.0.0.1', HostPort: 5353 }),
        binding({ Proto: 132, Port: 9, HostIP: '::1', HostPort: 0 }),
        binding({ HostPort: 8000, HostPortEnd: 8010 }),
        binding({}),
      ],
    });
    expect(specs).toEqual(['8080:80/tcp', '127.0.0.1:5353:53/udp', '[::1]::9/sctp', '8000-8010:80/tcp', '80/tcp']);
    expect(specs.map((s) => parsePort(s))).toEqual([
      { protocol: 'tcp', hostIp: null, hostPort: 8080, hostPortEnd: 8080, containerPort: 80, containerPortEnd: 80 },
      { protocol: 'udp', hostIp: '127.0.0.1', hostPort: 5353, hostPortEnd: 5353, containerPort: 53, containerPortEnd: 53 },
      { protocol: 'sctp', hostIp: '::1', hostPort: null, hostPortEnd: null, containerPort: 9, containerPortEnd: 9 },
      { protocol: 'tcp', hostIp: null, hostPort: 8000, hostPortEnd: 8010, containerPort: 80, containerPortEnd: 80 },
      { protocol: 'tcp', hostIp: null, hostPort: null, hostPortEnd: null, containerPort: 80, containerPortEnd: 80 },
    ]);
  });

  test('none, or a null list, is no port; a binding that is not one is a 400', () => {
    expect(portSpecs({})).toEqual([]);
    expect(portSpecs({ [PORTMAP]: null })).toEqual([]);
    for (const bad of [{ [PORTMAP]: 'x' }, { [PORTMAP]: [null] }, { [PORTMAP]: [binding({ Proto: 1 })] }, { [PORTMAP]: [binding({ Port: 0 })] }, { [PORTMAP]: [binding({ HostPort: 70000 })] }, { [PORTMAP]: [binding({ HostIP: 5 })] }]) {
      expect(() => portSpecs(bad)).toThrow(PluginError);
    }
  });

  test('published ports go back to Docker as bindings with the host port chosen', () => {
    expect(portBindings([{ protocol: 'udp', hostIp: '0.0.0.0', hostPort: 49153, containerPort: 53 }])).toEqual([
      { Proto: 17, IP: '', Port: 53, HostIP: '0.0.0.0', HostPort: 49153, HostPortEnd: 49153 },
    ]);
  });
});

test("a network's DOCKER-USER rules: replies and published ports in, its own traffic within, new connections to Docker's bridges back to Docker's rules, the rest out; each tagged with the store and the network", () => {
  const rules = dockerUserRules('0123456789abcdef', { id: 'n1', interface: { kind: 'bridge', name: 'nsbr-x' }, subnets: [], internal: false, icc: true, masquerade: true });
  const tag = '-m comment --comment "nsnet 0123456789abcdef n1"';
  expect(rules).toEqual([
    `-o nsbr-x -m conntrack --ctstate RELATED,ESTABLISHED,DNAT ${tag} -j ACCEPT`,
    `-i nsbr-x -o nsbr-x ${tag} -j ACCEPT`,
    `-i nsbr-x -o docker0 ${tag} -j RETURN`,
    `-i nsbr-x -o br-+ ${tag} -j RETURN`,
    `-i nsbr-x ${tag} -j ACCEPT`,
  ]);
});

test("a routed network's DOCKER-USER rules name its host veths by their prefix, as iptables writes a wildcard", () => {
  const rules = dockerUserRules('0123456789abcdef', { id: 'n2', interface: { kind: 'prefix', prefix: 'nsr00a' }, subnets: [], internal: false, icc: true, masquerade: true });
  const tag = '-m comment --comment "nsnet 0123456789abcdef n2"';
  expect(rules[1]).toBe(`-i nsr00a+ -o nsr00a+ ${tag} -j ACCEPT`);
  expect(rules.every((r) => !r.includes('undefined') && /-[io] nsr00a\+ /.test(r))).toBe(true);
});
