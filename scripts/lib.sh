# Shared by the scripts: source it.

# A free TCP port on loopback.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# The benchmarks' broker on loopback: 1,000 messages in flight, no queue limit, sessions kept
# in memory. Starts it in the background, sets BROKER and pids (every pid in pids is killed
# on exit), and waits briefly for it to listen. Usage: start_bench_broker DIR PORT.
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
  sleep 0.3
}

# A collector's /metrics on loopback port $HTTP, read by the benchmarks. Polls are sparse:
# each one (curl, awk, the exposition) costs ~15 ms of CPU here, taken from the processes
# being measured; times come from the collector's last-commit gauge, not from the polls.
# Messages taken, and the wall-clock ms of the commit that took the last of them.
taken_at() { curl -s "http://127.0.0.1:$HTTP/metrics" | awk '/^collector_messages_total/ {n += $2}
  /^collector_last_commit_timestamp_seconds/ {t = $2} END {printf "%d %.0f", n, t * 1000}'; }
# Committed readings not yet in the 1m tier.
backlog() { curl -s "http://127.0.0.1:$HTTP/metrics" | awk '/^collector_rollup_backlog_readings/ {printf "%d", $2; f=1} END {if (!f) printf "0"}'; }
