// The image of the container tests: busybox-static with its applet links,
// and a page to serve, packed as a tar that `podman import` and `docker
// import` take offline (nothing is pulled from a registry).
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** What /www/index.html says; the containers' httpd serves it. */
export const PAGE = 'served by a container on an nsnet network';

/** Builds the rootfs under dir/rootfs and packs it; resolves with the tar's path. */
export async function busyboxTar(dir: string, applets: string[]): Promise<string> {
  const root = join(dir, 'rootfs');
  for (const sub of ['bin', 'www']) mkdirSync(join(root, sub), { recursive: true });
  copyFileSync('/bin/busybox', join(root, 'bin/busybox'));
  for (const a of applets) symlinkSync('busybox', join(root, 'bin', a));
  writeFileSync(join(root, 'www/index.html'), `${PAGE}\n`);
  const tar = join(dir, 'rootfs.tar');
  await promisify(execFile)('tar', ['-C', root, '-cf', tar, '.']);
  return tar;
}
