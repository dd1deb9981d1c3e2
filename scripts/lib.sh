# Shared by the scripts: source it.

# A loopback port for a server this script starts, reserved without a race: binding port 0,
# closing and passing the number on lets any outgoing connection take the port in between.
# So the port comes from below the kernel's ephemeral range (ip_local_port_range), which no
# outgoing connection is given, and is reserved with an flock on
# /tmp/collector-test-ports/PORT.lock, which the Swift tests honour too
# (Tests/CollectorTests/Support/ReservedPort.swift). The lock stays on a descriptor of this
# shell until it exits (children started later inherit the descriptor: harmless, the lock
# just lasts as long as they do). Usage: reserve_port VAR (not in $(...): a subshell would
# drop the lock).
reserve_port() {
  local low high rest span start i p fd
  read -r low rest < /proc/sys/net/ipv4/ip_local_port_range
  [ "$low" -gt 10001 ] || { echo "reserve_port: ip_local_port_range starts at $low: no ports below it" >&2; return 1; }
  high=$((low - 1)); low=$(( low - 8000 > 10000 ? low - 8000 : 10000 ))
  mkdir -p -m 1777 /tmp/collector-test-ports 2>/dev/null || true
  span=$((high - low + 1)); start=$((RANDOM % span))
  for ((i = 0; i < span; i++)); do
    p=$((low + (start + i) % span))
    exec {fd}>>"/tmp/collector-test-ports/$p.lock" || continue
    # Held by another test or script, or a server of the machine's own listens there: next.
    if flock -n "$fd" && ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      printf -v "$1" %s "$p"; return 0
    fi
    exec {fd}>&-
  done
  echo "reserve_port: no free port in $low-$high" >&2; return 1
}

