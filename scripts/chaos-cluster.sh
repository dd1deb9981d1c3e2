#!/usr/bin/env bash
# make chaos-cluster: the at-least-once promise with a broker cluster. Three nats-server nodes
# (JetStream, MQTT 3.1.1 on each) take a QoS 1 stream from `collector simulate`, which is
# given every node (`--url` repeated); the collector too (`mqtt.urls`). During the stream a
# node is SIGKILLed CHAOS_NODE_KILLS times (each brought back before the next, so two of three
# always stand) and the collector CHAOS_KILLS times. At the end: every published reading is
# stored exactly once and every rollup tier equals its recompute (`collector verify`); the
# derived series are compared too and their differences reported (see below). Prints the
# counts; exit 0 only if the counts and tiers hold.
#
#   make chaos-cluster                   # 6 collector kills, 4 node kills, 2 minutes of stream
#   CHAOS_SHORT=1 make chaos-cluster     # the short form `make test` runs: 2 and 2, 40 s
# Stops by itself; everything runs on loopback in data/chaos-cluster/.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${CHAOS_SHORT:-0}" = 1 ]; then
  KILLS=${CHAOS_KILLS:-2}; NODE_KILLS=${CHAOS_NODE_KILLS:-2}; SECONDS_RUN=${CHAOS_SECONDS:-40}
else
  KILLS=${CHAOS_KILLS:-6}; NODE_KILLS=${CHAOS_NODE_KILLS:-4}; SECONDS_RUN=${CHAOS_SECONDS:-120}
fi
RATE=${CHAOS_RATE:-1000}
RANDOM=${CHAOS_SEED:-11}
BIN=${COLLECTOR_BIN:-.build/debug/collector}
DIR=data/chaos-cluster
rm -rf "$DIR" && mkdir -p "$DIR"

. scripts/lib.sh
nats_cluster_init chaos
urls=$(printf '"mqtt://127.0.0.1:%s", ' "${MQTT[@]}"); urls=${urls%, }
cat > "$DIR/collector.yaml" <<CONF
mqtt: {urls: [$urls], protocol: "3.1.1", client_id: chaos-nats-collector, clean_session: false, qos: 1}
http: {listen: "127.0.0.1:0"}
storage: {path: $DIR/collector.sqlite}
sensors: sensors/lai-chau
timezone: Asia/Ho_Chi_Minh
log_level: warning
CONF

collector_pid=""; sim_pid=""
cleanup() {
  for p in $sim_pid $collector_pid "${NODE_PID[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

for i in 0 1 2; do start_node "$i"; done
for i in 0 1 2; do wait_listening "${MQTT[$i]}"; done
for i in 0 1 2; do node_ready "$i"; done
start_collector
# Subscribed before the stream starts: the session's JetStream consumer exists from then on.
for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

# The stream: every sensor of one district, QoS 1, through the nodes from the second on.
"$BIN" simulate --config "$DIR/collector.yaml" --url "mqtt://127.0.0.1:${MQTT[1]}" --url "mqtt://127.0.0.1:${MQTT[2]}" \
  --url "mqtt://127.0.0.1:${MQTT[0]}" --sensors district=tam-duong --rate "$RATE" --duration "${SECONDS_RUN}s" \
  --qos 1 --seed 5 --client-id chaos-nats-sim >"$DIR/simulate.out" 2>"$DIR/simulate.log" &
sim_pid=$!

# Faults at random moments: collector kills anywhere; node kills spaced out, each node down
# for 3-7 s, never two at once: first the simulator's node (n1), then the collector's (n0),
# then any.
declare -a events=()
for i in $(seq 1 "$KILLS"); do events+=("$((RANDOM % (SECONDS_RUN - 2) + 1)) kill"); done
gap=$((SECONDS_RUN / (NODE_KILLS + 1)))
for i in $(seq 1 "$NODE_KILLS"); do
  case $i in 1) node=1 ;; 2) node=0 ;; *) node=$((RANDOM % 3)) ;; esac
  events+=("$((i * gap)) node $node")
