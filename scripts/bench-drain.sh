#!/usr/bin/env bash
# One drain of scripts/bench-e2e.sh's province stream, for A/B runs of two builds:
#   scripts/bench-drain.sh BATCH READINGS [perf|sched|offcpu]
# BATCH 1: JSON messages of one reading; BATCH > 1: SenML packs of BATCH readings. QoS 1.
# The simulator fills the collector's persistent session first; then the collector drains it,
# timed from /readyz to every message committed; its CPU time and the WAL size are printed.
# COLLECTOR_BIN picks the binary (default .build/release/collector), so two builds can be
# alternated in one session (this VM's speed drifts). With "perf", the drain is recorded
# (perf record --call-graph dwarf) into $DIR/perf.data; with "sched", 10 s of it are recorded by
# `perf sched record` (read with `perf sched timehist -s`); with "offcpu", 10 s of context
# switches with their stacks, system-wide (`perf script`: where a thread stops running, and
# why). Each thread's CPU time is printed after the drain. DIR defaults to a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
BATCH=$1; WANT=$2; PERF=${3:-}
BIN=${COLLECTOR_BIN:-.build/release/collector}
DIR=${DIR:-$(mktemp -d /tmp/collector-drain.XXXXXX)}
rm -rf "$DIR" && mkdir -p "$DIR/sensors"
. scripts/lib.sh
# Reserved ports for the broker and the collector (not `listen: :0` and --port-file: A/B runs
# against older builds need a port they can be given).
reserve_port PORT; reserve_port HTTP
start_bench_broker "$DIR" "$PORT"
now_ms() { date +%s%3N; }
cp sensors/lai-chau/*.yaml "$DIR/sensors/"
cat > "$DIR/q1.yaml" <<CONF
mqtt: {url: "mqtt://127.0.0.1:$PORT", client_id: bench-collector, clean_session: false, qos: 1,
       subscriptions: [{topic: "bench/#"}]}
http: {listen: "127.0.0.1:$HTTP"}
storage: {path: $DIR/collector.sqlite}
sensors: $DIR/sensors
log_level: warning
CONF
COLLECTOR=
run_collector() { "$BIN" run --config "$DIR/$1" 2>>"$DIR/collector.log" & COLLECTOR=$!; pids+=("$COLLECTOR"); }
stop_collector() { kill -TERM "$COLLECTOR"; wait "$COLLECTOR" 2>/dev/null || true; }
ready() { for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$HTTP/readyz" >/dev/null 2>&1 && return 0; sleep 0.02; done; return 1; }
run_collector q1.yaml; ready; stop_collector; rm -f "$DIR"/collector.sqlite* "$DIR"/collector.rollups.sqlite*
span=$(python3 -c "print(int($WANT / 7.9) + 60)")
args=(simulate --config "$DIR/q1.yaml" --prefix bench --speed 1000000000 "--from=-${span}s" --qos 1 --client-id bench-pub --seed 5)
if [ "$BATCH" -gt 1 ]; then args+=(--batch "$BATCH" --format senml); else args+=(--batch 1 --format json); fi
summary=$("$BIN" "${args[@]}" 2>/dev/null | grep '^simulate: readings=')
echo "$summary"
messages=$(sed -n 's/.*messages=\([0-9]*\).*/\1/p' <<<"$summary"); readings=$(sed -n 's/.*readings=\([0-9]*\).*/\1/p' <<<"$summary")
run_collector q1.yaml; ready; t0=$(now_ms); c0=$(awk '{print $14+$15}' /proc/$COLLECTOR/stat); b0=$(awk '{print $14+$15}' /proc/$BROKER/stat)
if [ "$PERF" = perf ]; then perf record -F 499 --call-graph dwarf,16384 -p "$COLLECTOR" -o "$DIR/perf.data" 2>/dev/null & PP=$!; fi
if [ "$PERF" = sched ]; then perf sched record -o "$DIR/perf.data" -- sleep 10 >/dev/null 2>&1 & PP=$!; fi
if [ "$PERF" = offcpu ]; then perf record -e sched:sched_switch -a --call-graph dwarf,16384 -o "$DIR/perf.data" -- sleep 10 >/dev/null 2>&1 & PP=$!; fi
deadline=$(( $(now_ms) + 600000 ))
while read -r n at <<<"$(taken_at)"; [ "$n" -lt "$messages" ]; do
    [ "$(now_ms)" -lt "$deadline" ] || { echo "drain: not done after 600 s ($n of $messages messages)"; exit 1; }
    sleep 0.5
done
[ "$at" -gt 0 ] || at=$(now_ms)   # a build without the gauge: the poll's own time
ms=$(( at - t0 ))
threads() { for t in /proc/$COLLECTOR/task/*; do printf '%s=%s ' "$(cat $t/comm | tr ' ' _)" "$(awk '{print ($14+$15)*10}' $t/stat)"; done; echo; }
echo "threads (name=cpu ms): $(threads)"; c1=$(awk '{print $14+$15}' /proc/$COLLECTOR/stat); b1=$(awk '{print $14+$15}' /proc/$BROKER/stat); echo "cpu: collector $(( (c1-c0)*10 )) ms, broker $(( (b1-b0)*10 )) ms"
# Then until the rollups hold every committed reading (builds with a rollup merger thread).
while [ "$(backlog)" -gt 0 ] && [ "$(now_ms)" -lt "$deadline" ]; do sleep 0.25; done
echo "rollups merged: $(( $(now_ms) - t0 )) ms after the start; threads then: $(threads)"
if [ -n "$PERF" ]; then kill -INT $PP 2>/dev/null || true; wait $PP || true; fi
curl -s "http://127.0.0.1:$HTTP/metrics" | grep -E '^collector_(commit|batch)' | head -20 > "$DIR/metrics.txt" || true
echo "wal bytes: $(stat -c %s "$DIR/collector.sqlite-wal")"; stop_collector
n=$(sqlite3 "$DIR/collector.sqlite" "SELECT coalesce(sum(count), 0) FROM sample_blocks")
python3 -c "print(f'messages=$messages readings=$readings raw(readings+derived)=$n ms=$ms  msg/s={$messages/($ms/1000):,.0f} readings/s={$readings/($ms/1000):,.0f}')"
if [ -n "$PERF" ]; then echo "perf data: $DIR/perf.data"; else rm -rf "$DIR"; fi
