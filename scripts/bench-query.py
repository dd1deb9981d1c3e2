#!/usr/bin/env python3
"""Query benchmark against VictoriaMetrics, in one run on loopback (part of `make bench`).

The same readings go to both:
  - 1,000 sensors in 8 districts, `temp_c` every 5 minutes for 24 hours (288,000 readings);
  - one of them also every minute for the 30 days before (43,200 more).
The collector gets them with `collector import` (line protocol), VictoriaMetrics over its
Influx `/write`. Then each answers, REPEAT times:
  - one series, 30 days at 1h   (collector: /api/v1/rollups?series=&step=1h, every value
                                 of a bucket, and again with fields=avg, the mean alone as
                                 VM answers; VM: avg_over_time(...[1h]) for that series);
  - the average by district over the 1,000 series, 24 h at 15m
                                 (collector: /api/v1/rollups?metric=&group_by=district&agg=avg;
                                  VM: sum by district of sum_over_time / of count_over_time).
VictoriaMetrics is asked with nocache=1 (the collector has no result cache either). The
answers are checked to agree before any time is reported. Prints the median wall time of each
(HTTP on loopback, client side) on a new connection a request and on one kept-alive connection,
the collector's own server time (from its collector_http_request_duration_seconds), and the
ratios; first the cost of a new connection itself: an empty answer from each (the
collector's /healthz, VictoriaMetrics' /health), new and kept.
Environment: COLLECTOR_BIN (default .build/release/collector), REPEAT (default 30).
"""
import json, os, random, shutil, sys, time, urllib.parse

import benchlib
from benchlib import collector_and_vm, get, post_in_bodies, server_ms, stop, timed, timed_kept, wait_http

benchlib.NAME = "bench-query"

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.chdir(ROOT)
BIN = os.environ.get("COLLECTOR_BIN", ".build/release/collector")
REPEAT = int(os.environ.get("REPEAT", "30"))
DIR = "data/bench-query"
DISTRICTS = ["lai-chau-city", "tam-duong", "phong-tho", "sin-ho", "muong-te", "nam-nhun", "tan-uyen", "than-uyen"]
SENSORS = [(f"qb-{i:04d}", DISTRICTS[i % 8]) for i in range(1000)]
LONG = SENSORS[0][0]


