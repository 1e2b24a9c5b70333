#!/usr/bin/env node
// npm's prepare step: compiles the TypeScript into dist/ wherever the source
// is installed (npm ci or npm install in a clone, a git dependency, npm pack).
// `npx nsnet` in a clone where nothing is installed yet also runs this step
// (npx installs the clone itself, without its dependencies), and a failure
// there would leave npx's cache entry broken for good; so without the
// compiler this says what to do and succeeds, as the install step does
// without node-gyp-build, and bin/nsnet.js says the same when it runs.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));
if (!existsSync(tsc)) {
  console.error(`nsnet: the dependencies in ${root} are not installed yet, so dist/ is not built: run 'npm ci' there`);
  process.exit(0);
}
const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
