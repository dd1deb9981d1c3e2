#!/usr/bin/env bash
# make test (after chaos): the hostile probes of issue 24 replayed against a running collector
# on loopback, each a bounded step, each with what must hold afterwards. The collector runs
# with 150 file descriptors and a 1 s idle timeout so the descriptor and slow-client probes
# finish quickly. Prints one line per probe; exit 0 only if every probe holds and the daemon
# still answers. Runs in data/hostile/; stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${COLLECTOR_BIN:-.build/debug/collector}
DIR=data/hostile
rm -rf "$DIR" && mkdir -p "$DIR/none"
. scripts/lib.sh
reserve_port MQTT_PORT

cat > "$DIR/mosquitto.conf" <<CONF
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
CONF
ADMIN=hostile-admin-token-0123456789
VIEWER=hostile-viewer-token-0123456789
cat > "$DIR/tokens.yaml" <<YAML
tokens:
  - {name: admin, role: admin, token: "$ADMIN"}
  - {name: screen, role: viewer, token: "$VIEWER"}
YAML
chmod 600 "$DIR/tokens.yaml"
cat > "$DIR/collector.yaml" <<CONF
mqtt:
  url: "mqtt://127.0.0.1:$MQTT_PORT"
  client_id: hostile-collector
  subscriptions:
    - {topic: "telemetry/{district}/{kind}/{sensor}"}
    - {topic: "flat/#"}
http: {listen: "127.0.0.1:0", tokens_file: $DIR/tokens.yaml, idle_timeout: 1s}
storage: {path: $DIR/collector.sqlite, accept_age: 3650d}
sensors: $DIR/none
limits: {new_series_per_minute: 200}
log_level: warning
CONF

