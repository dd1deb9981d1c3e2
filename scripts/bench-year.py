#!/usr/bin/env python3
"""A year of one 10 s series, queried against VictoriaMetrics in one run on loopback (part of
`make bench`).

The same 3,153,600 readings (one sensor's `temp_c`, two decimals, a daily swing and a slow
drift, every 10 s for 365 days ending yesterday) go to both: `collector import` (line
protocol) and VictoriaMetrics' Influx `/write`. Then each answers, REPEAT times:
  - the whole year drawn in about 1,000 points, every reading read:
      collector  /api/v1/raw?series=&points=1000 (LTTB)
      VM         query_range of max_over_time(...[step]) with step = year / 1,000
  - the year's 365 daily buckets:
      collector  /api/v1/rollups?series=&step=1d
      VM         query_range of avg_over_time(...[1d]) with step 1d
The daily averages are checked to agree before any time is reported (the drawn year has
different points by design: LTTB keeps shape-defining readings, VM the bucket maxima; both
read every reading). Prints the median wall time of each (HTTP on loopback, client side), the
collector's own server time, and the ratios (the issue's target: no slower than VM).
Environment: COLLECTOR_BIN (default .build/release/collector), REPEAT (default 20).
"""
import json, math, os, random, shutil, sys, time, urllib.parse

import benchlib
from benchlib import collector_and_vm, get, post_in_bodies, server_ms, stop, timed, wait_http

benchlib.NAME = "bench-year"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.chdir(ROOT)
BIN = os.environ.get("COLLECTOR_BIN", ".build/release/collector")
REPEAT = int(os.environ.get("REPEAT", "20"))
DIR = "data/bench-year"
SENSOR = "yr-0001"


def main():
    shutil.rmtree(DIR, ignore_errors=True)
    os.makedirs(DIR + "/sensors")
    rng = random.Random(5)
    end = (int(time.time()) // 86400) * 86400 - 86400          # yesterday 00:00 UTC
    start = end - 365 * 86400
    with open(DIR + "/sensors/catalogue.yaml", "w") as f:
        f.write(f"districts: [sin-ho]\nsensors:\n  - {{id: {SENSOR}, kind: environment, district: sin-ho, interval: 10s}}\n")
    n = 0
    drift = 20.0
    with open(DIR + "/readings.lp", "w") as f:
        lines = []
        # 3 s past each 10 s mark, so no reading sits on a day's boundary (the two systems
        # close their windows on opposite sides).
        for t in range(start + 3, end, 10):
            drift += (rng.random() - 0.5) * 0.01
            v = round(drift + 6 * math.sin(2 * math.pi * (t % 86400) / 86400), 2)
            lines.append(f"weather,sensor={SENSOR} temp_c={v} {t * 1_000_000_000}\n")
            if len(lines) == 100_000:
                f.write("".join(lines))
                n += len(lines)
                lines = []
        f.write("".join(lines))
        n += len(lines)
    print(f"bench-year: {n:,} readings of one series over 365 days")
    procs = []
    try:
        procs, http, vm = collector_and_vm(BIN, DIR, "bench-year", "timezone: UTC\n")
        t = time.time()
        with open(DIR + "/readings.lp", "rb") as f:
            post_in_bodies(f"http://127.0.0.1:{vm}/write", f.read())
        get(f"http://127.0.0.1:{vm}/internal/force_flush")
        print(f"bench-year: VictoriaMetrics /write took {time.time() - t:.1f} s")
        wait_http(f"http://127.0.0.1:{http}/healthz", "the collector")
        time.sleep(2)

        q = urllib.parse.urlencode
        step = (end - start) // 1000
        drawn = (f"http://127.0.0.1:{http}/api/v1/raw?" + q({"series": f"{SENSOR}/temp_c", "from": start, "to": end, "points": 1000}),
                 f"http://127.0.0.1:{vm}/api/v1/query_range?" + q({
                     "query": f'max_over_time(weather_temp_c{{sensor="{SENSOR}"}}[{step}s])',
                     "start": start + step, "end": end, "step": f"{step}s", "nocache": "1"}))
        daily = (f"http://127.0.0.1:{http}/api/v1/rollups?" + q({"series": f"{SENSOR}/temp_c", "step": "1d", "from": start, "to": end}),
                 f"http://127.0.0.1:{vm}/api/v1/query_range?" + q({
                     "query": f'avg_over_time(weather_temp_c{{sensor="{SENSOR}"}}[1d])',
                     "start": start + 86400, "end": end, "step": "1d", "nocache": "1"}))
        ours = json.loads(get(daily[0], 300))
        theirs = json.loads(get(daily[1], 300))
        mine = {round(p["t"]) + 86400: p["avg"] for p in ours["points"]}
        vmv = {int(v[0]): float(v[1]) for v in theirs["data"]["result"][0]["values"]}
        pairs = [(mine[t], vmv[t]) for t in vmv if t in mine]
        bad = [(a, b) for a, b in pairs if abs(a - b) > 1e-6 * max(1, abs(a))]
        if len(pairs) != 365 or bad:
            sys.exit(f"bench-year: the daily averages differ: {len(pairs)} common of 365, {len(bad)} unequal, e.g. {bad[:3]}")
        print(f"bench-year: daily: both answer the same {len(pairs)} averages")
        drawn_points = len(json.loads(get(drawn[0], 300))["points"])
        rows = []
        for name, (our_url, vm_url), path in (("the year in ~1,000 points", drawn, "/api/v1/raw"),
                                              ("the year's 365 daily buckets", daily, "/api/v1/rollups")):
            s0, c0 = server_ms(http, path)
            our_ms, _ = timed(our_url, REPEAT)
            s1, c1 = server_ms(http, path)
            vm_ms, _ = timed(vm_url, REPEAT)
            rows.append((name, our_ms, (s1 - s0) / (c1 - c0) * 1000 if c1 > c0 else float("nan"), vm_ms))
        print(f"bench-year: {REPEAT} runs each, median wall time over HTTP on loopback (collector drew {drawn_points} points)")
        for name, our_ms, server, vm_ms in rows:
            print(f"  {name}: collector {our_ms:.2f} ms (server {server:.2f} ms), VictoriaMetrics {vm_ms:.2f} ms, "
                  f"ratio collector/VM {our_ms / vm_ms:.2f} (target <= 1)")
    finally:
        stop(procs)


if __name__ == "__main__":
    main()
