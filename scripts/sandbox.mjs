#!/usr/bin/env node
// Runs a command (the tests, the benchmarks) inside a private network and
// mount namespace, so nothing it does can reach or change the host's network:
//   node scripts/sandbox.mjs <command> [args...]
// Inside: a fresh netns with only lo (up), tmpfs over /run/netns, /etc/netns
// and the state dir, over what CNI plugins and Podman write (libcni's cache
// and host-local's leases in /var/lib/cni, tuning's backups in /run/cni,
// /etc/cni/net.d, container storage and Podman's run dirs), over what
// dockerd and its containerd write (their data and run dirs, /etc/docker,
// and /run/docker/plugins, where dockerd finds plugins), and
// NSNET_HOST_NETNS pointing at the host's namespace (read-only use: the
// host-untouched test lists it). Outside, the host's links, addresses and
// routes are compared before and after; any change fails the run.
import { spawnSync, execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
if (args.length === 0) {
  console.error('usage: sandbox.mjs <command> [args...]');
  process.exit(2);
}

const PRIVATE_DIRS = ['/run/netns', '/etc/netns', '/var/lib/nsnet', '/run/nsnet',
  '/var/lib/cni', '/run/cni', '/etc/cni/net.d', '/var/lib/containers', '/run/containers', '/run/libpod',
  '/var/lib/docker', '/run/docker', '/etc/docker', '/var/lib/containerd', '/run/containerd'];

function inside() {
  for (const d of PRIVATE_DIRS) {
    mkdirSync(d, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'mode=0755', 'nsnet-sandbox', d]);
  }
  execFileSync('ip', ['link', 'set', 'lo', 'up']);
  const r = spawnSync(args[0], args.slice(1), { stdio: 'inherit' });
  if (r.error) throw r.error;
  process.exit(r.status ?? 1);
}

// What the host's network looks like, minus counters that change by themselves.
function hostView() {
  const ip = (...a) => JSON.parse(execFileSync('ip', ['-j', ...a], { encoding: 'utf8' }) || '[]');
  const links = ip('link', 'show').map(({ ifindex, ifname, flags, mtu, master, address, link_type }) => ({
    ifindex, ifname, flags, mtu, master, address, link_type,
  }));
  const addrs = ip('addr', 'show').map(({ ifname, addr_info }) => ({
    ifname,
    addrs: (addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`).sort(),
  }));
  const routes = [...ip('route', 'show', 'table', 'all'), ...ip('-6', 'route', 'show', 'table', 'all')]
    .map((r) => `${r.dst} ${r.gateway ?? ''} ${r.dev ?? ''} ${r.table ?? 'main'}`)
    .sort();
  return JSON.stringify({ links, addrs, routes }, null, 1);
}

if (process.env.NSNET_IN_SANDBOX === '1') {
  inside();
} else {
  const before = hostView();
  const snap = join(tmpdir(), `nsnet-host-${process.pid}.json`);
  writeFileSync(snap, before);
  const r = spawnSync('unshare', ['--net', '--mount', '--propagation', 'private', process.execPath, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: {
      ...process.env,
      NSNET_IN_SANDBOX: '1',
      NSNET_HOST_NETNS: `/proc/${process.pid}/ns/net`,
      NSNET_HOST_SNAPSHOT: snap,
    },
  });
  if (r.error) {
    console.error(`sandbox: cannot run unshare: ${r.error.message} (needs root or CAP_SYS_ADMIN)`);
    process.exit(1);
  }
  rmSync(snap, { force: true });
  const after = hostView();
  if (after !== before) {
    console.error("sandbox: the host's network changed during the run");
    console.error(`before:\n${before}\nafter:\n${after}`);
    process.exit(1);
  }
  process.exit(r.status ?? 1);
}