def main():
    shutil.rmtree(DIR, ignore_errors=True)
    os.makedirs(DIR + "/sensors")
    random.seed(7)
    end = (int(time.time()) // 86400) * 86400 - 86400       # yesterday 00:00 UTC: a whole past day
    day0, month0 = end - 86400, end - 31 * 86400
    with open(DIR + "/sensors/catalogue.yaml", "w") as f:
        f.write(f"districts: [{', '.join(DISTRICTS)}]\nsensors:\n")
        for sid, d in SENSORS:
            f.write(f"  - {{id: {sid}, kind: environment, district: {d}, interval: 5m}}\n")
    # 17 s past each 5 min / 1 min mark, so no reading sits on a bucket boundary (the two
    # systems close their windows on opposite sides).
    lines = 0
    with open(DIR + "/readings.lp", "w") as f:
        for sid, d in SENSORS:
            base = 18 + random.random() * 8
            for t in range(day0 + 17, end, 300):
                v = round(base + 6 * ((t % 86400) / 86400) + random.random(), 2)
                f.write(f"weather,sensor={sid},district={d} temp_c={v} {t * 10**9}\n")
                lines += 1
        for t in range(month0 + 17, day0, 60):
            v = round(20 + 5 * ((t % 86400) / 86400) + random.random(), 2)
            f.write(f"weather,sensor={LONG},district={SENSORS[0][1]} temp_c={v} {t * 10**9}\n")
            lines += 1
    print(f"bench-query: {lines} readings ({len(SENSORS)} series over 24 h, one over 30 days)")

    procs = []
    try:
        procs, http, vm = collector_and_vm(BIN, DIR, "bench-query")
        t = time.time()
        with open(DIR + "/readings.lp", "rb") as f:
            post_in_bodies(f"http://127.0.0.1:{vm}/write", f.read())
        get(f"http://127.0.0.1:{vm}/internal/force_flush")
        print(f"bench-query: VictoriaMetrics /write took {time.time() - t:.1f} s")
        wait_http(f"http://127.0.0.1:{http}/healthz", "the collector")

        q = urllib.parse.urlencode
        cases = []
        # One series, 30 days at 1h.
        cases.append(("one series, 30 d at 1h",
                      f"http://127.0.0.1:{http}/api/v1/rollups?" + q({"series": f"{LONG}/temp_c", "step": "1h", "from": month0, "to": day0}),
                      f"http://127.0.0.1:{vm}/api/v1/query_range?" + q({
                          "query": f'avg_over_time(weather_temp_c{{sensor="{LONG}"}}[1h])',
                          "start": month0 + 3600, "end": day0, "step": "1h", "nocache": "1"}),
                      "single"))
        # The same with the mean alone: the answer VictoriaMetrics gives (one value a bucket).
        cases.append(("one series, 30 d at 1h, fields=avg",
                      cases[-1][1] + "&fields=avg", cases[-1][2], "single"))
        # Average by district over 1,000 series, 24 h at 15m.
        cases.append(("1,000 series by district, 24 h at 15m",
                      f"http://127.0.0.1:{http}/api/v1/rollups?" + q({"metric": "temp_c", "group_by": "district", "agg": "avg",
                                                                     "step": "15m", "from": day0, "to": end}),
                      f"http://127.0.0.1:{vm}/api/v1/query_range?" + q({
                          "query": "sum by (district) (sum_over_time(weather_temp_c[15m])) / sum by (district) (count_over_time(weather_temp_c[15m]))",
                          "start": day0 + 900, "end": end, "step": "15m", "nocache": "1"}),
                      "grouped"))
        empty = [(timed(u, 10 * REPEAT)[0], timed_kept(u, 10 * REPEAT)[0])
                 for u in (f"http://127.0.0.1:{http}/healthz", f"http://127.0.0.1:{vm}/health")]
        rows = []
        for name, ours, theirs, kind in cases:
            check(kind, json.loads(get(ours)), json.loads(get(theirs)))
            s0, c0 = server_ms(http, "/api/v1/rollups")
            our_ms, _ = timed(ours, REPEAT)
            our_kept, _ = timed_kept(ours, REPEAT)
            s1, c1 = server_ms(http, "/api/v1/rollups")
            vm_ms, _ = timed(theirs, REPEAT)
            vm_kept, _ = timed_kept(theirs, REPEAT)
            server = (s1 - s0) / (c1 - c0) * 1000 if c1 > c0 else float("nan")
            rows.append((name, our_ms, our_kept, server, vm_ms, vm_kept))
        print(f"bench-query: an empty answer ({10 * REPEAT} runs), new connection / kept: "
              f"collector {empty[0][0]:.2f} / {empty[0][1]:.2f} ms, VictoriaMetrics {empty[1][0]:.2f} / {empty[1][1]:.2f} ms")
        print(f"bench-query: {REPEAT} runs each, median wall time over HTTP on loopback, new connection / kept")
        for name, our_ms, our_kept, server, vm_ms, vm_kept in rows:
            print(f"  {name}: collector {our_ms:.2f} / {our_kept:.2f} ms (server {server:.2f} ms), "
                  f"VictoriaMetrics {vm_ms:.2f} / {vm_kept:.2f} ms, ratio VM/collector {vm_ms / our_ms:.2f} / {vm_kept / our_kept:.2f}")
    finally:
        stop(procs)


def check(kind, ours, theirs):
    """Both answers hold the same numbers: VM's point at T is our bucket starting at T - step."""
    step = 3600 if kind == "single" else 900
    if kind == "single":
        mine = {round(p["t"]) + step: p["avg"] for p in ours["points"]}
        vm = {int(v[0]): float(v[1]) for v in theirs["data"]["result"][0]["values"]}
        pairs = [(mine[t], vm[t]) for t in vm if t in mine]
        expected = 30 * 24
    else:
        pairs = []
        for g in ours["groups"]:
            mine = {round(p["t"]) + step: p["value"] for p in g["points"]}
            series = next(r for r in theirs["data"]["result"] if r["metric"].get("district") == g["key"])
            pairs += [(mine[int(v[0])], float(v[1])) for v in series["values"] if int(v[0]) in mine]
        expected = 8 * 96
    bad = [(a, b) for a, b in pairs if abs(a - b) > 1e-6 * max(1, abs(a))]
    if len(pairs) != expected or bad:
        sys.exit(f"bench-query: the answers differ ({kind}): {len(pairs)} common points of {expected}, {len(bad)} unequal, e.g. {bad[:3]}")
    print(f"bench-query: {kind}: both answer the same {len(pairs)} values")


if __name__ == "__main__":
    main()
