#!/usr/bin/env bash
# Runs every libFuzzer target built by the fuzz preset for a short time each (FUZZ_SECONDS,
# default 10). A crash fails the run and leaves the reproducer in build/fuzz/crashes/.
set -euo pipefail
BUILD="${1:-build/fuzz}"
SECS="${FUZZ_SECONDS:-10}"
mkdir -p "$BUILD/crashes"
mapfile -t targets < <(find "$BUILD" -type f -executable -name 'fuzz_*' | sort)
if ((${#targets[@]} == 0)); then
  echo "fuzz-smoke: no fuzz targets built"
  exit 0
fi
fail=0
for t in "${targets[@]}"; do
  name="$(basename "$t")"
  corpus="$BUILD/corpus/$name"
  mkdir -p "$corpus"
  if "$t" -max_total_time="$SECS" -print_final_stats=0 -artifact_prefix="$BUILD/crashes/$name-" \
       "$corpus" >"$BUILD/$name.log" 2>&1; then
    echo "fuzz-smoke: $name ok (${SECS}s, $(grep -Eo 'stat::number_of_executed_units: *[0-9]+|#[0-9]+' "$BUILD/$name.log" | tail -1))"
  else
    echo "fuzz-smoke: $name FAILED; log:"; tail -40 "$BUILD/$name.log"; fail=1
  fi
done
exit $fail
