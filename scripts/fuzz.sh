#!/usr/bin/env bash
# make fuzz: builds each libFuzzer target in Fuzz/ (swiftc -sanitize=fuzzer,address) and runs
# it for FUZZ_SECONDS (default 600) from its committed corpus in Fuzz/corpus/<target>/.
# FUZZ_TARGETS narrows the list. A crash stops with the reproducer in data/fuzz/<target>/ and
# exit 1. The decoder targets compile with the Telemetry sources they exercise; `config`
# compiles Sources/Collector/Config/ against the debug build's Telemetry, Alerts and Yams.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${FUZZ_SECONDS:-600}
TARGETS=${FUZZ_TARGETS:-json senml lineprotocol lorawan auto topic config block}
OUT=data/fuzz
mkdir -p "$OUT"
SOURCES=(Sources/Telemetry/Codec/*.swift Sources/Telemetry/Model/*.swift
         Sources/Telemetry/Series/SeriesName.swift Sources/Telemetry/Series/SeriesID.swift)
# A crash is reported by libFuzzer; Swift's own backtracer would wait on it instead.
export SWIFT_BACKTRACE=enable=no
build() { # target
  if [ "$1" = config ]; then
    swift build --product collector >/dev/null
    local B=.build/debug
    swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name ConfigFuzz \
      Fuzz/config.swift Sources/Collector/Config/*.swift -I "$B/Modules" \
      -Xcc -fmodule-map-file=.build/checkouts/GRDB.swift/Sources/GRDBSQLite/module.modulemap \
      -Xcc -fmodule-map-file=.build/checkouts/Yams/Sources/CYaml/include/module.modulemap \
      "$B"/Telemetry.build/*.o "$B"/Alerts.build/*.o "$B"/Yams.build/*.o $(find "$B/CYaml.build" -name '*.o') \
      "$B"/GRDB.build/*.o "$B"/Logging.build/*.o -lsqlite3 -o "$OUT/config"
  elif [ "$1" = block ]; then
    swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name Telemetry \
      Fuzz/block.swift Sources/Telemetry/Block/{SampleBlock,RollupBlock,BitStream,Varint}.swift Sources/Telemetry/Rollup/Bucket.swift "${SOURCES[@]}" \
      -o "$OUT/$1"
  else
    swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name Telemetry \
      "Fuzz/$1.swift" Fuzz/Common.swift "${SOURCES[@]}" -o "$OUT/$1"
  fi
}
status=0
for t in $TARGETS; do
  echo "fuzz: building $t"
  build "$t" 2>&1 | { grep -v 'ld.gold: warning: Cannot export local symbol' || true; }
  mkdir -p "Fuzz/corpus/$t" "$OUT/$t-crashes"
  echo "fuzz: running $t for ${SECONDS_EACH}s"
  if ! "$OUT/$t" "Fuzz/corpus/$t" -max_total_time="$SECONDS_EACH" -max_len=1024 -timeout=10 -rss_limit_mb=4096 \
       -artifact_prefix="$OUT/$t-crashes/" -print_final_stats=1 >"$OUT/$t.log" 2>&1; then
    echo "fuzz: $t FAILED; see $OUT/$t.log and $OUT/$t-crashes/"; status=1
  else
    # Keep only the inputs that add coverage (the corpus is committed).
    rm -rf "$OUT/$t-min" && mkdir -p "$OUT/$t-min"
    "$OUT/$t" -merge=1 "$OUT/$t-min" "Fuzz/corpus/$t" >>"$OUT/$t.log" 2>&1
    rm -rf "Fuzz/corpus/$t" && mv "$OUT/$t-min" "Fuzz/corpus/$t"
    echo "fuzz: $t ok: $(grep -E '^stat::number_of_executed_units' "$OUT/$t.log" | awk '{print $2}') runs, corpus $(ls "Fuzz/corpus/$t" | wc -l) inputs"
  fi
done
exit $status
