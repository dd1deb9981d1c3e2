#!/usr/bin/env bash
# make demo: starts a mosquitto on a free loopback port and the collector with a demo
# config, publishes two hours of readings from a few stations, then prints the HTTP address
# and example queries. Ctrl-C stops everything. DEMO_ONESHOT=1 stops after the queries.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=.build/debug/collector
DIR=data/demo
rm -rf "$DIR" && mkdir -p "$DIR"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
MQTT_PORT=$(free_port)
HTTP_PORT=$(free_port)

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
  listen: 127.0.0.1:$HTTP_PORT
storage:
  path: $DIR/collector.sqlite
timezone: Asia/Ho_Chi_Minh
CONF

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

mosquitto -c "$DIR/mosquitto.conf" >"$DIR/mosquitto.log" 2>&1 & pids+=($!)
"$BIN" check --config "$DIR/collector.yaml"
"$BIN" run --config "$DIR/collector.yaml" 2>"$DIR/collector.log" & pids+=($!)

for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null || { echo "collector did not become ready; see $DIR/collector.log"; exit 1; }

NOW=$(date +%s)
START=$((NOW - 7200))
echo "publishing two hours of readings (one every 10 s) from 3 stations at QoS 1 ..."
# A forest fire-weather station, a river gauge and a transformer meter (illustrative values).
awk -v start="$START" 'BEGIN {
  for (i = 0; i < 720; i++) {
    t = start + i * 10; h = (t / 3600 + 7) % 24;
    printf "{\"sensor\":\"ft-mt-0001\",\"ts\":%d,\"temp_c\":%.2f,\"rh_pct\":%.1f}\n", t, 24 + 8 * sin((h - 9) * 3.14159 / 12), 70 - 25 * sin((h - 9) * 3.14159 / 12);
  } }' | mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t telemetry/muong-te/forest/ft-mt-0001 -l
awk -v start="$START" 'BEGIN {
  for (i = 0; i < 720; i++) { t = start + i * 10; printf "[{\"sensor\":\"hy-lc-0001\",\"ts\":%d,\"level_m\":%.3f}]\n", t, 2.1 + i * 0.0004 }
}' | mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t telemetry/lai-chau-city/hydro/hy-lc-0001 -l
awk -v start="$START" 'BEGIN {
  for (i = 0; i < 720; i++) { t = start + i * 10; printf "{\"ts\":%d,\"kwh\":%.3f,\"voltage_v\":%.1f}\n", t, 1000 + i * 0.35, 228 + (i % 7) }
}' | mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t telemetry/tam-duong/meter/mt-td-tr01 -l
echo 'not json at all' | mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t telemetry/tam-duong/meter/broken -l
sleep 1

BASE="http://127.0.0.1:$HTTP_PORT"
Q1="$BASE/api/v1/rollups?series=ft-mt-0001/temp_c&step=15m&from=$START"
Q2="$BASE/api/v1/rollups?series=hy-lc-0001/level_m&step=1h&from=$START&format=csv"
cat <<TXT

The collector is running.
  HTTP:   $BASE            (health: $BASE/readyz, metrics: $BASE/metrics)
  MQTT:   mqtt://127.0.0.1:$MQTT_PORT   (publish JSON to telemetry/...)
  Data:   $DIR/collector.sqlite, log: $DIR/collector.log

Example queries:
  curl '$Q1'
  curl '$Q2'
  curl '$BASE/api/v1/coverage?scope=province'     # the plan's indicators against targets
  curl '$BASE/api/v1/sensors'                     # online / stale / unregistered
  curl '$BASE/api/v1/alerts'                      # live alerts (rules: sensors/rules.yaml)
  curl -N '$BASE/api/v1/alerts/stream'            # alert events as they happen

TXT
echo "\$ curl '$Q1'"; curl -s "$Q1"; echo; echo
echo "\$ curl '$Q2'"; curl -s "$Q2"; echo
echo "\$ curl '$BASE/api/v1/coverage?scope=province'"; curl -s "$BASE/api/v1/coverage?scope=province"; echo
if [ "${DEMO_ONESHOT:-0}" = 1 ]; then exit 0; fi
echo "Ctrl-C to stop."
wait
