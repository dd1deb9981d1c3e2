#!/usr/bin/env bash
# make demo: starts a mosquitto on a reserved loopback port and the collector with a demo
# config, plays a day of the shipped province and three scenarios with `collector simulate`,
# then prints the HTTP address, example queries and the alerts raised; the province keeps
# reporting in real time. Ctrl-C stops everything. DEMO_ONESHOT=1 stops after the queries.
# PROVINCE=lam-dong plays Lam Dong's catalogue (sensors/lam-dong) instead of Lai Chau's.
set -euo pipefail
cd "$(dirname "$0")/.."

PROVINCE=${PROVINCE:-lai-chau}
# Per province: its Decision 18/2021 region, and where the scenarios play (former districts,
# a transformer, the DMAs of the leak and of the burst).
case "$PROVINCE" in
  lai-chau) REGION=1; FIRE=muong-te; STORM=sin-ho; THEFT=lc-tr002; LEAK=lc-dma02; SAMPLE=ft-mt-0001; LORA=tam-duong ;;
  lam-dong) REGION=3; FIRE=lac-duong; STORM=dam-rong; THEFT=dl-tr002; LEAK=ld-dma02; SAMPLE=ft-lcd-0001; LORA=bao-lam ;;
  *) echo "PROVINCE must be lai-chau or lam-dong, not '$PROVINCE'"; exit 2 ;;
esac

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
    - topic: "application/+/device/+/event/up"   # a LoRaWAN network server (ChirpStack v4)
      format: chirpstack
http:
  listen: 127.0.0.1:0
storage:
  path: $DIR/collector.sqlite
sensors: sensors/$PROVINCE
timezone: Asia/Ho_Chi_Minh
province: {region: $REGION}   # Decision 18/2021's region (flood-risk cases): Lai Chau 1, Lam Dong 3
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
echo "simulating the province (sensors/$PROVINCE: $(grep -c '^  - {id: ' "sensors/$PROVINCE/catalogue.yaml") catalogue entries) ..."
# Scenarios first: a dry hot spell in one former district's forests, a storm in another's, a
# transformer losing 15 % and water DMAs leaking and bursting in the city; then six hours of
# the rest of the province in 30 s.
published=0
sim() { # runs the simulator, shows its expectations and summary, counts its messages
  local out; out=$("${SIM[@]}" "$@" 2>/dev/null)
  grep -E '^(expect|simulate: (from|readings))' <<<"$out"
  published=$((published + $(sed -n 's/^simulate: readings=[0-9]* messages=\([0-9]*\).*/\1/p' <<<"$out")))
}
sim --scenario fire-weather --target "$FIRE" --sensors kind=forest,district=$FIRE --speed 14400 --duration 30s
sim --scenario storm --target "$STORM" --sensors kind=hydro,district=$STORM --speed 14400 --duration 30s --client-id sim-storm   # 120 h: the scenario needs 5 days
sim --scenario energy-theft --target "$THEFT" --sensors zone=$THEFT --speed 3600 --duration 10s --client-id sim-theft
# Water: 18 days of a growing leak in one DMA, two days of the others with a main bursting in
# the first of them for the last 6 hours (complete days give the water-loss indicators).
BURST=$(grep -o 'role: inflow, unit: [a-z0-9-]*, zone: [a-z0-9-]*' "sensors/$PROVINCE/catalogue.yaml" | sed 's/.*zone: //' | grep -v "^$LEAK\$" | head -1)
sim --scenario slow-leak --target "$LEAK" --sensors zone=$LEAK --speed 172800 --duration 9s --client-id sim-leak
sim --scenario pipe-burst --target "$BURST" --sensors kind=water --exclude zone=$LEAK --speed 43200 --duration 4s --client-id sim-burst
# One former district's forest stations report through a LoRaWAN network server: ChirpStack
# uplink events (their devices' EUIs are in the catalogue).
sim --format chirpstack --prefix "application/$PROVINCE-forest" --sensors kind=forest,district=$LORA \
  --speed 2160 --duration 10s --from "$START" --client-id sim-lora