# The HTTP port of a collector started with `run --port-file FILE` (pid PID) and
# `http.listen: 127.0.0.1:0`: it listens on a port the kernel chose, then writes it to FILE.
# Prints the port once the file is there; fails if the collector exits first or after 30 s.
# Usage: collector_port FILE PID
collector_port() {
  local _
  for _ in $(seq 1 300); do
    [ -s "$1" ] && { cat "$1"; return 0; }
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# Waits until something accepts TCP connections on 127.0.0.1:PORT (at most 10 s).
wait_listening() {
  local _
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "nothing listens on port $1 after 10 s" >&2; return 1
}

# The benchmarks' broker on loopback: 1,000 messages in flight, no queue limit, sessions kept
# in memory. Starts it in the background, sets BROKER and pids (every pid in pids is killed
# on exit), and waits until it listens. Usage: start_bench_broker DIR PORT.
start_bench_broker() {
  cat > "$1/mosquitto.conf" <<CONF
listener $2 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 0
max_inflight_messages 1000
queue_qos0_messages true
set_tcp_nodelay true
CONF
  mosquitto -c "$1/mosquitto.conf" >"$1/mosquitto.log" 2>&1 & BROKER=$!
  pids=("$BROKER")
  trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
  wait_listening "$2"
}

# A collector's /metrics on loopback port $HTTP, read by the benchmarks. Polls are sparse:
# each one (curl, awk, the exposition) costs ~15 ms of CPU here, taken from the processes
# being measured; times come from the collector's last-commit gauge, not from the polls.
# Messages taken, and the wall-clock ms of the commit that took the last of them.
taken_at() { curl -s "http://127.0.0.1:$HTTP/metrics" | awk '/^collector_messages_total/ {n += $2}
  /^collector_last_commit_timestamp_seconds/ {t = $2} END {printf "%d %.0f", n, t * 1000}'; }
# Committed readings not yet in the 1m tier.
backlog() { curl -s "http://127.0.0.1:$HTTP/metrics" | awk '/^collector_rollup_backlog_readings/ {printf "%d", $2; f=1} END {if (!f) printf "0"}'; }

# The chaos scripts' collector: started in the background from $DIR/collector.yaml with $BIN,
# its pid in collector_pid and its HTTP port in HTTP_PORT, once /healthz answers.
start_collector() {
  rm -f "$DIR/http.port"
  "$BIN" run --config "$DIR/collector.yaml" --port-file "$DIR/http.port" 2>>"$DIR/collector.log" & collector_pid=$!
  HTTP_PORT=$(collector_port "$DIR/http.port" "$collector_pid") \
    || { echo "chaos: the collector did not start listening; see $DIR/collector.log"; exit 1; }
  for _ in $(seq 1 200); do
    curl -sf "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$collector_pid" 2>/dev/null || { echo "chaos: the collector exited on start; see $DIR/collector.log"; exit 1; }
    sleep 0.1
  done
  echo "chaos: the collector did not come up"; exit 1
}

# The metrics `collector simulate` sends (not the collector's derived series).
SENT="temp_c rh_pct rain_mm wind_ms level_m pm25_ugm3 pm10_ugm3 kwh voltage_v flow_veh speed_kmh occupancy"
# Readings of those metrics the collector on $HTTP_PORT answers for, from its 1d rollups over
# the HTTP API (counts per sensor summed; the tiers lag the commits by a few seconds).
stored() {
  python3 - "$HTTP_PORT" $SENT <<'PY' 2>/dev/null || echo 0
import json, sys, time, urllib.request
port, metrics = sys.argv[1], sys.argv[2:]
now = int(time.time())
n = 0
for m in metrics:
    url = f"http://127.0.0.1:{port}/api/v1/rollups?metric={m}&group_by=sensor&agg=count&step=1d&from={now - 8 * 86400}&to={now + 86400}"
    for g in json.load(urllib.request.urlopen(url, timeout=10)).get("groups", []):
        n += sum(int(p["value"]) for p in g["points"])
print(n)
PY
}

# Waits until the collector answers for WANT readings (or nothing new came for 30 s), then
# until its alert worker has taken every committed reading. Usage: wait_stored WANT
wait_stored() {
  local last=-1 still=0 n _
  for _ in $(seq 1 300); do
    n=$(stored); [ "${n:-0}" -ge "$1" ] && break
    if [ "$n" = "$last" ]; then still=$((still + 1)); else still=0; fi
    [ "$still" -ge 30 ] && break   # nothing new for 30 s: what is missing will not come
    last=$n; sleep 1
  done
  for _ in $(seq 1 100); do
    [ "$(curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | awk '/^collector_alert_queue_readings/ {printf "%d", $2; f=1} END {if (!f) printf "1"}')" = 0 ] && break
    sleep 0.1
  done
}

# A three-node nats-server cluster on loopback (JetStream on, an MQTT listener on each node),
# its files under $DIR/n0..n2: ports in CLIENT, ROUTE and MQTT, pids in NODE_PID.
# Usage: nats_cluster_init NAME (writes the configs); start_node I; node_ready I.
declare -a CLIENT ROUTE MQTT NODE_PID
nats_cluster_init() {
  local i got routes
  for i in 0 1 2; do
    reserve_port got; CLIENT[$i]=$got; reserve_port got; ROUTE[$i]=$got; reserve_port got; MQTT[$i]=$got
  done
  routes=$(printf 'nats-route://127.0.0.1:%s, ' "${ROUTE[@]}"); routes=${routes%, }
  for i in 0 1 2; do
    mkdir -p "$DIR/n$i"
    cat > "$DIR/n$i.conf" <<CONF
server_name: n$i
listen: 127.0.0.1:${CLIENT[$i]}
jetstream { store_dir: "$PWD/$DIR/n$i/js" }
cluster { name: $1, listen: 127.0.0.1:${ROUTE[$i]}, routes: [$routes] }
mqtt { listen: 127.0.0.1:${MQTT[$i]}, ack_wait: "10s" }
CONF
  done
}
start_node() { nats-server -c "$DIR/n$1.conf" >>"$DIR/n$1.log" 2>&1 & NODE_PID[$1]=$!; }
# A node takes a QoS 1 publish once the cluster has a JetStream leader and the MQTT streams.
node_ready() {
  local _
  for _ in $(seq 1 60); do
    mosquitto_pub -V mqttv311 -h 127.0.0.1 -p "${MQTT[$1]}" -q 1 -t probe/ready -m ready >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "node n$1 takes no publish; see $DIR/n$1.log"; exit 1
}

# A PostgreSQL primary and a synchronous streaming replica on loopback (Debian's
# postgresql-15), in a directory of their own under /tmp (PG_DIR; the postgres user must reach
# it, which a checkout under /root would not allow). PostgreSQL will not run as root: as root,
# every server command runs as the postgres user. Sets PG_PRIMARY and PG_REPLICA (ports) and
# PG_URL (both hosts; libpq takes the one that accepts writes). Usage: pg_cluster_start;
# pg_kill_primary; pg_promote_replica; pg_cluster_stop (stops both, removes PG_DIR).
pg_as() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_sql() { psql -h 127.0.0.1 -p "$1" -U collector -d postgres -Atc "$2"; }
pg_cluster_start() {
  local pg _
  PG_BIN=$(pg_config --bindir 2>/dev/null || true)
  [ -x "$PG_BIN/initdb" ] || PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  PG_DIR=$(mktemp -d /tmp/collector-pg.XXXXXX); pg=$PG_DIR
  chmod 755 "$pg"
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$pg"; fi
  reserve_port PG_PRIMARY; reserve_port PG_REPLICA
  pg_as "$PG_BIN/initdb" -D "$pg/primary" -A trust -U collector --no-sync >"$pg/initdb.log" 2>&1 \
    || { echo "initdb failed; see $pg/initdb.log"; exit 1; }
  cat >> "$pg/primary/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PRIMARY
unix_socket_directories = '$pg'
wal_level = replica
max_wal_senders = 4
synchronous_standby_names = 'replica1'
synchronous_commit = remote_apply
CONF
  pg_as "$PG_BIN/pg_ctl" -D "$pg/primary" -l "$pg/primary.log" -w start >/dev/null
  pg_as "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$PG_PRIMARY" -U collector -D "$pg/replica" -R --no-sync
  cat >> "$pg/replica/postgresql.auto.conf" <<CONF
port = $PG_REPLICA
primary_conninfo = 'host=127.0.0.1 port=$PG_PRIMARY user=collector application_name=replica1'
CONF
  pg_as "$PG_BIN/pg_ctl" -D "$pg/replica" -l "$pg/replica.log" -w start >/dev/null
  PG_URL="postgresql://collector@127.0.0.1:$PG_PRIMARY,127.0.0.1:$PG_REPLICA/postgres?target_session_attrs=read-write&connect_timeout=3"
  for _ in $(seq 1 300); do
    [ "$(pg_sql "$PG_PRIMARY" "SELECT sync_state FROM pg_stat_replication" 2>/dev/null)" = sync ] && return 0
    sleep 0.1
  done
  echo "the replica does not stream synchronously; see $pg/replica.log"; exit 1
}
# SIGKILL to the primary's postmaster and every process it started (a machine lost).
pg_kill_primary() {
  local pid; pid=$(head -1 "$PG_DIR/primary/postmaster.pid")
  local children; children=$(pgrep -P "$pid" || true)
  kill -KILL "$pid" $children 2>/dev/null || true
}
# The replica made primary; it inherited synchronous_standby_names, and with no standby of
# its own its commits would wait forever, so that goes (the operator attaches a new standby).
pg_promote_replica() {
  pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/replica" -w promote >/dev/null
  pg_sql "$PG_REPLICA" "ALTER SYSTEM SET synchronous_standby_names = ''" >/dev/null
  pg_sql "$PG_REPLICA" "SELECT pg_reload_conf()" >/dev/null
}
pg_cluster_stop() {
  local d pid
  [ -n "${PG_DIR:-}" ] || return 0
  for d in replica primary; do
    pid=$(head -1 "$PG_DIR/$d/postmaster.pid" 2>/dev/null || true)
    # (A killed primary's file names a dead process: nothing to stop.)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/$d" -m immediate -w stop >/dev/null 2>&1
  done
  rm -rf "$PG_DIR"; PG_DIR=""
  return 0
}

# Collectors of a shared store and NATS cluster (cluster.sh, bench-takeover.sh), each run from
# $DIR/NAME.yaml with $BIN: pids in PID, HTTP ports in PORT, simulators' pids in sims.
# Usage: declare -A PID PORT; sims=(); trap members_cleanup EXIT; start_member NAME;
# role NAME (what its /readyz says of its MQTT part); wait_role NAME PREFIX SECONDS.
members_cleanup() {
  # PostgreSQL first: a collector waiting in a synchronous commit then returns and can stop.
  pg_cluster_stop
  for p in "${sims[@]}" "${PID[@]}" "${NODE_PID[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${sims[@]}" "${PID[@]}" "${NODE_PID[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
start_member() {
  rm -f "$DIR/$1.port"
  "$BIN" run --config "$DIR/$1.yaml" --port-file "$DIR/$1.port" 2>>"$DIR/$1.log" & PID[$1]=$!
  PORT[$1]=$(collector_port "$DIR/$1.port" "${PID[$1]}") || { echo "$(basename "$0" .sh): $1 did not start; see $DIR/$1.log"; exit 1; }
}
role() { curl -s "http://127.0.0.1:${PORT[$1]}/readyz" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("mqtt",""))' 2>/dev/null || true; }
wait_role() {
  local _
  for _ in $(seq 1 $(($3 * 10))); do [[ "$(role "$1")" == "$2"* ]] && return 0; sleep 0.1; done
  echo "$(basename "$0" .sh): $1 is not '$2' after $3 s but '$(role "$1")'; see $DIR/$1.log"; exit 1
}
