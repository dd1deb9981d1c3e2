#!/usr/bin/env python3
"""Alert latency under load (part of scripts/bench-e2e.sh, so of `make bench`).

Usage: bench-latency.py MQTT_PORT SECONDS PREFIX. While a load runs (started by the caller),
sends a probe reading every 0.1 s on `PREFIX/probe-latency`, alternately above the `probe-hot` rule's
threshold (it fires) and below its clear level (it resolves), each stamped with its send time
in epoch milliseconds. A subscriber on `alerts/+/probe-hot/#` takes every firing alert; its
latency is arrival time minus the alert's `value_t` (the triggering reading's stamp): publish,
broker, collector decode, commit, rule, alert publish, broker, subscriber. Both clients are
libmosquitto's own (mosquitto_pub -l, mosquitto_sub) on one machine, so one clock.
Prints the count and the p50, p99 and maximum.
"""
import json, os, subprocess, sys, threading, time

port, seconds, prefix = sys.argv[1], float(sys.argv[2]), sys.argv[3]
# -R: not the retained alert a previous run of the collector left on the broker.
sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", port, "-q", "1", "-R", "-t", "alerts/+/probe-hot/#", "-F", "%p"],
                       stdout=subprocess.PIPE, text=True, bufsize=1)
pub = subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-q", "1", "-t", f"{prefix}/probe-latency", "-l"],
                       stdin=subprocess.PIPE, text=True, bufsize=1)
latencies, seen, sent = [], set(), 0


def listen():
    for line in sub.stdout:
        now = time.time()
        try:
            alert = json.loads(line)
        except ValueError:
            continue  # an empty retained message clears a resolved alert
        # One sample per probe: a firing alert is also republished after a reconnect.
        if alert.get("state") == "firing" and alert.get("value_t") is not None and alert["value_t"] not in seen:
            seen.add(alert["value_t"])
            latencies.append((now - float(alert["value_t"])) * 1000)


threading.Thread(target=listen, daemon=True).start()
time.sleep(0.5)  # the subscription reaches the broker
end = time.time() + seconds
hot = True
while time.time() < end:
    pub.stdin.write(json.dumps({"ts": int(time.time() * 1000), "probe_v": 60 if hot else 30}) + "\n")
    pub.stdin.flush()
    sent += hot
    hot = not hot
    time.sleep(0.1)
deadline = time.time() + 30  # the collector may still be catching up with the load
while len(latencies) < sent and time.time() < deadline:
    time.sleep(0.1)
pub.stdin.close()
pub.wait(10)
sub.terminate()
if not latencies:
    print(f"  alert latency: none of {sent} probes fired within 30 s of the last (the collector is behind the load)")
    sys.exit(0)
if os.environ.get("LATENCY_SERIES"):  # in probe order, to see when the slow ones came
    print("  in order (ms): " + " ".join(f"{x:.0f}" for x in latencies))
latencies.sort()
pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
print(f"  alert latency: {len(latencies)} of {sent} probes fired; p50 {pick(0.5):.1f} ms, p99 {pick(0.99):.1f} ms, max {latencies[-1]:.1f} ms")
