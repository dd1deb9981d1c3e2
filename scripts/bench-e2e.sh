#!/usr/bin/env bash
# End-to-end ingest against the limit and a peer, in one run on loopback (part of `make bench`).
#
# Drains: the broker is first loaded with the same backlog for each consumer's persistent
# session, then the consumer connects and the time to drain it is measured:
#   - bare `mosquitto_sub` (output to /dev/null): the reference, the limit;
#   - the collector (release build, the shipped province catalogue and rules), from /readyz to
#     every message taken (acknowledged: journaled, and answered by the API); then until the
#     rollups hold them, and until it has stopped (the stop writes the readings still waiting
#     for their sample blocks); then the stored readings are counted: nothing may be missing.
# Streams (published by `collector simulate`):
#   1. QoS 1, N messages of one reading;
#   2. QoS 0 (subscriptions at QoS 0; the broker queues QoS 0 for offline sessions here);
#   3. QoS 1, N/10 SenML packs of 100 readings.
# Peer: collectd's MQTT plugin writing CSV (Debian collectd-core). It reads collectd's own
# format (`time:value` on `<prefix>/host/plugin/type`), so both are fed by the same publisher,
# `mosquitto_pub -l`, with N messages of one reading on one series at QoS 1: collectd its
# format, the collector JSON; bare `mosquitto_sub` drains the collector's as the reference.
# Latency: the collector live under simulator loads of 10,000 and 20,000 msg/s
# (BENCH_LOAD_RATES), alert latency p50/p99 from scripts/bench-latency.py.
# Prints rates and ratios. BENCH_MESSAGES sets N (default 200000); the peer stream is
# BENCH_PEER_MESSAGES (default 50000: mosquitto 2.0.11 here drops a `mosquitto_pub -l`
# publisher "due to out of memory" somewhere past 100,000 queued for three sessions).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${BENCH_MESSAGES:-200000}
BIN=${COLLECTOR_BIN:-.build/release/collector}
DIR=data/bench-e2e
rm -rf "$DIR" && mkdir -p "$DIR/sensors"
ABS=$(cd "$DIR" && pwd)
. scripts/lib.sh
# Reserved ports for the broker and the collector (not `listen: :0` and --port-file: A/B runs
# against older builds need a port they can be given).
reserve_port PORT; reserve_port HTTP
start_bench_broker "$DIR" "$PORT"
now_ms() { date +%s%3N; }

