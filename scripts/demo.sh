#!/usr/bin/env bash
# make demo: starts a mosquitto on a reserved loopback port and the collector with a demo
# config, plays a day of the shipped province and three scenarios with `collector simulate`,
# then prints the HTTP address, example queries and the alerts raised; the province keeps
# reporting in real time. Ctrl-C stops everything. DEMO_ONESHOT=1 stops after the queries.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=.build/debug/collector
DIR=data/demo
rm -rf "$DIR" && mkdir -p "$DIR"

. scripts/lib.sh
reserve_port MQTT_PORT   # the collector picks its HTTP port (listen :0) and writes it to a file

cat > "$DIR/mosquitto.conf" <<CONF
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 1000000
CONF

cat > "$DIR/collector.yaml" <<CONF
# Demo configuration (see README.md, "Configuration").
mqtt:
  url: mqtt://127.0.0.1:$MQTT_PORT
  client_id: collector-demo
  subscriptions:
    - topic: "telemetry/#"
      format: auto
http:
  listen: 127.0.0.1:0
storage:
  path: $DIR/collector.sqlite
timezone: Asia/Ho_Chi_Minh
province: {region: 1}   # Lai Chau: Decision 18/2021 region 1 (flood-risk cases)
language: vi            # alert summaries in Vietnamese (MQTT, webhooks, the API's summary)
CONF

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

mosquitto -c "$DIR/mosquitto.conf" >"$DIR/mosquitto.log" 2>&1 & pids+=($!)
"$BIN" check --config "$DIR/collector.yaml"
wait_listening "$MQTT_PORT"
"$BIN" run --config "$DIR/collector.yaml" --port-file "$DIR/http.port" 2>"$DIR/collector.log" & pids+=($!)
HTTP_PORT=$(collector_port "$DIR/http.port" "${pids[-1]}") || { echo "collector did not start; see $DIR/collector.log"; exit 1; }

for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null || { echo "collector did not become ready; see $DIR/collector.log"; exit 1; }

NOW=$(date +%s)
START=$((NOW - 21600))
SIM=("$BIN" simulate --config "$DIR/collector.yaml" --seed 42)
echo "simulating the province (sensors/: ~2,170 sensors) ..."
# Scenarios first: a dry hot spell in Muong Te, a storm in Sin Ho, a transformer losing 15 %
# and water DMAs leaking and bursting in Lai Chau city; then six hours of the rest of the
# province in 30 s.
published=0
sim() { # runs the simulator, shows its expectations and summary, counts its messages
  local out; out=$("${SIM[@]}" "$@" 2>/dev/null)
  grep -E '^(expect|simulate: (from|readings))' <<<"$out"
  published=$((published + $(sed -n 's/^simulate: readings=[0-9]* messages=\([0-9]*\).*/\1/p' <<<"$out")))
}
sim --scenario fire-weather --sensors kind=forest,district=muong-te --speed 14400 --duration 30s
sim --scenario storm --sensors kind=hydro,district=sin-ho --speed 14400 --duration 30s --client-id sim-storm   # 120 h: the scenario needs 5 days
sim --scenario energy-theft --sensors zone=lc-tr002 --speed 3600 --duration 10s --client-id sim-theft
# Water in Lai Chau city: 18 days of a growing leak in one DMA, two days of the others with a
# main bursting in one for the last 6 hours (complete days give the water-loss indicators).
sim --scenario slow-leak --sensors zone=lc-dma02 --speed 172800 --duration 9s --client-id sim-leak
sim --scenario pipe-burst --sensors kind=water --exclude zone=lc-dma02 --speed 43200 --duration 4s --client-id sim-burst
sim --speed 720 --duration 30s --from "$START" --client-id sim-province \
  --exclude kind=forest,district=muong-te --exclude kind=hydro,district=sin-ho --exclude zone=lc-tr002 --exclude kind=water
echo 'not json at all' | mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t telemetry/broken -l
published=$((published + 1))
# The broker acknowledged everything; wait until the collector has taken every message too.
taken() { curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | awk '/^collector_messages_total/ {n += $2} END {printf "%d", n}'; }
for _ in $(seq 1 300); do
  n=$(taken); echo "  collector has taken $n of $published messages"
  [ "$n" -ge "$published" ] && break
  sleep 2
done
# ... and until the alert worker has seen every committed reading (rules run beside ingest).
behind() { curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | awk '/^collector_alert_queue_readings/ {printf "%d", $2}'; }
for _ in $(seq 1 300); do
  n=$(behind); [ "${n:-0}" -eq 0 ] && break
  echo "  the alert worker has $n readings to go"
  sleep 2
done
# Silences are judged on the worker's once-a-second tick: the replay's last readings (which
# end the replayed silences) are judged by the next one.
sleep 2
if [ "${DEMO_ONESHOT:-0}" != 1 ]; then
  # Keep the province alive in real time while you look around.
  "${SIM[@]}" --client-id sim-live --exclude zone=lc-tr002 >"$DIR/simulate.log" 2>&1 & pids+=($!)
fi

BASE="http://127.0.0.1:$HTTP_PORT"
Q1="$BASE/api/v1/rollups?series=ft-mt-0001/fire_danger_level&step=1d&from=$((NOW - 7 * 86400))"
Q2="$BASE/api/v1/rollups?metric=temp_c&kind=forest&group_by=district&agg=max&step=6h&from=$START&format=csv"
cat <<TXT

The collector is running.
  HTTP:   $BASE            (health: $BASE/readyz, metrics: $BASE/metrics)
  Dashboard: $BASE/         (open it in a browser: live alerts, fire danger, coverage, charts)
  MQTT:   mqtt://127.0.0.1:$MQTT_PORT   (publish JSON to telemetry/...)
  Data:   $DIR/collector.sqlite, log: $DIR/collector.log

Example queries:
  curl '$Q1'
  curl '$Q2'
  curl '$BASE/api/v1/coverage?scope=province'     # the plan's indicators against targets
  curl '$BASE/api/v1/sensors'                     # online / stale / unregistered
  curl '$BASE/api/v1/alerts?state=firing'         # live alerts (rules: sensors/rules.yaml)
  curl -N '$BASE/api/v1/alerts/stream'            # alert events as they happen
  $BIN query alerts --url $BASE --state firing                                  # the same, as a table
  $BIN query rollups --url $BASE --metric fire_danger_level --kind forest --group-by district --agg max --step 1d --last 7d

TXT
echo "\$ curl '$Q1'"; curl -s "$Q1"; echo; echo
echo "\$ curl '$Q2'"; curl -s "$Q2"; echo
echo "\$ curl '$BASE/api/v1/coverage?scope=province'"; curl -s "$BASE/api/v1/coverage?scope=province"; echo
# DEMO_SCREENSHOT=FILE: the dashboard in Vietnamese, as the README shows it (needs chromium).
if [ -n "${DEMO_SCREENSHOT:-}" ]; then scripts/screenshot.sh "$BASE/" "$DEMO_SCREENSHOT"; fi
echo; echo "Alerts firing, by rule:"
curl -s "$BASE/api/v1/alerts?state=firing" | python3 -c 'import json,sys,collections; [print(f"  {n:4d}  {r}") for r,n in collections.Counter(a["rule"] for a in json.load(sys.stdin)).most_common()]'
if [ "${DEMO_ONESHOT:-0}" = 1 ]; then exit 0; fi
echo "Ctrl-C to stop."
wait
