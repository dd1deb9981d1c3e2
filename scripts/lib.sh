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
