#!/usr/bin/env bash
# Memory per series in a running collector: RSS before and after 100,000 new series (3
# readings each, JSON packs of 1,000 over MQTT), with the ring at 8 and at 128 slots, so the
# figures split into the ring's share (bytes per slot) and everything else. Loopback only;
# stops by itself. Prints one line per ring size and the split.
#   scripts/bench-series-memory.sh                  # .build/release/collector
#   COLLECTOR_BIN=.build/debug/collector scripts/bench-series-memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${COLLECTOR_BIN:-.build/release/collector}
SERIES=${SERIES:-100000}
DIR=data/bench-memory
rm -rf "$DIR" && mkdir -p "$DIR/none"
. scripts/lib.sh
python3 - "$SERIES" > "$DIR/packs.txt" <<'PY'
import json, sys, time
n, now = int(sys.argv[1]), int(time.time())
for m in range(n // 1000):
    print(json.dumps([{"sensor": f"ms-{m}-{i}", "ts": now - 60 + 10 * k, "temp_c": (i % 50) / 10} for i in range(1000) for k in range(3)]))
PY
broker=""; collector=""
cleanup() {
  for p in $collector $broker; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM
declare -A per
for ring in 8 128; do
  reserve_port MQTT_PORT
  printf "listener %s 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 100\n" "$MQTT_PORT" > "$DIR/mosquitto.conf"
  mosquitto -c "$DIR/mosquitto.conf" >/dev/null 2>&1 & broker=$!
  wait_listening "$MQTT_PORT"
  rm -f "$DIR"/c.sqlite* "$DIR/port"
  cat > "$DIR/collector.yaml" <<CONF
mqtt: {url: "mqtt://127.0.0.1:$MQTT_PORT", client_id: bench-memory}
http: {listen: "127.0.0.1:0"}
storage: {path: $DIR/c.sqlite, ring_capacity: $ring}
sensors: $DIR/none
limits: {new_series_per_minute: 10000000, max_series: 10000000}
log_level: error
CONF
  "$BIN" run --config "$DIR/collector.yaml" --port-file "$DIR/port" 2>"$DIR/collector.log" & collector=$!
  port=$(collector_port "$DIR/port" "$collector")
  sleep 2
  before=$(awk '/VmRSS/ {print $2}' "/proc/$collector/status")
  mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t telemetry/memory -l < "$DIR/packs.txt"
  # Every reading committed and the alert worker caught up (its ring holds them).
  done_=0
  for _ in $(seq 1 120); do
    m=$(curl -s "http://127.0.0.1:$port/metrics" || true)
    stored=$(awk '/^collector_readings_total\{outcome="stored"\}/ {printf "%d", $2}' <<<"$m")
    queue=$(awk '/^collector_alert_queue_readings / {printf "%d", $2}' <<<"$m")
    if [ "${stored:-0}" -ge $((SERIES * 3)) ] && [ "${queue:-1}" = 0 ]; then done_=1; break; fi
    sleep 1
  done
  [ "$done_" = 1 ] || { echo "bench-series-memory: the readings were not all stored within 120 s; see $DIR/collector.log"; exit 1; }
  sleep 2
  after=$(awk '/VmRSS/ {print $2}' "/proc/$collector/status")
  per[$ring]=$(( (after - before) * 1024 / SERIES ))
  # RSS counts the database pages SQLite reads through mmap too (file pages the kernel can
  # drop at will); the anonymous part is the collector's own memory.
  anon=$(awk '/RssAnon/ {print $2}' "/proc/$collector/status"); file=$(awk '/RssFile/ {print $2}' "/proc/$collector/status")
  echo "bench-series-memory: ring $ring slots: RSS ${before} KB -> ${after} KB (anonymous ${anon} KB, file ${file} KB), $(( per[$ring] )) B per series ($SERIES series)"
  kill "$collector" "$broker"; wait "$collector" "$broker" 2>/dev/null || true
  collector=""; broker=""
done
slot=$(( (per[128] - per[8]) / 120 ))
echo "bench-series-memory: per ring slot ${slot} B; per series besides the ring $(( per[8] - 8 * slot )) B; with 128 slots ${per[128]} B"
