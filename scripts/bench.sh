#!/usr/bin/env bash
# Runs every built benchmark (bench/<name>/ builds an executable named <name>) and prints the one
# JSON line each writes. Usage: scripts/bench.sh [BUILD_DIR] [NAME...]
set -uo pipefail
BUILD="${1:-build/release}"; shift || true
names=("$@")
if ((${#names[@]} == 0)); then
  for d in bench/*/; do names+=("$(basename "$d")"); done
fi
rc=0
for n in "${names[@]}"; do
  exe="$(find "$BUILD/bench" -type f -executable -name "$n" 2>/dev/null | head -1)"
  if [ -z "$exe" ]; then echo "{\"bench\":\"$n\",\"error\":\"not built\"}"; rc=1; continue; fi
  "$exe" || { echo "{\"bench\":\"$n\",\"error\":\"exit $?\"}"; rc=1; }
done
exit $rc
