// nsnet cni install: puts nsnet's plugins where runtimes (Podman,
// containerd, CRI-O) look for them.
import { installPlugins } from '../cni/plugin/install.js';
import { DEFAULT_CNI_SOCKET } from '../daemon/doors.js';
import type { Command } from './args.js';

export const install: Command = {
  name: 'install',
  summary: 'install the nsnet and nsnet-ipam plugins (the native shim) into a CNI plugin directory',
  flags: [
    { name: 'dir', value: 'DIR', help: 'the plugin directory runtimes search (default /opt/cni/bin)' },
    { name: 'socket', value: 'PATH', help: `where nsnet daemon listens (default ${DEFAULT_CNI_SOCKET})` },
    { name: 'state-dir', value: 'DIR', help: 'the state dir the plugin uses when no daemon runs (default NSNET_STATE_DIR, else /var/lib/nsnet)' },
    { name: 'node', value: 'PATH', help: 'the node that runs the plugin when no daemon runs (default: this one)' },
  ],
  async run(a) {
    const stateDir = a.str('state-dir') ?? process.env.NSNET_STATE_DIR;
    const files = installPlugins({
      ...(a.str('dir') ? { dir: a.str('dir')! } : {}),
      ...(a.str('socket') ? { socket: a.str('socket')! } : {}),
      ...(stateDir ? { stateDir } : {}),
      ...(a.str('node') ? { node: a.str('node')! } : {}),
    });
    for (const f of files) console.log(f);
    return 0;
  },
};
