#!/bin/sh
# The long concurrency run (issue 15): 4 processes sharing one state dir
# create [count] sandboxes each (default 250) with ephemeral host ports from
# one range, while this process opens and reconciles beside them; and
# [rounds] rounds (default 100) of two processes making the same network,
# or overlapping ones, while others reconcile and remove networks.
#   scripts/concurrency-soak.sh [count] [rounds]
set -e
cd "$(dirname "$0")/.."
npx tsc -p tsconfig.json
NSNET_CONCURRENCY_COUNT="${1:-250}" NSNET_NETWORK_RACE_ROUNDS="${2:-100}" node scripts/sandbox.mjs node_modules/.bin/vitest run test/concurrency.test.ts
