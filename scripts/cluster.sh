#!/usr/bin/env bash
# make cluster: the province with no single point of failure, on one machine (loopback):
#
#   gateways (two `collector simulate`, each given all three nodes)
#     -> nats-server n0, n1, n2 (JetStream, MQTT 3.1.1 on each; a QoS 1 publish is kept in
#        JetStream before its PUBACK)
#     -> collectors: partition north (north-a active, north-b its standby, one MQTT session
#        and a lease in the cluster's key-value store), partition south (south-a)
#     -> PostgreSQL primary + synchronous (remote_apply) replica: the shared store, each
#        commit fenced by its partition's token; every collector's API answers from it
#
# Mid-stream: nats node n1 SIGKILLed (back 5 s later), the active north collector SIGKILLed
# (the standby takes over; the killed one comes back as the new standby), then the primary
# SIGKILLed and the replica promoted. Afterwards: every published reading is in the shared
# store exactly once (readings per metric, `collector verify --postgres --by-metric`), every
# rollup tier there equals its recompute, and what each part cost is printed. Exit 0 only if
# all of that holds.
#
#   make cluster                  # 90 s of stream
#   CLUSTER_SHORT=1 make cluster  # the short form `make test` runs: 40 s
# Stops by itself; everything under data/cluster/.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_RUN=${CLUSTER_SECONDS:-$([ "${CLUSTER_SHORT:-0}" = 1 ] && echo 40 || echo 90)}
RATE=${CLUSTER_RATE:-400}   # readings/s per simulator
BIN=${COLLECTOR_BIN:-.build/debug/collector}
DIR=data/cluster
rm -rf "$DIR" && mkdir -p "$DIR"

