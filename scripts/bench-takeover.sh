#!/usr/bin/env bash
# What a partition's takeover costs at a province's scale (issue 29): the whole Lai Châu
# catalogue in one partition, HOURS of its readings (26 h: the default `partition.catch_up`)
# pushed through a three-node NATS cluster into the active collector (SenML packs of 100,
# QoS 1), committed to PostgreSQL (primary and synchronous replica) and its file. Then the
# active collector is SIGKILLed and the standby, its file empty, takes the partition over: it
# reads the window back from PostgreSQL into its file and its alert worker before it connects.
# Prints the readings read back, the catch-up's seconds (the standby's log) and the time from
# the kill until the standby is connected. A cost, not a ratio: no reference run.
#
#   COLLECTOR_BIN=.build/release/collector scripts/bench-takeover.sh
#   HOURS=6 scripts/bench-takeover.sh
# Stops by itself; everything under data/bench-takeover/.
set -euo pipefail
cd "$(dirname "$0")/.."

HOURS=${HOURS:-26}
BIN=${COLLECTOR_BIN:-.build/release/collector}
DIR=data/bench-takeover
rm -rf "$DIR" && mkdir -p "$DIR"

. scripts/lib.sh
nats_cluster_init takeover
declare -A PID PORT
sims=()
trap members_cleanup EXIT
trap 'exit 130' INT TERM

for i in 0 1 2; do start_node "$i"; done
for i in 0 1 2; do wait_listening "${MQTT[$i]}"; done
for i in 0 1 2; do node_ready "$i"; done
pg_cluster_start

mqtt_urls=$(printf '"mqtt://127.0.0.1:%s", ' "${MQTT[@]}"); mqtt_urls=${mqtt_urls%, }
nats_urls=$(printf '"nats://127.0.0.1:%s", ' "${CLIENT[@]}"); nats_urls=${nats_urls%, }
member_config() {
  cat > "$DIR/$1.yaml" <<CONF
mqtt:
  urls: [$mqtt_urls]
  protocol: "3.1.1"
  client_id: takeover-province
  clean_session: false
  qos: 1
  subscriptions: [{topic: "telemetry/province/#"}]
partition: {name: all, member: $1, nats: [$nats_urls], lease: 6s, catch_up: ${HOURS}h}
http: {listen: "127.0.0.1:0"}
storage: {path: $DIR/$1.sqlite, postgres: "$PG_URL"}
sensors: sensors/lai-chau
timezone: Asia/Ho_Chi_Minh
log_level: notice
CONF
}
member_config a; member_config b
start_member a; wait_role a "connected to" 30
start_member b; wait_role b "standby for partition all" 30

# The province's last HOURS, as fast as the cluster takes them.
"$BIN" simulate --config "$DIR/a.yaml" --url "mqtt://127.0.0.1:${MQTT[0]}" --prefix telemetry/province \
  --from="-${HOURS}h" --speed 1000000 --batch 100 --format senml --qos 1 --seed 7 --client-id takeover-gateway \
  >"$DIR/simulate.out" 2>"$DIR/simulate.log" || { echo "bench-takeover: the simulator failed"; tail -5 "$DIR/simulate.log"; exit 1; }
summary=$(grep '^simulate: readings=' "$DIR/simulate.out")
published=$(sed -n 's/.*readings=\([0-9]*\).*/\1/p' <<<"$summary")
HTTP_PORT=${PORT[a]}
wait_stored "$published"
echo "bench-takeover: $published readings of ${HOURS} h published and stored (a: $(ps -o rss= -p "${PID[a]}" | awk '{printf "%.0f MB", $1 / 1024}'))"

if [ "${PERF:-0}" = 1 ]; then   # the standby's profile from the kill until it is connected
  perf record -F 999 -g -p "${PID[b]}" -o "$DIR/perf.data" >/dev/null 2>&1 & perf_pid=$!
  sleep 1
fi
kill -KILL "${PID[a]}"; wait "${PID[a]}" 2>/dev/null || true; unset 'PID[a]'
killed=$(date +%s.%N)
wait_role b "connected to" 600
connected=$(date +%s.%N)
if [ -n "${perf_pid:-}" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; echo "bench-takeover: profile in $DIR/perf.data"; fi
caught=$(grep 'partition caught up' "$DIR/b.log" | tail -1)
echo "bench-takeover: b caught up: $(grep -o 'readings=[0-9]* seconds=[0-9.]* series=[0-9]*' <<<"$caught")"
awk -v k="$killed" -v c="$connected" 'BEGIN {printf "bench-takeover: from the kill to b connected: %.1f s (the lease: 6 s)\n", c - k}'
ps -o rss=,times= -p "${PID[b]}" | awk '{printf "bench-takeover: b after: %.0f MB RSS, %d s CPU\n", $1 / 1024, $2}'
# The province lease's holder recomputes zone, DMA and transformer figures in rounds on its
# alert worker; rounds over a second are logged (they hold up the worker's live readings).
sleep "${SETTLE:-20}"
for m in a b; do
  { grep -o 'changed_series=[0-9]* corrected_series=[0-9]* seconds=[0-9.]*' "$DIR/$m.log" || true; } \
    | awk -v m="$m" '{split($3, s, "="); n++; if (s[2] > max) {max = s[2]; line = $0}}
                     END {if (n) printf "bench-takeover: %s: %d province rounds over 1 s, the longest: %s\n", m, n, line;
                          else printf "bench-takeover: %s: no province round over 1 s\n", m}'
done
