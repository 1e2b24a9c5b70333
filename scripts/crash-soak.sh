#!/bin/sh
# The long crash-consistency run (issue 15): test/crash.test.ts with many
# more SIGKILLs than CI's shortened run, inside the test sandbox.
#   scripts/crash-soak.sh [kills]   (default 100)
set -e
cd "$(dirname "$0")/.."
npx tsc -p tsconfig.json
NSNET_CRASH_KILLS="${1:-100}" node scripts/sandbox.mjs node_modules/.bin/vitest run test/crash.test.ts
