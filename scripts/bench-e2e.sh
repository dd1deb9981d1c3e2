#!/usr/bin/env bash
# End-to-end ingest rate against the limit, in one run on loopback (part of `make bench`).
#
# For each consumer the broker is first loaded with the same backlog for its persistent
# session (published by `collector simulate`, QoS 1), then the consumer connects and the
# time to drain it is measured:
#   - bare `mosquitto_sub` (QoS 1, output to /dev/null): the reference, the limit;
#   - the collector (release build, the shipped province catalogue and rules), from /readyz to
#     every reading stored (its acknowledgements leave only after each commit).
# Two streams: N messages of one reading, and N/10 SenML packs of 100 readings.
# Prints rates and ratios; BENCH_MESSAGES sets N (default 200000).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${BENCH_MESSAGES:-200000}
BIN=${COLLECTOR_BIN:-.build/release/collector}
DIR=data/bench-e2e
rm -rf "$DIR" && mkdir -p "$DIR"
. scripts/lib.sh
PORT=$(free_port); HTTP=$(free_port)
cat > "$DIR/mosquitto.conf" <<CONF
listener $PORT 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 0
max_inflight_messages 0
CONF
mosquitto -c "$DIR/mosquitto.conf" >"$DIR/mosquitto.log" 2>&1 & BROKER=$!
pids=("$BROKER")
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
sleep 0.3
now_ms() { date +%s%3N; }

# Loads N readings into the broker for the sessions subscribed to bench/#.
load() { # batch (1 or 100), readings
  local batch=$1 span
  # Simulated span so that the province gives about that many readings (7.9 per simulated second).
  span=$(python3 -c "print(int($2 / 7.9) + 60)")
  local args=(simulate --config "$DIR/collector.yaml" --prefix bench --speed 1000000000 "--from=-${span}s" --qos 1 --client-id bench-pub --seed 5)
  if [ "$batch" -gt 1 ]; then args+=(--batch "$batch" --format senml); else args+=(--batch 1 --format json); fi
  "$BIN" "${args[@]}" 2>/dev/null | grep '^simulate: readings='
}

cat > "$DIR/collector.yaml" <<CONF
mqtt: {url: "mqtt://127.0.0.1:$PORT", client_id: bench-collector, clean_session: false, qos: 1,
       subscriptions: [{topic: "bench/#"}]}
http: {listen: "127.0.0.1:$HTTP"}
storage: {path: $DIR/collector.sqlite}
sensors: sensors/
log_level: warning
CONF

run_collector() { "$BIN" run --config "$DIR/collector.yaml" 2>>"$DIR/collector.log" & COLLECTOR=$!; pids+=("$COLLECTOR"); }
ready() { for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$HTTP/readyz" >/dev/null 2>&1 && return 0; sleep 0.02; done; return 1; }
taken() { curl -s "http://127.0.0.1:$HTTP/metrics" | awk '/^collector_messages_total/ {n += $2} END {printf "%d", n}'; }

# Sessions exist before the backlog is published.
mosquitto_sub -h 127.0.0.1 -p "$PORT" -q 1 -c -i bench-sub -t 'bench/#' -E
run_collector; ready; kill -TERM "$COLLECTOR"; wait "$COLLECTOR" 2>/dev/null || true

for batch in 1 100; do
  want=$N; [ "$batch" -gt 1 ] && want=$((N * 10))
  summary=$(load "$batch" "$want"); messages=$(sed -n 's/.*messages=\([0-9]*\).*/\1/p' <<<"$summary"); readings=$(sed -n 's/.*readings=\([0-9]*\).*/\1/p' <<<"$summary")
  # Reference: bare mosquitto_sub drains the backlog.
  t0=$(now_ms)
  mosquitto_sub -h 127.0.0.1 -p "$PORT" -q 1 -c -i bench-sub -t 'bench/#' -C "$messages" >/dev/null
  t1=$(now_ms)
  sub_ms=$((t1 - t0))
  # The collector drains the same backlog (it was queued for its session too).
  run_collector; ready; t0=$(now_ms)
  while [ "$(taken)" -lt "$messages" ]; do sleep 0.05; done
  t1=$(now_ms); col_ms=$((t1 - t0))
  kill -TERM "$COLLECTOR"; wait "$COLLECTOR" 2>/dev/null || true
  rm -f "$DIR"/collector.sqlite*   # the next stream starts on an empty database too
  python3 - "$batch" "$messages" "$readings" "$sub_ms" "$col_ms" <<'PY'
import sys
batch, msgs, readings, sub_ms, col_ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
sub = msgs / (sub_ms / 1000); col = msgs / (col_ms / 1000)
label = "one reading per message" if batch == "1" else f"SenML packs of {batch} readings"
print(f"e2e QoS 1, {label}: {msgs} messages, {readings} readings")
print(f"  mosquitto_sub (reference): {sub:,.0f} msg/s ({sub_ms} ms)")
print(f"  collector:                 {col:,.0f} msg/s, {readings / (col_ms / 1000):,.0f} readings/s ({col_ms} ms)")
print(f"  ratio collector / mosquitto_sub: {col / sub:.2f}")
PY
done
