"""What the Python benchmarks share: loopback ports reserved without a race, HTTP GETs that
fail loudly, waiting for a server, timing GETs (a new connection each, or one kept alive), the
collector's own request time. NAME prefixes the messages (set it first)."""
import fcntl, os, random, socket, statistics, sys, time, urllib.error, urllib.parse, urllib.request

NAME = "bench"
_reserved = []   # lock files held until the script exits


def reserve_port():
    """A loopback port for a server the script starts, without a race: from below the
    kernel's ephemeral range (no outgoing connection is given one there), reserved with an
    flock on /tmp/collector-test-ports/PORT.lock, as scripts/lib.sh and the tests do."""
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    high, low = low - 1, max(10000, low - 8000)
    os.makedirs("/tmp/collector-test-ports", exist_ok=True)
    ports = list(range(low, high + 1))
    random.Random().shuffle(ports)   # its own generator: the data's stays seeded
    for p in ports:
        f = open(f"/tmp/collector-test-ports/{p}.lock", "a")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", p)) == 0:   # a server of the machine's own
                f.close()
                continue
        _reserved.append(f)
        return p
    sys.exit(f"{NAME}: no free port in {low}-{high}")


def get(url, timeout=60):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.read()
    except urllib.error.HTTPError as e:
        raise SystemExit(f"{NAME}: GET {url} -> {e.code}: {e.read()[:300]!r}")


def wait_http(url, what, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            get(url, 2)
            return
        except Exception:
            time.sleep(0.1)
    sys.exit(f"{NAME}: {what} did not answer at {url}")


def post_in_bodies(url, data, size=8 << 20):
    """POSTs `data` (line protocol) in bodies of about `size` bytes, cut at line ends."""
    i = 0
    while i < len(data):
        j = min(len(data), i + size)
        if j < len(data):
            j = data.rfind(b"\n", i, j) + 1
        urllib.request.urlopen(urllib.request.Request(url, data=data[i:j]), timeout=120).read()
        i = j


def files_bytes(paths):
    """The bytes of every file under `paths` (files or folders), by their sizes."""
    total = 0
    for p in paths:
        if os.path.isfile(p):
            total += os.path.getsize(p)
        for root, _, names in os.walk(p):
            total += sum(os.path.getsize(os.path.join(root, n)) for n in names)
    return total


def timed(url, n, timeout=300):
    """GETs `url` n times: the median wall time in ms, and the last body."""
    times, body = [], None
    for _ in range(n):
        t = time.perf_counter()
        body = get(url, timeout)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), body


def timed_kept(url, n, timeout=300):
    """timed(), over one kept-alive connection (as a browser, Grafana or an HTTP client
    session asks): the query's own time, without a TCP connection's set-up a request."""
    import http.client
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    path = u.path + ("?" + u.query if u.query else "")
    times, body = [], None
    try:
        for _ in range(n):
            t = time.perf_counter()
            conn.request("GET", path)
            r = conn.getresponse()
            body = r.read()
            if r.status != 200:
                raise SystemExit(f"{NAME}: GET {url} -> {r.status}: {body[:300]!r}")
            times.append((time.perf_counter() - t) * 1000)
    finally:
        conn.close()
    return statistics.median(times), body


def server_ms(http, path):
    """The collector's own handling time so far for `path`: (sum seconds, count)."""
    total = count = 0.0
    for line in get(f"http://127.0.0.1:{http}/metrics").decode().splitlines():
        if line.startswith("collector_http_request_duration_seconds_") and f'path="{path}"' in line:
            if line.startswith("collector_http_request_duration_seconds_sum"):
                total += float(line.split()[-1])
            elif line.startswith("collector_http_request_duration_seconds_count"):
                count += float(line.split()[-1])
    return total, count


def collector_and_vm(binary, folder, client_id, extra_yaml=""):
    """On reserved loopback ports: writes `folder`/collector.yaml (store in `folder`, sensors
    in `folder`/sensors, `extra_yaml` added), imports `folder`/readings.lp with `collector
    import` (timed), and starts a broker, the collector and VictoriaMetrics (data in
    `folder`/vm). Returns (processes to stop, collector HTTP port, VictoriaMetrics port)."""
    import subprocess
    mqtt, http, vm = reserve_port(), reserve_port(), reserve_port()
    with open(folder + "/collector.yaml", "w") as f:
        f.write(f"""mqtt: {{url: "mqtt://127.0.0.1:{mqtt}", client_id: {client_id}, subscriptions: [{{topic: "bench/#"}}]}}
http: {{listen: "127.0.0.1:{http}"}}
storage: {{path: {folder}/collector.sqlite, accept_age: 3650d}}
sensors: {folder}/sensors
log_level: warning
{extra_yaml}""")
    t = time.time()
    subprocess.run([binary, "import", "--config", folder + "/collector.yaml", "--precision", "ns", folder + "/readings.lp"],
                   check=True, stdout=subprocess.DEVNULL)
    print(f"{NAME}: collector import took {time.time() - t:.1f} s")
    procs = [subprocess.Popen(["mosquitto", "-p", str(mqtt)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
             subprocess.Popen([binary, "run", "--config", folder + "/collector.yaml"], stderr=open(folder + "/collector.log", "w")),
             subprocess.Popen(["victoria-metrics", f"-httpListenAddr=127.0.0.1:{vm}", f"-storageDataPath={folder}/vm",
                               "-retentionPeriod=100y", "-search.latencyOffset=0s", "-search.maxPointsPerTimeseries=100000"],
                              stdout=open(folder + "/vm.log", "w"), stderr=subprocess.STDOUT)]
    try:
        wait_http(f"http://127.0.0.1:{vm}/health", "VictoriaMetrics")
    except BaseException:
        stop(procs)
        raise
    return procs, http, vm


def stop(procs):
    """SIGTERM to each, then waits (a kill after 20 s)."""
    import signal, subprocess
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
