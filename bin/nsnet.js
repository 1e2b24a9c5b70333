#!/usr/bin/env node
// The nsnet command. It sits outside dist/ so that it exists in a fresh
// clone before anything is built: `npx nsnet` can link it at once, and if
// dist/ is missing it says how to build it instead of "not found".
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  console.error(`nsnet: ${fileURLToPath(main)} is not built yet: run 'npm ci' (or 'npm run build') in ${fileURLToPath(new URL('..', import.meta.url))}`);
  process.exit(1);
}
await import(main.href);