# The shipped province, plus the rule the latency probe trips.
cp sensors/lai-chau/*.yaml "$DIR/sensors/"
cat >> "$DIR/sensors/rules.yaml" <<YAML

  - name: probe-hot                   # scripts/bench-latency.py
    severity: info
    match: {metric: probe_v}
    when: {above: 50}
    clear: {below: 40}
YAML

config() { # file client_id qos topic clean_session
  cat > "$DIR/$1" <<CONF
mqtt: {url: "mqtt://127.0.0.1:$PORT", client_id: $2, clean_session: $5, qos: $3,
       subscriptions: [{topic: "$4"}]}
http: {listen: "127.0.0.1:$HTTP"}
storage: {path: $DIR/collector.sqlite}
sensors: $DIR/sensors
log_level: warning
CONF
}
config q1.yaml bench-collector 1 'bench/#' false
config q0.yaml bench-collector0 0 'bench0/#' false
config live.yaml bench-live 1 'live/#' true

COLLECTOR=
run_collector() { "$BIN" run --config "$DIR/$1" 2>>"$DIR/collector.log" & COLLECTOR=$!; pids+=("$COLLECTOR"); }
stop_collector() { kill -TERM "$COLLECTOR"; wait "$COLLECTOR" 2>/dev/null || true; }
ready() { for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$HTTP/readyz" >/dev/null 2>&1 && return 0; sleep 0.02; done; return 1; }
# Polls are sparse (`taken_at` in lib.sh): times come from the collector's last-commit gauge
# and the CSV files' mtimes, not from the polls.
POLL=0.5
# Stored readings of the metrics the sensors send (derived series, such as fire danger, are
# stored too and are not counted).
METRICS=$(python3 -c "
import re; s = open('sensors/lai-chau/catalogue.yaml').read()
print(','.join(sorted({\"'%s'\" % m for block in re.findall(r'metrics: \\{(.*)\\}', s) for m in re.findall(r'(\\w+): \\{', block)})))")
stored() { sqlite3 "$DIR/collector.sqlite" "SELECT coalesce(sum(b.count), 0) FROM sample_blocks b JOIN series ON series.id = b.series_id WHERE series.metric IN ($METRICS) AND series.sensor NOT LIKE '%.%'"; }
fresh_db() { rm -f "$DIR"/collector.sqlite* "$DIR"/collector.rollups.sqlite*; }

# Loads about `readings` readings into the broker under `prefix`.
load() { # prefix batch readings
  local span
  # Simulated span so that the province gives about that many readings (7.9 per simulated second).
  span=$(python3 -c "print(int($3 / 7.9) + 60)")
  local args=(simulate --config "$DIR/q1.yaml" --prefix "$1" --speed 1000000000 "--from=-${span}s" --qos 1 --client-id bench-pub --seed 5)
  if [ "$2" -gt 1 ]; then args+=(--batch "$2" --format senml); else args+=(--batch 1 --format json); fi
  "$BIN" "${args[@]}" 2>/dev/null | grep '^simulate: readings='
}

# Times the collector draining `messages` from its session, then checks what it stored.
drain_collector() { # config messages readings
  fresh_db
  run_collector "$1"; ready; local t0 n at; t0=$(now_ms)
  while read -r n at <<<"$(taken_at)"; [ "$n" -lt "$2" ]; do sleep "$POLL"; done
  [ "$at" -gt 0 ] || at=$(now_ms)   # a build without the gauge: the poll's own time
  COL_MS=$(( at - t0 ))
  # The rollups file catches up beside the commits: until every committed reading is in it
  # (to a quarter of a second).
  while [ "$(backlog)" -gt 0 ]; do sleep 0.25; done
  MERGED_MS=$(( $(now_ms) - t0 ))
  # The stop writes the readings still waiting for their blocks (journaled, so acknowledged, and
  # answered by the API already): counted in the "all written" time.
  stop_collector
  ALL_MS=$(( $(now_ms) - t0 ))
  local n; n=$(stored)
  [ "$n" -eq "$3" ] || { echo "bench-e2e: the collector stored $n readings of $3"; exit 1; }
}

report() { # label messages readings sub_ms col_ms merged_ms all_ms
  python3 - "$@" <<'PY'
import sys
label, msgs, readings, sub_ms, col_ms, merged_ms, all_ms = sys.argv[1], *map(int, sys.argv[2:8])
sub = msgs / (sub_ms / 1000); col = msgs / (col_ms / 1000)
print(f"e2e {label}: {msgs} messages, {readings} readings, all stored")
print(f"  mosquitto_sub (reference): {sub:,.0f} msg/s ({sub_ms} ms)")
print(f"  collector:                 {col:,.0f} msg/s, {readings / (col_ms / 1000):,.0f} readings/s ({col_ms} ms)")
print(f"  rollups merged:            {merged_ms} ms after the start ({readings / (merged_ms / 1000):,.0f} readings/s into the rollups)")
print(f"  all in raw, collector out: {all_ms} ms after the start ({readings / (all_ms / 1000):,.0f} readings/s, the stop included)")
print(f"  ratio collector / mosquitto_sub: {col / sub:.2f}")
PY
}

# Sessions exist before any backlog is published.
mosquitto_sub -h 127.0.0.1 -p "$PORT" -q 1 -c -i bench-sub -t 'bench/#' -E
mosquitto_sub -h 127.0.0.1 -p "$PORT" -q 0 -c -i bench-sub0 -t 'bench0/#' -E
for c in q1.yaml q0.yaml; do run_collector "$c"; ready; stop_collector; done

for run in "1 bench 1 bench-sub q1.yaml" "0 bench0 1 bench-sub0 q0.yaml" "1 bench 100 bench-sub q1.yaml"; do
  read -r qos prefix batch sub cfg <<<"$run"
  want=$N; [ "$batch" -gt 1 ] && want=$((N * 10))
  summary=$(load "$prefix" "$batch" "$want")
  messages=$(sed -n 's/.*messages=\([0-9]*\).*/\1/p' <<<"$summary"); readings=$(sed -n 's/.*readings=\([0-9]*\).*/\1/p' <<<"$summary")
  t0=$(now_ms)
  mosquitto_sub -h 127.0.0.1 -p "$PORT" -q "$qos" -c -i "$sub" -t "$prefix/#" -C "$messages" >/dev/null
  sub_ms=$(( $(now_ms) - t0 ))
  drain_collector "$cfg" "$messages" "$readings"
  label="QoS $qos, one reading per message"; [ "$batch" -gt 1 ] && label="QoS $qos, SenML packs of $batch readings"
  report "$label" "$messages" "$readings" "$sub_ms" "$COL_MS" "$MERGED_MS" "$ALL_MS"
done

# Peer: collectd (MQTT subscribe -> CSV) against the collector, same publisher, same count.
PEER=${BENCH_PEER_MESSAGES:-50000}
COLLECTD=$(command -v collectd || echo /usr/sbin/collectd)
if [ -x "$COLLECTD" ]; then
  mkdir -p "$DIR/collectd/csv"
  cat > "$DIR/collectd/collectd.conf" <<CONF
