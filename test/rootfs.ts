// The image of the container tests (Podman's and Docker's): busybox-static
// with its applet links and the files asked for, a root filesystem that
// `podman import` and `docker import` take offline (nothing is pulled from a
// registry).
import { copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** What /www/index.html says where a test asks for it (busyboxRootfs's page). */
export const PAGE = 'served by a container on an nsnet network';

/** Builds the root filesystem at dir/rootfs: busybox with sh, sleep, ip, cat and the applets, and files by path inside it (executable under bin/). Resolves with its path. */
export async function busyboxRootfs(dir: string, applets: string[] = [], files: Record<string, string> = {}): Promise<string> {
  const root = join(dir, 'rootfs');
  await mkdir(join(root, 'bin'), { recursive: true });
  await copyFile('/bin/busybox', join(root, 'bin', 'busybox'));
  for (const c of new Set(['sh', 'sleep', 'ip', 'cat', ...applets])) await symlink('busybox', join(root, 'bin', c));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), text, { mode: path.startsWith('bin/') ? 0o755 : 0o644 }); // bin/: a script to run
  }
  return root;
}
