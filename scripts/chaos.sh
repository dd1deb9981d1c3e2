#!/usr/bin/env bash
# make chaos: the at-least-once promise under fault. A QoS 1 stream from `collector simulate`
# runs while the collector is SIGKILLed CHAOS_KILLS times at random moments (restarted each
# time) and mosquitto is restarted twice, once with a CHAOS_OUTAGE-second outage. At the end:
# every published reading is stored exactly once, every rollup tier equals a recompute from
# the stored raw readings, and every station's derived series (fire danger, 24 h rain, flood
# risk, AQI, congestion, energy loss, ...) equals its replay from the stored inputs, neither
# lost nor doubled by a kill (`collector verify`, through the store's read API, not its
# layout). Then the same for a backfill: `collector import` SIGKILLed as many times and run
# again from the file's start. Prints the counts; exit 0 only if all hold.
#
#   make chaos                     # 10 kills, 3 minutes of stream, a 30 s broker outage
#   CHAOS_SHORT=1 make chaos       # the short form `make test` runs: 3 kills, 40 s, 5 s outage
# Stops by itself; everything runs on loopback in data/chaos/.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${CHAOS_SHORT:-0}" = 1 ]; then
  KILLS=${CHAOS_KILLS:-3}; SECONDS_RUN=${CHAOS_SECONDS:-40}; OUTAGE=${CHAOS_OUTAGE:-5}
else
  KILLS=${CHAOS_KILLS:-10}; SECONDS_RUN=${CHAOS_SECONDS:-180}; OUTAGE=${CHAOS_OUTAGE:-30}
fi
RATE=${CHAOS_RATE:-1000}
RANDOM=${CHAOS_SEED:-7}
BIN=${COLLECTOR_BIN:-.build/debug/collector}
DIR=data/chaos
rm -rf "$DIR" && mkdir -p "$DIR"

. scripts/lib.sh
reserve_port MQTT_PORT   # the collector's HTTP port is its own choice (listen :0, --port-file)
HTTP_PORT=
cat > "$DIR/mosquitto.conf" <<CONF
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
persistence true
persistence_location $PWD/$DIR/
autosave_interval 1
max_queued_messages 0
max_inflight_messages 100
user $(id -un)
CONF
cat > "$DIR/collector.yaml" <<CONF
mqtt: {url: "mqtt://127.0.0.1:$MQTT_PORT", client_id: chaos-collector, clean_session: false, qos: 1}
http: {listen: "127.0.0.1:0"}
storage: {path: $DIR/collector.sqlite}
sensors: sensors/lai-chau
timezone: Asia/Ho_Chi_Minh
log_level: warning
CONF

broker_pid=""; collector_pid=""; sim_pid=""
cleanup() {
  for p in $sim_pid $collector_pid $broker_pid; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

start_broker() { mosquitto -c "$DIR/mosquitto.conf" >>"$DIR/mosquitto.log" 2>&1 & broker_pid=$!; }
stop_broker() { kill -TERM "$broker_pid"; wait "$broker_pid" 2>/dev/null || true; }
start_broker
wait_listening "$MQTT_PORT"
start_collector
# Subscribed before the stream starts (later restarts resume the persistent session).
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

# The stream: every sensor of one district (meters, forest, river, air), QoS 1.
"$BIN" simulate --config "$DIR/collector.yaml" --sensors district=tam-duong --rate "$RATE" \
  --duration "${SECONDS_RUN}s" --qos 1 --seed 3 --client-id chaos-sim >"$DIR/simulate.out" 2>"$DIR/simulate.log" &
sim_pid=$!

# Faults at random moments: kills spread over the run, broker restarts at 1/3 and 2/3.
declare -a events=()
for i in $(seq 1 "$KILLS"); do events+=("$((RANDOM % (SECONDS_RUN - 2) + 1)) kill"); done
events+=("$((SECONDS_RUN / 3)) broker" "$((2 * SECONDS_RUN / 3)) broker-long")
mapfile -t plan < <(printf '%s\n' "${events[@]}" | sort -n)
start=$(date +%s)
kills=0; restarts=0
for e in "${plan[@]}"; do
  at=${e%% *}; what=${e#* }
  while [ $(( $(date +%s) - start )) -lt "$at" ]; do sleep 0.2; done
  case $what in
    kill)
      sleep "0.$((RANDOM % 10))"
      kill -KILL "$collector_pid" 2>/dev/null || true; wait "$collector_pid" 2>/dev/null || true
      kills=$((kills + 1)); echo "chaos: t=${at}s SIGKILL collector ($kills/$KILLS)"
      start_collector ;;
    broker)
      stop_broker; start_broker; restarts=$((restarts + 1)); echo "chaos: t=${at}s broker restarted" ;;
    broker-long)
      stop_broker; echo "chaos: t=${at}s broker down for ${OUTAGE}s"; sleep "$OUTAGE"; start_broker
      restarts=$((restarts + 1)); echo "chaos: broker back" ;;
  esac
done

wait "$sim_pid" || { echo "chaos: the simulator failed:"; tail -5 "$DIR/simulate.log"; exit 1; }
sim_pid=""
summary=$(grep '^simulate: readings=' "$DIR/simulate.out")
published=$(sed -n 's/.*readings=\([0-9]*\).*/\1/p' <<<"$summary")
echo "chaos: simulator done: $summary"

wait_stored "$published"
kill -TERM "$collector_pid"; wait "$collector_pid" || true; collector_pid=""

