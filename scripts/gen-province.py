#!/usr/bin/env python3
"""Writes sensors/catalogue.yaml: an ILLUSTRATIVE Lai Chau province of about 2,000 sensors.

Deterministic (fixed seed): run it again and the file is the same. The ids follow the
province's 8 district-level units (docs/domain.md); zones, areas, positions, communes and sensors
are made up for testing and demonstration, not survey data.

    python3 scripts/gen-province.py > sensors/catalogue.yaml
"""
import random

rng = random.Random(2026)
DISTRICTS = [  # id, short code, centre (lat, lon), forest compartments, transformers, river stations
    ("lai-chau-city", "lc", (22.396, 103.458), 8, 30, 6),
    ("tam-duong", "td", (22.414, 103.495), 22, 14, 8),
    ("phong-tho", "pt", (22.532, 103.342), 26, 12, 10),
    ("sin-ho", "sh", (22.360, 103.240), 30, 10, 10),
    ("muong-te", "mt", (22.375, 102.830), 40, 10, 14),
    ("nam-nhun", "nn", (22.180, 103.040), 28, 8, 10),
    ("tan-uyen", "tu", (22.170, 103.740), 22, 12, 8),
    ("than-uyen", "thu", (21.960, 103.890), 24, 14, 8),
]
# The units' names as people write them (the ids above are their ASCII forms).
NAMES = {"lai-chau-city": "Thành phố Lai Châu", "tam-duong": "Tam Đường", "phong-tho": "Phong Thổ", "sin-ho": "Sìn Hồ",
         "muong-te": "Mường Tè", "nam-nhun": "Nậm Nhùn", "tan-uyen": "Tân Uyên", "than-uyen": "Than Uyên"}
# Station names are made up like the rest: kind, unit (without "Thành phố"), number.
def short(did):
    return NAMES[did].replace("Thành phố ", "TP ")
COMMUNES_PER_DISTRICT = 8

# Flash-flood and landslide susceptibility (Decision 18/2021, Article 46), illustrative too:
# taken in turn from these lists (not from the generator, so the other numbers stay as they were).
ZONE_SUSCEPTIBILITY = ["medium", "high", "low", "medium", "very_high", "high", "medium", "low"]
GAUGE_SUSCEPTIBILITY = ["high", "medium", "very_high", "low", "medium", "high"]

def pos(centre, spread=0.15):
    return round(centre[0] + rng.uniform(-spread, spread), 4), round(centre[1] + rng.uniform(-spread, spread), 4)

out = []
w = out.append
w("# Sensor catalogue of an ILLUSTRATIVE Lai Chau province (README, \"Sensor catalogue\").")
w("# ILLUSTRATIVE NUMBERS: the 8 district-level ids are Lai Chau's; every zone, area, commune,")
w("# position and sensor below is made up (scripts/gen-province.py, fixed seed), not survey data.")
w("#")
w("# About 2,000 sensors: forest fire-weather stations, river and rain gauges, air-quality")
w("# stations, smart meters (per transformer: its own meter and its customers' meters; kwh is")
w("# the energy of each 15 min interval) and traffic counters at Lai Chau city's junctions.")
w("# `collector check` validates it; `collector simulate` plays it.")
w("districts:")
for d in DISTRICTS:
    w(f"  - {{id: {d[0]}, name: {NAMES[d[0]]}}}")
w("zones:")
zones_by_district = {}
for did, code, centre, n_forest, _, _ in DISTRICTS:
    communes = [f"{code}-x{c:02d}" for c in range(1, COMMUNES_PER_DISTRICT + 1)]
    zs = []
    for k in range(1, n_forest + 1):
        zid = f"lc-{code}-tk{k:03d}"
        area = round(rng.uniform(300, 1800), 1)
        susc = ZONE_SUSCEPTIBILITY[(k - 1) % len(ZONE_SUSCEPTIBILITY)]
        w(f"  - {{id: {zid}, name: Tiểu khu {k:03d} {short(did)}, kind: forest, district: {did}, commune: {rng.choice(communes)}, area_ha: {area}, susceptibility: {susc}}}")
        zs.append(zid)
    zones_by_district[did] = (zs, communes)
    for c in communes:
        w(f"  - {{id: env-{c}, kind: environment, district: {did}, commune: {c}, area_ha: {round(rng.uniform(2000, 9000))}}}")

