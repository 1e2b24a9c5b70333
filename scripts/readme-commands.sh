#!/usr/bin/env bash
# Runs, verbatim and in order, the commands of the README's block marked
# <!-- clone-commands -->: what someone who cloned the repository types
# first (set-up, the main job, the tests). CI runs it in a fresh clone, so
# the README cannot promise commands that do not work from one.
#   bash scripts/readme-commands.sh [README.md]
set -euo pipefail
readme=${1:-README.md}
mapfile -t lines < <(awk '
  /<!-- clone-commands/ { marked = 1; next }
  marked && /^```/ { if (inside) exit; inside = 1; next }
  inside { print }
' "$readme")
if ((${#lines[@]} == 0)); then
  echo "readme-commands: no block after <!-- clone-commands --> in $readme" >&2
  exit 1
fi
for line in "${lines[@]}"; do
  [[ -z "${line// }" ]] && continue
  echo "readme-commands: \$ $line"
  bash -euo pipefail -c "$line"
done