# Every tier against a recompute from the stored raw readings, and the readings stored per
# metric, by `collector verify` (the store's read API; the stream spans less than the raw
# retention, so every bucket is checked).
verified=0
"$BIN" verify --config "$DIR/collector.yaml" --from 0 --by-metric >"$DIR/verify.out" 2>&1 || verified=$?
n=$(awk -v sent=" $SENT " '/^verify: metric / {m = $3; sub(/:$/, "", m); if (index(sent, " " m " ")) n += $4} END {printf "%d", n}' "$DIR/verify.out")

# The backfill under kill -9: `collector import` of a line-protocol file (IMPORT_SERIES series
# of 10 s readings, 2 % a second off the grid; 11 h, so minutes are sealed into rollup blocks
# on the way) SIGKILLed IMPORT_KILLS times at random moments of a whole import's duration,
# each time started again from the file's start, then run to its end. Every reading is stored
# once and every tier equals its recompute (blocks merged, rows sealed or not, whenever the
# kill came).
IMPORT_DIR=$DIR/import; mkdir -p "$IMPORT_DIR"
IMPORT_SERIES=${CHAOS_IMPORT_SERIES:-$([ "${CHAOS_SHORT:-0}" = 1 ] && echo 40 || echo 200)}; IMPORT_STEPS=${CHAOS_IMPORT_STEPS:-4000}; IMPORT_KILLS=${CHAOS_IMPORT_KILLS:-$KILLS}
python3 - "$IMPORT_DIR/readings.lp" "$IMPORT_SERIES" "$IMPORT_STEPS" <<'PY'
import random, sys, time
path, series, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(3)
start = (int(time.time()) // 86400) * 86400 - 86400 - steps * 10
values = [18 + rng.random() * 8 for _ in range(series)]
with open(path, "w") as f:
    for k in range(steps):
        for s in range(series):
            values[s] += (rng.random() - 0.5) * 0.02
            off = 1 if rng.random() < 0.02 else 0
            f.write(f"weather,sensor=chaos-bf-{s:04d} temp_c={round(values[s], 2)} {(start + k * 10 + off) * 1_000_000_000}\n")
PY
cat > "$IMPORT_DIR/collector.yaml" <<CONF
mqtt: {url: "mqtt://127.0.0.1:$MQTT_PORT", client_id: chaos-import}
storage: {path: $IMPORT_DIR/collector.sqlite, accept_age: 3650d}
sensors: sensors/lai-chau
timezone: Asia/Ho_Chi_Minh
log_level: warning
CONF
# How long a whole import takes here (into a scratch store): the kills fall anywhere in it.
sed "s|$IMPORT_DIR/collector.sqlite|$IMPORT_DIR/scratch/collector.sqlite|" "$IMPORT_DIR/collector.yaml" >"$IMPORT_DIR/scratch.yaml"
t0=$(date +%s%3N)
"$BIN" import --config "$IMPORT_DIR/scratch.yaml" --batch 5000 "$IMPORT_DIR/readings.lp" >>"$IMPORT_DIR/import.log" 2>&1
whole_ms=$(( $(date +%s%3N) - t0 ))
rm -rf "$IMPORT_DIR/scratch"
import_kills=0
for _ in $(seq 1 "$IMPORT_KILLS"); do
  "$BIN" import --config "$IMPORT_DIR/collector.yaml" --batch 5000 "$IMPORT_DIR/readings.lp" >>"$IMPORT_DIR/import.log" 2>&1 &
  import_pid=$!
  sleep "$(awk -v r=$RANDOM -v w="$whole_ms" 'BEGIN {printf "%.2f", (0.15 + (r % 85) / 100) * w / 1000}')"
  if kill -KILL "$import_pid" 2>/dev/null; then import_kills=$((import_kills + 1)); fi
  wait "$import_pid" 2>/dev/null || true
done
"$BIN" import --config "$IMPORT_DIR/collector.yaml" "$IMPORT_DIR/readings.lp" >>"$IMPORT_DIR/import.log" 2>&1
imported=0
"$BIN" verify --config "$IMPORT_DIR/collector.yaml" --from 0 --by-metric --no-derived >"$IMPORT_DIR/verify.out" 2>&1 || imported=$?
m=$(awk '/^verify: metric temp_c:/ {printf "%d", $4}' "$IMPORT_DIR/verify.out")
want=$((IMPORT_SERIES * IMPORT_STEPS))

echo "chaos: $kills SIGKILLs, $restarts broker restarts (one of ${OUTAGE}s)"
echo "chaos: published $published readings; stored $n (a reading is stored once per (series, time): the key)"
grep -E '^verify: (1m|15m|1h|1d|derived|MISMATCH|FAILED)' "$DIR/verify.out" | sed 's/^/chaos: /' || true
echo "chaos: backfill: $import_kills SIGKILLs of collector import; $want readings in the file, stored ${m:-0}"
grep -E '^verify: (1m|15m|1h|1d|MISMATCH|FAILED)' "$IMPORT_DIR/verify.out" | sed 's/^/chaos: backfill: /' || true
if [ "$n" = "$published" ] && [ "$verified" = 0 ] && [ "${m:-0}" = "$want" ] && [ "$imported" = 0 ]; then
  echo "chaos: OK: every published and imported reading stored exactly once; every tier and derived series equals its recompute"
else
  echo "chaos: FAILED (logs in $DIR/)"; exit 1
fi