broker_pid=""; collector_pid=""
cleanup() {
  for p in $collector_pid $broker_pid; do kill "$p" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    kill -0 $collector_pid $broker_pid 2>/dev/null || break
    sleep 0.1
  done
  for p in $collector_pid $broker_pid; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM
mosquitto -c "$DIR/mosquitto.conf" >"$DIR/mosquitto.log" 2>&1 & broker_pid=$!
wait_listening "$MQTT_PORT"
prlimit --nofile=150:150 "$BIN" run --config "$DIR/collector.yaml" --port-file "$DIR/http.port" 2>"$DIR/collector.log" & collector_pid=$!
HTTP_PORT=$(collector_port "$DIR/http.port" "$collector_pid") || { echo "hostile: the collector did not start; see $DIR/collector.log"; exit 1; }

rc=0
python3 - "$HTTP_PORT" "$MQTT_PORT" "$collector_pid" "$ADMIN" "$VIEWER" "$DIR" <<'PY' || rc=$?
import json, os, signal, socket, subprocess, sys, time, urllib.request
http, mqtt, pid, admin, viewer, d = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
failed = []

def check(name, ok, detail=""):
    print(f"hostile: {'ok  ' if ok else 'FAIL'} {name}" + (f" ({detail})" if detail and not ok else ""))
    if not ok: failed.append(name)

def get(path, token=admin, method="GET"):
    req = urllib.request.Request(f"http://127.0.0.1:{http}{path}", method=method)
    if token: req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r: return r.status, r.read(), r.headers
    except urllib.error.HTTPError as e: return e.code, e.read(), e.headers

def wait(pred, seconds=15):
    end = time.time() + seconds
    while time.time() < end:
        try:
            if pred(): return True
        except Exception: pass
        time.sleep(0.2)
    return False

def metric(name):
    _, body, _ = get("/metrics")
    for line in body.decode().splitlines():
        if line.startswith(name + " "): return float(line.split()[-1])
    return 0.0

def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

def publish(topic, payload):
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", mqtt, "-q", "1", "-t", topic, "-m", payload], check=True, timeout=10)

def quarantined(reason):
    _, body, _ = get("/api/v1/quarantine?limit=1000")
    return [m for m in json.loads(body)["messages"] if m["reason"] == reason]

# 1. A body trickled a byte at a time is cut off.
s = socket.create_connection(("127.0.0.1", http))
s.sendall(b"POST /api/v1/alerts/1/ack HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + admin.encode() + b"\r\nContent-Length: 10000\r\n\r\n")
start, cut = time.time(), None
s.settimeout(0.3)
while time.time() - start < 8:
    try:
        s.sendall(b"x")
        if s.recv(1024) == b"": cut = time.time() - start; break
    except socket.timeout: pass
    except OSError: cut = time.time() - start; break
s.close()
check("a trickled request body is cut off", cut is not None and cut < 5, f"cut after {cut}")

# 2. Every descriptor asked for: refused beyond the cap, no spinning, answering again after.
socks = []
for _ in range(200):
    try: socks.append(socket.create_connection(("127.0.0.1", http), timeout=2))
    except OSError: break
time.sleep(0.5)
c0 = cpu(); time.sleep(2); used = cpu() - c0
for x in socks: x.close()
check("out of descriptors, the event loop does not spin", used < 0.5, f"{used:.2f} CPU s in 2 s")
check("and the daemon answers again", wait(lambda: get("/healthz", token=None)[0] == 200))
check("refused connections are counted", metric("collector_http_connections_refused_total") > 0)

# 3. A revoked token stops working at the SIGHUP.
check("the viewer token works", get("/api/v1/series", token=viewer)[0] == 200)
open(f"{d}/tokens.yaml", "w").write(f'tokens:\n  - {{name: admin, role: admin, token: "{admin}"}}\n')
os.kill(pid, signal.SIGHUP)
check("a revoked token gets 401 after SIGHUP", wait(lambda: get("/api/v1/series", token=viewer)[0] == 401))

# 4. Methods: HEAD is served, other methods get 405 with Allow.
status, body, headers = get("/healthz", token=None, method="HEAD")
check("HEAD /healthz is 200 with no body", status == 200 and body == b"")
status, _, headers = get("/healthz", token=None, method="DELETE")
check("DELETE /healthz is 405 with Allow", status == 405 and headers.get("Allow") == "GET, HEAD")

# 5. Input that must not be stored as given.
publish("flat/dup", '{"sensor": "h-dup", "temp_c": 1, "temp_c": 99}')
publish("telemetry/=cmd|calc/forest/h-lab", '{"temp_c": 1}')
publish("telemetry/d,istrict/forest/h-lab2", '{"temp_c": 1}')
publish("flat/bom", '\ufeff{"sensor": "h-bom", "temp_c": 3}')
check("a JSON key twice is quarantined", wait(lambda: len(quarantined("bad_json")) >= 1))
check("topic labels that are not names are quarantined", wait(lambda: len(quarantined("bad_label")) >= 2))
check("a byte-order mark is skipped", wait(lambda: get("/api/v1/raw?series=h-bom/temp_c&from=0&to=99999999999")[0] == 200))
check("from=0x10 is a 400", get("/api/v1/raw?series=h-bom/temp_c&from=0x10&to=99999999999")[0] == 400)

# 6. One publisher cannot create series without bound (200 a minute here).
publish("flat/flood", json.dumps([{"sensor": f"h-fl-{i}", "temp_c": 1} for i in range(150)]))
publish("flat/flood", json.dumps([{"sensor": f"h-fl2-{i}", "temp_c": 1} for i in range(150)]))
check("new series beyond the rate are quarantined", wait(lambda: len(quarantined("series_rate")) >= 1))

# 7. The series list comes in pages.
status, body, headers = get("/api/v1/series?limit=50")
check("the series list is paged", status == 200 and len(json.loads(body)) == 50 and 'rel="next"' in (headers.get("Link") or ""))

# 8. The open /readyz shows no internals; the daemon is still healthy.
status, body, _ = get("/readyz", token=None)
check("/readyz answers without SQL text", status == 200 and b"INSERT" not in body and b"SELECT" not in body)
check("the daemon is still running", os.path.exists(f"/proc/{pid}"))
sys.exit(1 if failed else 0)
PY
if [ "$rc" = 0 ]; then echo "hostile: OK: every probe held"; else echo "hostile: FAILED (logs in $DIR/)"; fi
exit "$rc"
