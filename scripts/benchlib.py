"""What the Python benchmarks share: loopback ports reserved without a race, HTTP GETs that
fail loudly, waiting for a server. NAME prefixes the messages (set it first)."""
import fcntl, os, random, socket, sys, time, urllib.error, urllib.request

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