done
mapfile -t plan < <(printf '%s\n' "${events[@]}" | sort -n)
start=$(date +%s)
kills=0; node_kills=0
for e in "${plan[@]}"; do
  read -r at what node <<<"$e"
  while [ $(( $(date +%s) - start )) -lt "$at" ]; do sleep 0.2; done
  case $what in
    kill)
      sleep "0.$((RANDOM % 10))"
      kill -KILL "$collector_pid" 2>/dev/null || true; wait "$collector_pid" 2>/dev/null || true
      kills=$((kills + 1)); echo "chaos-cluster: t=${at}s SIGKILL collector ($kills/$KILLS)"
      start_collector ;;
    node)
      kill -KILL "${NODE_PID[$node]}" 2>/dev/null || true; wait "${NODE_PID[$node]}" 2>/dev/null || true
      node_kills=$((node_kills + 1)); down=$((3 + RANDOM % 5))
      echo "chaos-cluster: t=${at}s SIGKILL nats node n$node, down ${down}s ($node_kills/$NODE_KILLS)"
      sleep "$down"; start_node "$node"; wait_listening "${MQTT[$node]}" ;;
  esac
done

wait "$sim_pid" || { echo "chaos-cluster: the simulator failed:"; tail -5 "$DIR/simulate.log"; exit 1; }
sim_pid=""
summary=$(grep '^simulate: readings=' "$DIR/simulate.out")
published=$(sed -n 's/.*readings=\([0-9]*\).*/\1/p' <<<"$summary")
echo "chaos-cluster: simulator done: $summary"
wait_stored "$published"
# What each part cost (RSS now, CPU seconds since it started; a restarted node counts from its restart).
cost() { { ps -o rss=,times= -p "$1" 2>/dev/null || true; } | awk -v name="$2" '{printf "%s %.0f MB RSS, %d s CPU; ", name, $1 / 1024, $2}'; }
costs="$(cost "$collector_pid" collector)"
for i in 0 1 2; do costs+="$(cost "${NODE_PID[$i]}" "nats n$i")"; done
kill -TERM "$collector_pid"; wait "$collector_pid" || true; collector_pid=""

# Every tier and every derived series must equal its recompute. With NATS, a message
# delivered to a node that died is redelivered `ack_wait` later, after newer readings: a late
# input, whose derived series are recomputed from its time on (a correction).
verified=0
"$BIN" verify --config "$DIR/collector.yaml" --from 0 --by-metric --no-derived >"$DIR/verify.out" 2>&1 || verified=$?
"$BIN" verify --config "$DIR/collector.yaml" --from 0 --max-report 1000000 >"$DIR/verify-derived.out" 2>&1 || true
n=$(awk -v sent=" $SENT " '/^verify: metric / {m = $3; sub(/:$/, "", m); if (index(sent, " " m " ")) n += $4} END {printf "%d", n}' "$DIR/verify.out")
failovers=$(grep -c "reconnecting to" "$DIR/simulate.log" || true)
moves=$(grep -c '"mqtt link down; retrying"\|mqtt link down; retrying' "$DIR/collector.log" || true)

echo "chaos-cluster: $kills collector SIGKILLs, $node_kills nats node SIGKILLs; the simulator reconnected $failovers times, the collector's link went down $moves times"
echo "chaos-cluster: costs at the end (${RATE} readings/s): ${costs%; }"
echo "chaos-cluster: published $published readings; stored $n (a reading is stored once per (series, time): the key)"
grep -E '^verify: (1m|15m|1h|1d|MISMATCH|FAILED)' "$DIR/verify.out" | sed 's/^/chaos-cluster: /' || true
derived=$(grep -E '^verify: derived' "$DIR/verify-derived.out" || true)
echo "chaos-cluster: ${derived:-verify: derived: NOT CHECKED (see $DIR/verify-derived.out)}"
grep -E '^verify: (MISMATCH derived|FAILED)' "$DIR/verify-derived.out" | head -5 | sed 's/^/chaos-cluster: /' || true
derived_ok=0
grep -q '^verify: OK' "$DIR/verify-derived.out" && grep -q '^verify: derived: ' "$DIR/verify-derived.out" && derived_ok=1
if [ "$n" = "$published" ] && [ "$verified" = 0 ] && [ "$derived_ok" = 1 ]; then
  echo "chaos-cluster: OK: every published reading stored exactly once; every tier and derived series equals its recompute"
else
  echo "chaos-cluster: FAILED (logs in $DIR/)"; exit 1
fi
