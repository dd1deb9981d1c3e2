#!/usr/bin/env bash
# The suite under load: runs the whole `swift test` RUNS times in a row (default 10) while
# another process keeps one core busy, and prints each run's result and a summary. Exit 0
# only if every run passed. Builds first (the tests refuse a collector binary older than the
# sources). Bounded: the busy loop stops with the script, and each run is cut at 20 minutes.
#   scripts/flake-check.sh            # 10 runs
#   RUNS=3 scripts/flake-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
LOGS=data/flake-check
rm -rf "$LOGS" && mkdir -p "$LOGS"

swift build --build-tests >/dev/null
swift build --product collector >/dev/null

# One core kept busy for as long as the runs last (killed on exit, whatever happens).
( while :; do :; done ) & busy=$!
trap 'kill "$busy" 2>/dev/null || true' EXIT
echo "flake-check: $RUNS runs of swift test; pid $busy keeps one core busy ($(nproc) cores)"

failed=0
for i in $(seq 1 "$RUNS"); do
  start=$(date +%s)
  if timeout 1200 swift test --skip-build >"$LOGS/run-$i.log" 2>&1; then result=passed; else result=FAILED; failed=$((failed + 1)); fi
  summary=$(grep -E '^[^ ]+ Test run with' "$LOGS/run-$i.log" | tail -1 | sed 's/^[^ ]* //' || true)
  echo "flake-check: run $i/$RUNS $result in $(( $(date +%s) - start )) s: ${summary:-no summary (see $LOGS/run-$i.log)}"
  [ "$result" = passed ] || { grep -E 'Test .* (recorded an issue|failed)' "$LOGS/run-$i.log" | head -5 | sed 's/^/  /' || true; }
done
echo "flake-check: $((RUNS - failed)) of $RUNS runs passed (logs in $LOGS/)"
[ "$failed" = 0 ]
