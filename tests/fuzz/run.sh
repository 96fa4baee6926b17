#!/usr/bin/env bash
# run.sh BUILD_DIR SECONDS: run every fuzz target of BUILD_DIR for SECONDS each, from the
# committed seed corpus (tests/fuzz/corpus/<target>/) into a scratch corpus, and print its
# executions per second. A crash fails the run and leaves its input in the scratch folder
# as crash-*: add it to the seed corpus as the regression input once fixed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: run.sh BUILD_DIR SECONDS}" && pwd)
secs=${2:-20}
work=$(mktemp -d /tmp/wattle-fuzz.XXXXXX)
status=0
for seeds in "$here"/corpus/*/; do
  t=$(basename "$seeds")
  bin="$build/tests/fuzz/fuzz_$t"
  [ -x "$bin" ] || { echo "fuzz: no $bin" >&2; exit 1; }
  mkdir -p "$work/$t"
  log="$work/$t.log"
  if (cd "$work/$t" && ASAN_OPTIONS=detect_leaks=1 "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$work/$t/" "$work/$t" "$seeds") >"$log" 2>&1; then
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    per_s=$(( execs / (secs > 0 ? secs : 1) ))
    printf 'fuzz %-12s %10s runs in %3s s: %8s execs/s, corpus %s\n' "$t" "$execs" "$secs" "$per_s" \
      "$(ls "$work/$t" | grep -vc '^crash-' || true)"
  else
    echo "fuzz $t FAILED:"; grep -E 'ERROR|SUMMARY|crash-|Test unit written' "$log" | head -20
    status=1
  fi
done
[ $status -eq 0 ] && rm -rf "$work"
exit $status