w("sensors:")
count = {"forest": 0, "hydro": 0, "environment": 0, "meter": 0, "traffic": 0}
for did, code, centre, n_forest, n_tr, n_hydro in DISTRICTS:
    zs, communes = zones_by_district[did]
    # Forest: one station in about 85 % of compartments, two in some of the large ones.
    n = 0
    for z in zs:
        if rng.random() < 0.15:
            continue
        for _ in range(2 if rng.random() < 0.2 else 1):
            n += 1
            lat, lon = pos(centre)
            w(f"  - {{id: ft-{code}-{n:04d}, name: Trạm rừng {short(did)} {n}, kind: forest, district: {did}, zone: {z}, interval: 10m, location: {{lat: {lat}, lon: {lon}}},")
            w("     metrics: {temp_c: {unit: Cel}, rh_pct: {unit: \"%RH\"}, rain_mm: {unit: mm}, wind_ms: {unit: m/s}}}")
            count["forest"] += 1
    # River and rain stations, with alarm levels I, II, III.
    for k in range(1, n_hydro + 1):
        lat, lon = pos(centre)
        base = round(rng.uniform(1.5, 3.5), 1)
        lv = [round(base + 1.0, 1), round(base + 1.8, 1), round(base + 2.5, 1)]
        susc = GAUGE_SUSCEPTIBILITY[(k - 1) % len(GAUGE_SUSCEPTIBILITY)]
        w(f"  - {{id: hy-{code}-{k:04d}, name: Trạm thủy văn {short(did)} {k}, kind: hydro, district: {did}, interval: 5m, susceptibility: {susc}, location: {{lat: {lat}, lon: {lon}}},")
        w(f"     alarm_levels_m: [{lv[0]}, {lv[1]}, {lv[2]}], metrics: {{level_m: {{unit: m}}, rain_mm: {{unit: mm}}}}}}")
        count["hydro"] += 1
    # Air quality: in about half of the communes.
    for c in communes:
        if rng.random() < 0.5:
            continue
        lat, lon = pos(centre)
        w(f"  - {{id: aq-{c}, name: Trạm không khí {short(did)} {c[-2:]}, kind: environment, district: {did}, zone: env-{c}, interval: 10m, location: {{lat: {lat}, lon: {lon}}},")
        w("     metrics: {pm25_ugm3: {unit: ug/m3}, pm10_ugm3: {unit: ug/m3}}}")
        count["environment"] += 1
    # Smart meters: per transformer its own meter and 15 customers.
    for t in range(1, n_tr + 1):
        tr = f"{code}-tr{t:03d}"
        w(f"  - {{id: mt-{tr}, kind: meter, role: feeder, district: {did}, zone: {tr}, interval: 15m, metrics: {{kwh: {{unit: kWh}}, voltage_v: {{unit: V}}}}}}")
        for c in range(1, 16):
            w(f"  - {{id: mt-{tr}-c{c:02d}, kind: meter, role: customer, district: {did}, zone: {tr}, interval: 15m, metrics: {{kwh: {{unit: kWh}}, voltage_v: {{unit: V}}}}}}")
        count["meter"] += 16
# Traffic: counters at 20 junctions of Lai Chau city, two approaches each.
for j in range(1, 21):
    for a in range(1, 3):
        lat, lon = pos((22.396, 103.458), 0.03)
        ff = rng.choice([35, 40, 45, 50])
        w(f"  - {{id: tf-lc-j{j:02d}{'ab'[a - 1]}, name: Nút giao {j} hướng {'AB'[a - 1]}, kind: traffic, district: lai-chau-city, zone: lc-j{j:02d}, interval: 1m, free_flow_kmh: {ff},")
        w(f"     location: {{lat: {lat}, lon: {lon}}}, metrics: {{flow_veh: {{unit: \"1\"}}, speed_kmh: {{unit: km/h}}, occupancy: {{unit: \"1\"}}}}}}")
        count["traffic"] += 1
# Clean water: four district metered areas (DMA) of Lai Chau city, each with its inflow meter,
# 12 customer meters (blocks of about a hundred households) and two pressure loggers.
count["water"] = 0
for d in range(1, 5):
    dma = f"lc-dma{d:02d}"
    lat, lon = pos((22.396, 103.458), 0.03)
    w(f"  - {{id: wi-{dma}, name: Đồng hồ tổng vùng {d:02d}, kind: water, role: inflow, district: lai-chau-city, zone: {dma}, interval: 15m,")
    w(f"     location: {{lat: {lat}, lon: {lon}}}, metrics: {{volume_m3: {{unit: m3}}}}}}")
    for c in range(1, 13):
        w(f"  - {{id: wc-{dma}-c{c:02d}, kind: water, role: customer, district: lai-chau-city, zone: {dma}, interval: 15m, metrics: {{volume_m3: {{unit: m3}}}}}}")
    for p in range(1, 3):
        lat, lon = pos((22.396, 103.458), 0.03)
        w(f"  - {{id: wp-{dma}-p{p}, name: Điểm áp lực vùng {d:02d}-{p}, kind: water, role: pressure, district: lai-chau-city, zone: {dma}, interval: 5m,")
        w(f"     location: {{lat: {lat}, lon: {lon}}}, metrics: {{pressure_bar: {{unit: bar}}}}}}")
    count["water"] += 15
w("# " + ", ".join(f"{k}: {v}" for k, v in count.items()) + f"; total {sum(count.values())}")
print("\n".join(out))