sim --speed 720 --duration 30s --from "$START" --client-id sim-province \
  --exclude kind=forest,district=$FIRE --exclude kind=forest,district=$LORA --exclude kind=hydro,district=$STORM \
  --exclude zone=$THEFT --exclude kind=water
echo 'not json at all' | mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t telemetry/broken -l
published=$((published + 1))
# A gateway on a poor link posts its river gauges' last hour as line protocol over HTTP
# (InfluxDB's write API), answered once the readings are committed.
GAUGES=$(grep -o 'id: hy-[a-z]*-000[1-3]' "sensors/$PROVINCE/catalogue.yaml" | head -3 | sed 's/id: //')
LINES=$(for g in $GAUGES; do for m in $(seq 0 5 55); do
  echo "river,sensor=$g level_m=$(awk -v m="$m" 'BEGIN { printf "%.2f", 1.8 + m / 100 }') $((NOW - 3600 + m * 60))"; done; done)
code=$(printf '%s\n' "$LINES" | curl -s -o /dev/null -w '%{http_code}' --data-binary @- "http://127.0.0.1:$HTTP_PORT/api/v2/write?bucket=gw-http&precision=s")
echo "HTTP gateway: POST /api/v2/write, $(printf '%s\n' "$LINES" | wc -l) lines of $(echo $GAUGES | wc -w) river gauges -> $code"
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
  "${SIM[@]}" --client-id sim-live --exclude zone=$THEFT >"$DIR/simulate.log" 2>&1 & pids+=($!)
fi

BASE="http://127.0.0.1:$HTTP_PORT"
Q1="$BASE/api/v1/rollups?series=$SAMPLE/fire_danger_level&step=1d&from=$((NOW - 7 * 86400))"
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
  curl '$BASE/api/v1/coverage?level=district'     # ... per former district (per commune: level=unit)
  curl '$BASE/api/v1/places'                      # units (communes, wards) and their groupings
  curl '$BASE/api/v1/sensors'                     # online / stale / unregistered
  curl '$BASE/api/v1/alerts?state=firing'         # live alerts (rules: sensors/$PROVINCE/rules.yaml)
  curl -N '$BASE/api/v1/alerts/stream'            # alert events as they happen
  $BIN query alerts --url $BASE --state firing                                  # the same, as a table
  $BIN query rollups --url $BASE --metric fire_danger_level --kind forest --group-by district --agg max --step 1d --last 7d

TXT
echo "\$ curl '$Q1'"; curl -s "$Q1"; echo; echo
echo "\$ curl '$Q2'"; curl -s "$Q2"; echo
echo "\$ curl '$BASE/api/v1/coverage?scope=province'"; curl -s "$BASE/api/v1/coverage?scope=province"; echo
echo; echo "LoRaWAN (ChirpStack uplinks), the stations of former $LORA:"
curl -s "$BASE/api/v1/series?metric=lora_f_cnt&district=$LORA" | python3 -c 'import json,sys; s=json.load(sys.stdin); print("  %d stations heard; frame counters up to %d" % (len(s), max([x["last_value"] for x in s] or [0])))'

# DEMO_SCREENSHOT=FILE: the dashboard in Vietnamese, as the README shows it (needs chromium).
if [ -n "${DEMO_SCREENSHOT:-}" ]; then scripts/screenshot.sh "$BASE/" "$DEMO_SCREENSHOT"; fi
echo; echo "Alerts firing, by rule:"
curl -s "$BASE/api/v1/alerts?state=firing" | python3 -c 'import json,sys,collections; [print(f"  {n:4d}  {r}") for r,n in collections.Counter(a["rule"] for a in json.load(sys.stdin)).most_common()]'
if [ "${DEMO_ONESHOT:-0}" = 1 ]; then exit 0; fi
echo "Ctrl-C to stop."
wait
