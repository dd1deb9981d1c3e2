#!/usr/bin/env python3
"""Backfill benchmark against VictoriaMetrics, in one run on loopback (part of `make bench`).

One line-protocol file of sensor-like readings (the generator is below): SERIES series
(default 1,000) of `temp_c`, every 10 s with 2 % of the times a second off the grid, values
of one or two decimals drifting slowly, READINGS readings in all (default 4,000,000), in time
order (all series at one time, then the next: as a gateway's backlog comes).
  - the collector: `collector import` of the file, timed to its exit (everything durable,
    rollups merged); then the bytes of every file of the store (WAL included);
  - VictoriaMetrics: the file POSTed to its Influx `/write` in 8 MiB bodies, timed until its
    `vm_rows_added_to_storage_total` holds every row; then `/internal/force_flush` and the
    bytes of its data folder after it stopped.
  - the shared PostgreSQL store (when PostgreSQL's programs are installed; POSTGRES=0 skips
    it): `collector import --postgres` of the same file into a server of its own on loopback
    (no replica; fsync and synchronous_commit on, as shipped), timed to its exit; then the
    bytes of its tables with their indexes and TOAST (`pg_total_relation_size`; not the WAL).
Prints readings/s and bytes a reading for each, and the ratios (the issue's targets: at
least 1.5 x VictoriaMetrics' rate, at most 2 B a reading).
Environment: COLLECTOR_BIN (default .build/release/collector), SERIES, READINGS, INTERVAL
(seconds between a series' readings, default 10; e.g. INTERVAL=900 READINGS=2000000 for
15-minute river gauges, which store only their 1h and 1d tiers).
"""
import os, random, shutil, signal, subprocess, sys, tempfile, time

import benchlib
from benchlib import files_bytes, get, post_in_bodies, reserve_port, wait_http

benchlib.NAME = "bench-backfill"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.chdir(ROOT)
BIN = os.environ.get("COLLECTOR_BIN", ".build/release/collector")
SERIES = int(os.environ.get("SERIES", "1000"))
READINGS = int(os.environ.get("READINGS", "4000000"))
INTERVAL = int(os.environ.get("INTERVAL", "10"))
DIR = "data/bench-backfill"