Hostname "bench"
FQDNLookup false
BaseDir "$ABS/collectd"
PIDFile "$ABS/collectd/collectd.pid"
TypesDB "/usr/share/collectd/types.db"
Interval 10
LoadPlugin logfile
<Plugin logfile>
  LogLevel warning
  File "$ABS/collectd/collectd.log"
</Plugin>
LoadPlugin mqtt
LoadPlugin csv
<Plugin csv>
  DataDir "$ABS/collectd/csv"
  StoreRates false
</Plugin>
<Plugin mqtt>
  <Subscribe "bench">
    Host "127.0.0.1"
    Port "$PORT"
    ClientId "bench-collectd"
    QoS 1
    CleanSession false
    Topic "cbench/#"
  </Subscribe>
</Plugin>
CONF
  csv_rows() { find "$DIR/collectd/csv" -type f -exec cat {} + 2>/dev/null | grep -c '^[0-9]' || true; }
  "$COLLECTD" -f -C "$DIR/collectd/collectd.conf" & CD=$!; pids+=("$CD")
  sleep 2; kill -TERM "$CD"; wait "$CD" 2>/dev/null || true          # its session now exists
  base=$(( $(date +%s) - PEER - 60 ))
  python3 -c "
import sys
for i in range($PEER): print(f'{$base + i}:{20 + i % 13}.25')" | mosquitto_pub -h 127.0.0.1 -p "$PORT" -q 1 -t cbench/node/bench/gauge-t -l
  python3 -c "
import json
for i in range($PEER): print(json.dumps({'ts': ($base + i) * 1000, 'temp_c': 20 + i % 13 + 0.25}))" | mosquitto_pub -h 127.0.0.1 -p "$PORT" -q 1 -t bench/peer-0001 -l
  t0=$(now_ms)
  timeout 300 mosquitto_sub -h 127.0.0.1 -p "$PORT" -q 1 -c -i bench-sub -t 'bench/#' -C "$PEER" >/dev/null
  sub_ms=$(( $(now_ms) - t0 ))
  drain_collector q1.yaml "$PEER" "$PEER"
  "$COLLECTD" -f -C "$DIR/collectd/collectd.conf" & CD=$!; pids+=("$CD"); t0=$(now_ms)
  # Until every row is written, or none more for 3 s (collectd may hold its last rows in a
  # buffer until it stops): the time is that of the last write, the CSV files' newest mtime.
  newest_csv_ms() { find "$DIR/collectd/csv" -type f -printf '%T@\n' | sort -n | tail -1 |
    awk -v none="$t0" '{m = $1 * 1000} END {printf "%.0f", NR ? m : none}'; }
  rows=0; grew=$t0
  for _ in $(seq 1 1200); do
    r=$(csv_rows); now=$(now_ms)
    if [ "$r" -gt "$rows" ]; then rows=$r; grew=$now; fi
    [ "$rows" -ge "$PEER" ] && break
    [ $(( now - grew )) -gt 3000 ] && break
    sleep "$POLL"
  done
  cd_ms=$(( $(newest_csv_ms) - t0 ))
  kill -TERM "$CD"; wait "$CD" 2>/dev/null || true
  python3 - "$PEER" "$sub_ms" "$COL_MS" "$cd_ms" "$rows" <<'PY'
import sys
n, sub_ms, col_ms, cd_ms, rows = map(int, sys.argv[1:])
sub, col, cd = n / (sub_ms / 1000), n / (col_ms / 1000), rows / (cd_ms / 1000)
print(f"e2e peer, QoS 1, one reading per message, one series, mosquitto_pub -l: {n} messages")
print(f"  mosquitto_sub (reference): {sub:,.0f} msg/s ({sub_ms} ms)")
print(f"  collector (SQLite):        {col:,.0f} msg/s ({col_ms} ms), all stored")
print(f"  collectd (mqtt -> csv):    {cd:,.0f} msg/s ({cd_ms} ms), {rows} rows written")
print(f"  ratio collector / collectd: {col / cd:.2f}; collector / mosquitto_sub: {col / sub:.2f}")
PY
else
  echo "e2e peer: collectd is not installed (make bench-deps installs collectd-core); skipped"
fi

# Alert latency under load: the collector live, the simulator at each rate, the probe beside.
for rate in ${BENCH_LOAD_RATES:-10000 20000}; do
  fresh_db
  run_collector live.yaml; ready
  echo "e2e alert latency, the collector under $rate msg/s (QoS 1, one reading per message):"
  "$BIN" simulate --config "$DIR/live.yaml" --prefix live --rate "$rate" --batch 1 --format json --qos 1 \
    --duration 40s --client-id bench-load --seed 9 2>/dev/null | grep '^simulate: readings=' | sed 's/^/  load: /' & LOAD=$!
  sleep 3
  python3 scripts/bench-latency.py "$PORT" 30 live
  wait "$LOAD" || true
  stop_collector
done
