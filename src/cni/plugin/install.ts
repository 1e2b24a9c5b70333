// Puts the plugin binaries where runtimes look for them (CNI_PATH, usually
// /opt/cni/bin): the native shim twice, as `nsnet` and `nsnet-ipam` (it
// tells them apart by its name), and beside them `nsnet.conf`, which says
// where the daemon listens and, for the slow path, which node runs which
// script (absolute paths: runtimes exec plugins with their own PATH).
import { arch } from 'node:os';
import { chmodSync, copyFileSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { NsnetError, ValidationError } from '../../errors.js';

// dist/cni/plugin/ is three levels below the package root.
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The shim this package carries: a source build's, else the prebuilt one for this machine. */
export function shimBinary(): string {
  const candidates = [join(root, 'build', 'Release', 'nsnet-cni'), join(root, 'prebuilds', `linux-${arch()}`, 'nsnet-cni')];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw NsnetError.state('ERR_NSNET_NOT_FOUND', 'cni.install', candidates.join(' '), `the nsnet CNI shim is not built (looked for ${candidates.join(', ')})`);
  return found;
}

/** The slow path's script. */
export const pluginEntry = () => join(root, 'dist', 'cni', 'plugin', 'main.js');

export interface InstallOptions {
  /** Where runtimes find plugins (default /opt/cni/bin). */
  dir?: string;
  /** The daemon's CNI socket (default /run/nsnet/cni.sock). */
  socket?: string;
  /** The slow path's state dir (default: nsnet's, /var/lib/nsnet or NSNET_STATE_DIR). */
  stateDir?: string;
  /** The node that runs the slow path (default: this one). */
  node?: string;
  /** How long the shim waits for the daemon's answer. */
  timeoutMs?: number;
}

const absolute = (v: string, field: string) => {
  if (!v.startsWith('/') || /[\n\0]/.test(v)) throw new ValidationError(field, v, 'must be an absolute path');
  return v;
};

/** Installs the plugins; returns the files written. Each replaces the old one by rename, so a runtime exec'ing it meanwhile sees one or the other. */
export function installPlugins(o: InstallOptions = {}): string[] {
  const dir = absolute(o.dir ?? '/opt/cni/bin', 'dir');
  const lines = [
    '# Written by `nsnet cni install`: where the nsnet CNI plugin finds the daemon,',
    '# and what it runs when no daemon answers.',
    `socket=${absolute(o.socket ?? '/run/nsnet/cni.sock', 'socket')}`,
    `node=${absolute(o.node ?? process.execPath, 'node')}`,
    `entry=${pluginEntry()}`,
    ...(o.stateDir ? [`state_dir=${absolute(o.stateDir, 'stateDir')}`] : []),
    ...(o.timeoutMs ? [`timeout_ms=${Math.round(o.timeoutMs)}`] : []),
  ];
  const shim = shimBinary();
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const written: string[] = [];
  const place = (name: string, write: (tmp: string) => void, mode: number) => {
    const dst = join(dir, name);
    const tmp = `${dst}.nsnet-tmp`;
    write(tmp);
    chmodSync(tmp, mode);
    renameSync(tmp, dst);
    written.push(dst);
  };
  place('nsnet.conf', (t) => writeFileSync(t, `${lines.join('\n')}\n`), 0o644);
  for (const name of ['nsnet', 'nsnet-ipam']) place(name, (t) => copyFileSync(shim, t), 0o755);
  return written;
}