def generate(path):
    """Writes the readings; returns how many."""
    rng = random.Random(11)
    steps = READINGS // SERIES
    end = (int(time.time()) // 86400) * 86400 - 86400          # yesterday 00:00 UTC
    start = end - steps * INTERVAL
    values = [18 + rng.random() * 8 for _ in range(SERIES)]
    decimals = [1 + (k % 2) for k in range(SERIES)]            # half one decimal, half two
    n = 0
    with open(path, "w") as f:
        for k in range(steps):
            t = start + k * INTERVAL
            lines = []
            for s in range(SERIES):
                values[s] += (rng.random() - 0.5) * 0.02           # a slow drift
                off = 1 if rng.random() < 0.02 else 0
                lines.append(f"weather,sensor=bf-{s:04d} temp_c={round(values[s], decimals[s])} {(t + off) * 1_000_000_000}\n")
            f.write("".join(lines))
            n += SERIES
    return n


def vm_rows(vm):
    for line in get(f"http://127.0.0.1:{vm}/metrics").decode().splitlines():
        if line.startswith("vm_rows_added_to_storage_total"):
            return int(float(line.split()[-1]))
    return 0


def postgres_leg(lines):
    """`collector import --postgres` into a PostgreSQL server of its own; (seconds, bytes)."""
    found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
    bindir = found.stdout.strip() if found.returncode == 0 else "/usr/lib/postgresql/15/bin"
    root = tempfile.mkdtemp(prefix="bench-backfill-pg-")
    pgdir = root + "/pg"
    os.makedirs(pgdir)
    as_postgres = []
    if os.getuid() == 0:                      # PostgreSQL will not run as root
        os.chmod(root, 0o711)
        shutil.chown(pgdir, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    port = reserve_port()
    subprocess.run(as_postgres + [bindir + "/initdb", "-D", pgdir + "/data", "-A", "trust", "-U", "collector", "--no-sync"],
                   check=True, stdout=subprocess.DEVNULL, cwd=root)
    with open(pgdir + "/data/postgresql.conf", "a") as f:
        f.write(f"\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{pgdir}'\n")
    subprocess.run(as_postgres + [bindir + "/pg_ctl", "-D", pgdir + "/data", "-l", pgdir + "/log", "-w", "start"],
                   check=True, stdout=subprocess.DEVNULL, cwd=root)
    url = f"postgresql://collector@127.0.0.1:{port}/postgres"
    try:
        t = time.time()
        subprocess.run([BIN, "import", "--config", DIR + "/collector.yaml", "--precision", "ns", "--postgres", url,
                        DIR + "/readings.lp"], check=True, stdout=subprocess.DEVNULL)
        seconds = time.time() - t
        size = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "collector", "-d", "postgres", "-At", "-c",
                               "SELECT sum(pg_total_relation_size(t)) FROM unnest(ARRAY['series', 'sample_blocks', 'rollup_blocks', "
                               "'quarantine', 'partition_fence', 'store_meta']) t"],
                              check=True, capture_output=True, text=True).stdout.strip()
        return seconds, int(size)
    finally:
        subprocess.run(as_postgres + [bindir + "/pg_ctl", "-D", pgdir + "/data", "-m", "fast", "-w", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=root)
        shutil.rmtree(root, ignore_errors=True)


def main():
    shutil.rmtree(DIR, ignore_errors=True)
    os.makedirs(DIR + "/sensors")
    with open(DIR + "/sensors/catalogue.yaml", "w") as f:
        f.write("districts: [sin-ho]\nsensors:\n")
        for s in range(SERIES):
            f.write(f"  - {{id: bf-{s:04d}, kind: environment, district: sin-ho, interval: {INTERVAL}s}}\n")
    t = time.time()
    lines = generate(DIR + "/readings.lp")
    print(f"bench-backfill: {lines:,} readings ({SERIES} series at {INTERVAL} s), generated in {time.time() - t:.1f} s")
    with open(DIR + "/collector.yaml", "w") as f:
        f.write(f"""mqtt: {{url: "mqtt://127.0.0.1:1", client_id: bench-backfill, subscriptions: [{{topic: "bench/#"}}]}}
storage: {{path: {DIR}/store/collector.sqlite, accept_age: 3650d, raw_retention: 3650d}}
sensors: {DIR}/sensors
log_level: warning
""")
    t = time.time()
    subprocess.run([BIN, "import", "--config", DIR + "/collector.yaml", "--precision", "ns", DIR + "/readings.lp"],
                   check=True, stdout=subprocess.DEVNULL)
    ours_s = time.time() - t
    ours_bytes = files_bytes([DIR + "/store"])

    vm = reserve_port()
    vmp = subprocess.Popen(["victoria-metrics", f"-httpListenAddr=127.0.0.1:{vm}", f"-storageDataPath={DIR}/vm",
                            "-retentionPeriod=100y"], stdout=open(DIR + "/vm.log", "w"), stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{vm}/health", "VictoriaMetrics")
        with open(DIR + "/readings.lp", "rb") as f:
            data = f.read()
        t = time.time()
        post_in_bodies(f"http://127.0.0.1:{vm}/write", data)
        deadline = time.time() + 600
        while vm_rows(vm) < lines:
            if time.time() > deadline:
                sys.exit(f"bench-backfill: VictoriaMetrics holds {vm_rows(vm)} rows of {lines} after 600 s")
            time.sleep(0.05)
        vm_s = time.time() - t
        get(f"http://127.0.0.1:{vm}/internal/force_flush")
    finally:
        vmp.send_signal(signal.SIGTERM)
        try:
            vmp.wait(30)
        except subprocess.TimeoutExpired:
            vmp.kill()
    # After a clean stop, as the collector's store is measured: read while VictoriaMetrics
    # ran, its folder sometimes showed 55 KB (its new parts not yet in place).
    vm_bytes = files_bytes([DIR + "/vm"])
    pg = None
    if os.environ.get("POSTGRES", "1") != "0" and shutil.which("pg_config"):
        pg = postgres_leg(lines)
    ours_rate, vm_rate = lines / ours_s, lines / vm_s
    print(f"  collector import:  {ours_rate:,.0f} readings/s ({ours_s:.1f} s), {ours_bytes / lines:.2f} B a reading on disk ({ours_bytes:,} B)")
    print(f"  VictoriaMetrics:   {vm_rate:,.0f} readings/s ({vm_s:.1f} s), {vm_bytes / lines:.2f} B a reading on disk ({vm_bytes:,} B)")
    if pg:
        pg_s, pg_bytes = pg
        print(f"  collector import --postgres: {lines / pg_s:,.0f} readings/s ({pg_s:.1f} s), {pg_bytes / lines:.2f} B a reading "
              f"in its tables ({pg_bytes:,} B); rate {lines / pg_s / vm_rate:.2f} x VictoriaMetrics, {lines / pg_s / ours_rate:.2f} x SQLite")
    print(f"  ratio collector / VictoriaMetrics: rate {ours_rate / vm_rate:.2f} (target >= 1.5), "
          f"bytes {ours_bytes / vm_bytes:.1f} x (target: <= 2 B a reading)")


if __name__ == "__main__":
    main()
