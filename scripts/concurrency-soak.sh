#!/bin/sh
# The long concurrency run (issue 15): 4 processes sharing one state dir
# create [count] sandboxes each (default 250) with ephemeral host ports from
# one range, while this process opens and reconciles beside them.
#   scripts/concurrency-soak.sh [count]
set -e
cd "$(dirname "$0")/.."
npx tsc -p tsconfig.json
NSNET_CONCURRENCY_COUNT="${1:-250}" node scripts/sandbox.mjs node_modules/.bin/vitest run test/concurrency.test.ts