. scripts/lib.sh
nats_cluster_init province
declare -A PID PORT
sims=()
cleanup() {
  # PostgreSQL first: a collector waiting in a synchronous commit then returns and can stop.
  pg_cluster_stop
  for p in "${sims[@]}" "${PID[@]}" "${NODE_PID[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${sims[@]}" "${PID[@]}" "${NODE_PID[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for i in 0 1 2; do start_node "$i"; done
for i in 0 1 2; do wait_listening "${MQTT[$i]}"; done
for i in 0 1 2; do node_ready "$i"; done
pg_cluster_start
echo "cluster: nats n0-n2 on MQTT ports ${MQTT[*]}; PostgreSQL primary :$PG_PRIMARY, synchronous replica :$PG_REPLICA"

mqtt_urls=$(printf '"mqtt://127.0.0.1:%s", ' "${MQTT[@]}"); mqtt_urls=${mqtt_urls%, }
nats_urls=$(printf '"nats://127.0.0.1:%s", ' "${CLIENT[@]}"); nats_urls=${nats_urls%, }
# member NAME PARTITION: its config, $DIR/NAME.yaml.
member_config() {
  cat > "$DIR/$1.yaml" <<CONF
mqtt:
  urls: [$mqtt_urls]
  protocol: "3.1.1"
  client_id: cluster-$2
  clean_session: false
  qos: 1
  subscriptions: [{topic: "telemetry/$2/#"}]
partition: {name: $2, member: $1, nats: [$nats_urls], lease: 6s}
http: {listen: "127.0.0.1:0"}
storage: {path: $DIR/$1.sqlite, postgres: "$PG_URL"}
sensors: sensors/lai-chau
timezone: Asia/Ho_Chi_Minh
log_level: warning
CONF
}
start_member() {
  rm -f "$DIR/$1.port"
  "$BIN" run --config "$DIR/$1.yaml" --port-file "$DIR/$1.port" 2>>"$DIR/$1.log" & PID[$1]=$!
  PORT[$1]=$(collector_port "$DIR/$1.port" "${PID[$1]}") || { echo "cluster: $1 did not start; see $DIR/$1.log"; exit 1; }
}
role() { curl -s "http://127.0.0.1:${PORT[$1]}/readyz" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("mqtt",""))' 2>/dev/null || true; }
wait_role() {   # NAME PREFIX SECONDS
  local _
  for _ in $(seq 1 $(($3 * 5))); do [[ "$(role "$1")" == "$2"* ]] && return 0; sleep 0.2; done
  echo "cluster: $1 is not '$2' after $3 s but '$(role "$1")'; see $DIR/$1.log"; exit 1
}
member_config north-a north; member_config north-b north; member_config south-a south
start_member north-a; wait_role north-a "connected to" 30
start_member north-b; start_member south-a
wait_role north-b "standby for partition north" 30; wait_role south-a "connected to" 30

# The gateways: one district per partition, QoS 1, each publisher given every node.
node_args=(--url "mqtt://127.0.0.1:${MQTT[1]}" --url "mqtt://127.0.0.1:${MQTT[2]}" --url "mqtt://127.0.0.1:${MQTT[0]}")
for p in north:tam-duong:5 south:than-uyen:6; do
  IFS=: read -r part district seed <<<"$p"
  "$BIN" simulate --config "$DIR/north-a.yaml" "${node_args[@]}" --prefix "telemetry/$part" --sensors "district=$district" \
    --rate "$RATE" --duration "${SECONDS_RUN}s" --qos 1 --seed "$seed" --client-id "gateway-$part" \
    >"$DIR/simulate-$part.out" 2>"$DIR/simulate-$part.log" & sims+=($!)
done

start=$(date +%s)
at() { while [ $(( $(date +%s) - start )) -lt "$1" ]; do sleep 0.2; done; }
at $((SECONDS_RUN / 5))
kill -KILL "${NODE_PID[1]}"; wait "${NODE_PID[1]}" 2>/dev/null || true
echo "cluster: t=$((SECONDS_RUN / 5))s SIGKILL nats node n1 (a gateway's node), back in 5 s"
sleep 5; start_node 1; wait_listening "${MQTT[1]}"
at $((SECONDS_RUN * 2 / 5))
kill -KILL "${PID[north-a]}"; wait "${PID[north-a]}" 2>/dev/null || true
echo "cluster: t=$((SECONDS_RUN * 2 / 5))s SIGKILL collector north-a (active)"
wait_role north-b "connected to" 30
echo "cluster: north-b took partition north over in $(( $(date +%s) - start - SECONDS_RUN * 2 / 5 )) s"
start_member north-a
at $((SECONDS_RUN * 3 / 5))
pg_kill_primary; pg_promote_replica
echo "cluster: t=$((SECONDS_RUN * 3 / 5))s SIGKILL the PostgreSQL primary; replica promoted"
wait_role north-a "standby for partition north" 30

published=0
for k in "${!sims[@]}"; do
  wait "${sims[$k]}" || { echo "cluster: a simulator failed:"; tail -5 "$DIR"/simulate-*.log; exit 1; }
done
sims=()
for part in north south; do
  summary=$(grep '^simulate: readings=' "$DIR/simulate-$part.out") \
    || { echo "cluster: gateway $part printed no summary; see $DIR/simulate-$part.log"; exit 1; }
  echo "cluster: gateway $part: $summary"
  published=$((published + $(sed -n 's/.*readings=\([0-9]*\).*/\1/p' <<<"$summary")))
done
# Any collector answers for the province (the shared store): the standby's API here.
HTTP_PORT=${PORT[north-a]}
wait_stored "$published"

cost() { { ps -o rss=,times= -p "$1" 2>/dev/null || true; } | awk -v name="$2" '{printf "%s %.0f MB RSS, %d s CPU; ", name, $1 / 1024, $2}'; }
costs=""
for m in north-a north-b south-a; do costs+="$(cost "${PID[$m]}" "$m")"; done
for i in 0 1 2; do costs+="$(cost "${NODE_PID[$i]}" "nats n$i")"; done
pg_pid=$(head -1 "$PG_DIR/replica/postmaster.pid")
pg_rss=$(ps -o rss= --ppid "$pg_pid" -p "$pg_pid" | awk '{s += $1} END {printf "%.0f", s / 1024}')
costs+="postgresql (promoted replica, all processes) $pg_rss MB RSS"
for m in north-a north-b south-a; do kill -TERM "${PID[$m]}"; done
for m in north-a north-b south-a; do wait "${PID[$m]}" || true; done
PID=()

verified=0
"$BIN" verify --config "$DIR/north-a.yaml" --postgres "$PG_URL" --from 0 --by-metric >"$DIR/verify.out" 2>&1 || verified=$?
n=$(awk -v sent=" $SENT " '/^verify: metric / {m = $3; sub(/:$/, "", m); if (index(sent, " " m " ")) n += $4} END {printf "%d", n}' "$DIR/verify.out")
failed=$(cat "$DIR"/north-*.log "$DIR"/south-a.log | grep -c "storage commit failed" || true)
echo "cluster: commits that failed (nothing acknowledged, the broker redelivered): $failed"
echo "cluster: costs at the end (2 x ${RATE} readings/s): $costs"
echo "cluster: published $published readings; the shared store holds $n (once per (series, time))"
grep -E '^verify: (1m|15m|1h|1d|MISMATCH|FAILED)' "$DIR/verify.out" | sed 's/^/cluster: /' || true
if [ "$n" = "$published" ] && [ "$verified" = 0 ]; then
  echo "cluster: OK: every published reading stored exactly once in the shared store; every tier equals its recompute"
else
  echo "cluster: FAILED (logs in $DIR/)"; exit 1
fi
