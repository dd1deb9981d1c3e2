#!/usr/bin/env python3
"""Writes an ILLUSTRATIVE sensor catalogue for one province: Lai Chau or Lam Dong.

    python3 scripts/gen-province.py lai-chau > sensors/lai-chau/catalogue.yaml
    python3 scripts/gen-province.py lam-dong > sensors/lam-dong/catalogue.yaml

Deterministic (fixed seed): run it again and the file is the same. The units (communes,
wards, special zones) are the province's since 1 July 2025, with the resolution that set
them (docs/domain.md, "Administrative units"); each unit is grouped under the former
district its seat lay in, so older data stays answerable. Zones, areas, positions and
sensors are made up for testing and demonstration, not survey data.
"""
import random
import sys

# ---------------------------------------------------------------------------------------
# The provinces. A former district: id, name, short name (for station names), centre
# (lat, lon), forest compartments, transformers, river stations, and its units as
# (id, name, type).

LAI_CHAU = {
    "id": "lai-chau", "name": "Lai Châu", "seed": 2026, "code": "lc",
    "source": "Nghị quyết 1670/NQ-UBTVQH15 ngày 16/6/2025: 38 đơn vị hành chính cấp xã (36 xã, 2 phường)",
    "region_note": "Decision 18/2021 region 1 (the collector's province.region setting)",
    "declares_all": True,
    "former_provinces": None,
    "districts": [
        ("lai-chau-city", "Thành phố Lai Châu", "TP Lai Châu", (22.396, 103.458), 8, 30, 6,
         [("phuong-tan-phong", "Phường Tân Phong", "ward"), ("phuong-doan-ket", "Phường Đoàn Kết", "ward")]),
        ("tam-duong", "Tam Đường", "Tam Đường", (22.414, 103.495), 22, 14, 8,
         [("xa-ban-bo", "Xã Bản Bo", "commune"), ("xa-binh-lu", "Xã Bình Lư", "commune"),
          ("xa-ta-leng", "Xã Tả Lèng", "commune"), ("xa-khun-ha", "Xã Khun Há", "commune")]),
        ("phong-tho", "Phong Thổ", "Phong Thổ", (22.532, 103.342), 26, 12, 10,
         [("xa-sin-suoi-ho", "Xã Sin Suối Hồ", "commune"), ("xa-phong-tho", "Xã Phong Thổ", "commune"),
          ("xa-dao-san", "Xã Dào San", "commune"), ("xa-si-lo-lau", "Xã Sì Lở Lầu", "commune"),
          ("xa-khong-lao", "Xã Khổng Lào", "commune")]),
        ("sin-ho", "Sìn Hồ", "Sìn Hồ", (22.360, 103.240), 30, 10, 10,
         [("xa-tua-sin-chai", "Xã Tủa Sín Chải", "commune"), ("xa-sin-ho", "Xã Sìn Hồ", "commune"),
          ("xa-hong-thu", "Xã Hồng Thu", "commune"), ("xa-nam-tam", "Xã Nậm Tăm", "commune"),
          ("xa-pu-sam-cap", "Xã Pu Sam Cáp", "commune"), ("xa-nam-cuoi", "Xã Nậm Cuổi", "commune"),
          ("xa-nam-ma", "Xã Nậm Mạ", "commune"), ("xa-pa-tan", "Xã Pa Tần", "commune")]),
        ("muong-te", "Mường Tè", "Mường Tè", (22.375, 102.830), 40, 10, 14,
         [("xa-bum-nua", "Xã Bum Nưa", "commune"), ("xa-bum-to", "Xã Bum Tở", "commune"),
          ("xa-muong-te", "Xã Mường Tè", "commune"), ("xa-thu-lum", "Xã Thu Lũm", "commune"),
          ("xa-pa-u", "Xã Pa Ủ", "commune"), ("xa-mu-ca", "Xã Mù Cả", "commune"), ("xa-ta-tong", "Xã Tà Tổng", "commune")]),
        ("nam-nhun", "Nậm Nhùn", "Nậm Nhùn", (22.180, 103.040), 28, 8, 10,
         [("xa-le-loi", "Xã Lê Lợi", "commune"), ("xa-nam-hang", "Xã Nậm Hàng", "commune"),
          ("xa-muong-mo", "Xã Mường Mô", "commune"), ("xa-hua-bum", "Xã Hua Bum", "commune")]),
        ("tan-uyen", "Tân Uyên", "Tân Uyên", (22.170, 103.740), 22, 12, 8,
         [("xa-pac-ta", "Xã Pắc Ta", "commune"), ("xa-nam-so", "Xã Nậm Sỏ", "commune"),
          ("xa-tan-uyen", "Xã Tân Uyên", "commune"), ("xa-muong-khoa", "Xã Mường Khoa", "commune")]),
        ("than-uyen", "Than Uyên", "Than Uyên", (21.960, 103.890), 24, 14, 8,
         [("xa-muong-kim", "Xã Mường Kim", "commune"), ("xa-khoen-on", "Xã Khoen On", "commune"),
          ("xa-than-uyen", "Xã Than Uyên", "commune"), ("xa-muong-than", "Xã Mường Than", "commune")]),
    ],
    # Traffic junctions and water DMAs: in the city's wards.
    "city": ("lai-chau-city", (22.396, 103.458), 20),
    "water": [("lc-dma01", "phuong-tan-phong"), ("lc-dma02", "phuong-doan-ket"),
              ("lc-dma03", "phuong-tan-phong"), ("lc-dma04", "phuong-doan-ket")],
    "water_utility": None,
    "air_share": 0.5,
    # Forest stations that report through a LoRaWAN network server (their device EUIs).
    "lorawan": "tam-duong", "eui_base": 0x100000,
    # Short codes in sensor and zone ids (ft-mt-0001, lc-sh-tk001, mt-lc-tr001).
    "codes": {"lai-chau-city": "lc", "tam-duong": "td", "phong-tho": "pt", "sin-ho": "sh", "muong-te": "mt",
              "nam-nhun": "nn", "tan-uyen": "tu", "than-uyen": "thu"},
}

LAM_DONG = {
    "id": "lam-dong", "name": "Lâm Đồng", "seed": 2027, "code": "ld",
    "source": "Nghị quyết 1671/NQ-UBTVQH15 ngày 16/6/2025: 124 đơn vị hành chính cấp xã (103 xã, 20 phường, 1 đặc khu)",
    "region_note": "Decision 18/2021 region 3 (the collector's province.region setting)",
    "declares_all": False,
    # Since 1 July 2025 Lam Dong includes the former Dak Nong and Binh Thuan.
    "former_provinces": [("lam-dong-cu", "Lâm Đồng (cũ)"), ("dak-nong-cu", "Đắk Nông (cũ)"), ("binh-thuan-cu", "Bình Thuận (cũ)")],
    "districts": [
        ("da-lat", "Thành phố Đà Lạt", "Đà Lạt", (11.940, 108.440), 14, 20, 4,
         [("phuong-xuan-huong-da-lat", "Phường Xuân Hương - Đà Lạt", "ward"), ("phuong-cam-ly-da-lat", "Phường Cam Ly - Đà Lạt", "ward"),
          ("phuong-lam-vien-da-lat", "Phường Lâm Viên - Đà Lạt", "ward"), ("phuong-xuan-truong-da-lat", "Phường Xuân Trường - Đà Lạt", "ward"),
          ("phuong-lang-biang-da-lat", "Phường Lang Biang - Đà Lạt", "ward")], "lam-dong-cu"),
        ("bao-loc", "Thành phố Bảo Lộc", "Bảo Lộc", (11.548, 107.807), 8, 12, 4,
         [("phuong-1-bao-loc", "Phường 1 Bảo Lộc", "ward"), ("phuong-2-bao-loc", "Phường 2 Bảo Lộc", "ward"),
          ("phuong-3-bao-loc", "Phường 3 Bảo Lộc", "ward"), ("phuong-b-lao", "Phường B'Lao", "ward")], "lam-dong-cu"),
        ("lac-duong", "Lạc Dương", "Lạc Dương", (12.050, 108.430), 30, 4, 6,
         [("xa-lac-duong", "Xã Lạc Dương", "commune")], "lam-dong-cu"),
        ("don-duong", "Đơn Dương", "Đơn Dương", (11.750, 108.550), 10, 6, 4,
         [("xa-don-duong", "Xã Đơn Dương", "commune"), ("xa-d-ran", "Xã D'Ran", "commune")], "lam-dong-cu"),
        ("duc-trong", "Đức Trọng", "Đức Trọng", (11.730, 108.370), 12, 8, 4,
         [("xa-duc-trong", "Xã Đức Trọng", "commune"), ("xa-hiep-thanh", "Xã Hiệp Thạnh", "commune"),
          ("xa-ta-nang", "Xã Tà Năng", "commune")], "lam-dong-cu"),
        ("lam-ha", "Lâm Hà", "Lâm Hà", (11.830, 108.200), 16, 6, 4,
         [("xa-lam-ha", "Xã Lâm Hà", "commune"), ("xa-nam-ban-lam-ha", "Xã Nam Ban Lâm Hà", "commune")], "lam-dong-cu"),
        ("dam-rong", "Đam Rông", "Đam Rông", (12.050, 108.100), 24, 2, 6,
         [("xa-dam-rong-1", "Xã Đam Rông 1", "commune"), ("xa-dam-rong-2", "Xã Đam Rông 2", "commune")], "lam-dong-cu"),
        ("di-linh", "Di Linh", "Di Linh", (11.580, 108.070), 20, 6, 4,
         [("xa-di-linh", "Xã Di Linh", "commune"), ("xa-hoa-ninh", "Xã Hòa Ninh", "commune")], "lam-dong-cu"),
        ("bao-lam", "Bảo Lâm", "Bảo Lâm", (11.630, 107.720), 24, 4, 4,
         [("xa-bao-lam-1", "Xã Bảo Lâm 1", "commune"), ("xa-bao-lam-3", "Xã Bảo Lâm 3", "commune")], "lam-dong-cu"),
        ("da-huoai", "Đạ Huoai", "Đạ Huoai", (11.420, 107.630), 18, 2, 6,
         [("xa-da-huoai", "Xã Đạ Huoai", "commune"), ("xa-cat-tien", "Xã Cát Tiên", "commune")], "lam-dong-cu"),
        ("gia-nghia", "Thành phố Gia Nghĩa", "Gia Nghĩa", (12.000, 107.690), 6, 8, 4,
         [("phuong-bac-gia-nghia", "Phường Bắc Gia Nghĩa", "ward"), ("phuong-nam-gia-nghia", "Phường Nam Gia Nghĩa", "ward"),
          ("phuong-dong-gia-nghia", "Phường Đông Gia Nghĩa", "ward")], "dak-nong-cu"),
        ("dak-mil", "Đắk Mil", "Đắk Mil", (12.450, 107.620), 10, 4, 4,
         [("xa-dak-mil", "Xã Đắk Mil", "commune")], "dak-nong-cu"),
        ("dak-song", "Đắk Song", "Đắk Song", (12.250, 107.600), 14, 2, 4,
         [("xa-dak-song", "Xã Đắk Song", "commune")], "dak-nong-cu"),
        ("krong-no", "Krông Nô", "Krông Nô", (12.370, 107.900), 12, 2, 6,
         [("xa-krong-no", "Xã Krông Nô", "commune")], "dak-nong-cu"),
        ("tuy-duc", "Tuy Đức", "Tuy Đức", (12.150, 107.450), 20, 2, 4,
         [("xa-tuy-duc", "Xã Tuy Đức", "commune")], "dak-nong-cu"),
        ("phan-thiet", "Thành phố Phan Thiết", "Phan Thiết", (10.930, 108.100), 4, 14, 4,
         [("phuong-phan-thiet", "Phường Phan Thiết", "ward"), ("phuong-mui-ne", "Phường Mũi Né", "ward"),
          ("phuong-ham-thang", "Phường Hàm Thắng", "ward"), ("phuong-phu-thuy", "Phường Phú Thủy", "ward")], "binh-thuan-cu"),
        ("la-gi", "Thị xã La Gi", "La Gi", (10.660, 107.770), 2, 6, 2,
         [("phuong-la-gi", "Phường La Gi", "ward"), ("phuong-phuoc-hoi", "Phường Phước Hội", "ward")], "binh-thuan-cu"),
        ("tuy-phong", "Tuy Phong", "Tuy Phong", (11.230, 108.700), 6, 4, 4,
         [("xa-tuy-phong", "Xã Tuy Phong", "commune")], "binh-thuan-cu"),
        ("bac-binh", "Bắc Bình", "Bắc Bình", (11.250, 108.380), 8, 4, 4,
         [("xa-bac-binh", "Xã Bắc Bình", "commune")], "binh-thuan-cu"),
        ("tanh-linh", "Tánh Linh", "Tánh Linh", (11.100, 107.680), 12, 2, 6,
         [("xa-tanh-linh", "Xã Tánh Linh", "commune")], "binh-thuan-cu"),
        ("phu-quy", "Phú Quý", "Phú Quý", (10.520, 108.940), 0, 2, 2,
         [("dac-khu-phu-quy", "Đặc khu Phú Quý", "special_zone")], "binh-thuan-cu"),
    ],
    # Traffic: Da Lat's junctions (its smart-traffic plan); water DMAs in Da Lat and Bao Loc.
    "city": ("da-lat", (11.940, 108.440), 20),
    "water": [("ld-dma01", "phuong-xuan-huong-da-lat"), ("ld-dma02", "phuong-cam-ly-da-lat"),
              ("ld-dma03", "phuong-lam-vien-da-lat"), ("ld-dma04", "phuong-1-bao-loc"), ("ld-dma05", "phuong-b-lao")],
    # A water utility's service areas: a grouping of units of its own.
    "water_utility": [("cap-nuoc-da-lat", "Vùng cấp nước Đà Lạt", "da-lat"), ("cap-nuoc-bao-loc", "Vùng cấp nước Bảo Lộc", "bao-loc")],
    "air_share": 0.6,
    "lorawan": "bao-lam", "eui_base": 0x200000,
    "codes": {"da-lat": "dl", "bao-loc": "bl", "lac-duong": "lcd", "don-duong": "dd", "duc-trong": "dt", "lam-ha": "lh",
              "dam-rong": "dr", "di-linh": "dli", "bao-lam": "bla", "da-huoai": "dh", "gia-nghia": "gn", "dak-mil": "dm",
              "dak-song": "ds", "krong-no": "kn", "tuy-duc": "tdu", "phan-thiet": "pth", "la-gi": "lg", "tuy-phong": "tp",
              "bac-binh": "bb", "tanh-linh": "tl", "phu-quy": "pq"},
}

PROVINCES = {"lai-chau": LAI_CHAU, "lam-dong": LAM_DONG}

# Flash-flood and landslide susceptibility (Decision 18/2021, Article 46), illustrative too:
# taken in turn from these lists.
ZONE_SUSCEPTIBILITY = ["medium", "high", "low", "medium", "very_high", "high", "medium", "low"]
GAUGE_SUSCEPTIBILITY = ["high", "medium", "very_high", "low", "medium", "high"]


# Decision 18/2021's regions where they differ from the province's (its config setting): the
# former Binh Thuan lies in region 4, the rest of Lam Dong in region 3.
REGION_OF_FORMER_PROVINCE = {"binh-thuan-cu": 4}


def region_of(d):
    r = REGION_OF_FORMER_PROVINCE.get(d[8]) if len(d) > 8 else None
    return f", region: {r}" if r else ""


def main(key):
    p = PROVINCES[key]
    rng = random.Random(p["seed"])
    code = p["code"]

    def pos(centre, spread=0.15):
        return round(centre[0] + rng.uniform(-spread, spread), 4), round(centre[1] + rng.uniform(-spread, spread), 4)

    out = []
    w = out.append
    w(f"# Sensor catalogue of an ILLUSTRATIVE {p['name']} province (README, \"Sensor catalogue\").")
    w(f"# The units are the province's since 1 July 2025 ({p['source']}),")
    if not p["declares_all"]:
        w("# of which this catalogue declares those it places sensors in;")
    w("# each is grouped under the former district its seat lay in (level `district`), so data")
    w("# labelled before the reorganisation stays answerable. ILLUSTRATIVE NUMBERS: every zone, area,")
    w("# position and sensor below is made up (scripts/gen-province.py, fixed seed), not survey data.")
    w(f"# Flood-risk levels use {p['region_note']}.")
    w("#")
    w("# Forest fire-weather stations, river and rain gauges, air-quality stations, smart meters")
    w("# (per transformer: its own meter and its customers'; kwh is the energy of each 15 min")
    w("# interval), traffic counters at the city's junctions, and clean-water DMAs (inflow and")
    w("# customer meters, pressure loggers). The forest stations of the former district")
    w(f"# {p['lorawan']} report through a LoRaWAN network server: their `dev_eui` maps the device to the station.")
    w("# `collector check` validates it; `collector simulate` plays it.")
    w(f"province: {{id: {p['id']}, name: {p['name']}, units_source: \"{p['source']}\"}}")
    w("levels:")
    w("  - id: district")
    w("    name: Huyện, thị xã, thành phố cũ (trước 1/7/2025)")
    w("    groups:")
    for d in p["districts"]:
        w(f"      - {{id: {d[0]}, name: {d[1]}}}")
    if p["former_provinces"]:
        w("  - id: former_province")
        w("    name: Tỉnh cũ (trước 1/7/2025)")
        w("    groups:")
        for fid, fname in p["former_provinces"]:
            w(f"      - {{id: {fid}, name: {fname}}}")
    utility_of = {}
    if p["water_utility"]:
        w("  - id: water_utility")
        w("    name: Vùng phục vụ cấp nước")
        w("    groups:")
        for uid, uname, did in p["water_utility"]:
            w(f"      - {{id: {uid}, name: {uname}}}")
            utility_of[did] = uid
    w("units:")
    for d in p["districts"]:
        for uid, uname, utype in d[7]:
            extra = f", former_province: {d[8]}" if p["former_provinces"] else ""
            if d[0] in utility_of:
                extra += f", water_utility: {utility_of[d[0]]}"
            w(f"  - {{id: {uid}, name: {uname}, type: {utype}, district: {d[0]}{extra}}}")

    w("zones:")
    zones_of = {}
    for d in p["districts"]:
        did, _, short, centre, n_forest, _, _, units = d[:8]
        unit_ids = [u[0] for u in units]
        zs = []
        for k in range(1, n_forest + 1):
            zid = f"{code}-{p['codes'][did]}-tk{k:03d}"
            area = round(rng.uniform(300, 1800), 1)
            susc = ZONE_SUSCEPTIBILITY[(k - 1) % len(ZONE_SUSCEPTIBILITY)]
            unit = rng.choice(unit_ids)
            w(f"  - {{id: {zid}, name: Tiểu khu {k:03d} {short}, kind: forest, unit: {unit}, area_ha: {area}, susceptibility: {susc}{region_of(d)}}}")
            zs.append((zid, unit))
        zones_of[did] = zs
        for u in unit_ids:
            w(f"  - {{id: env-{u}, kind: environment, unit: {u}, commune: {u}, area_ha: {round(rng.uniform(2000, 9000))}}}")

    w("sensors:")
    count = {"forest": 0, "hydro": 0, "environment": 0, "meter": 0, "traffic": 0, "water": 0}
    for d in p["districts"]:
        did, _, short, centre, _, n_tr, n_hydro, units = d[:8]
        unit_ids = [u[0] for u in units]
        dcode = p["codes"][did]
        # Forest: one station in about 85 % of compartments, two in some of the large ones.
        n = 0
        for zid, unit in zones_of[did]:
            if rng.random() < 0.15:
                continue
            for _ in range(2 if rng.random() < 0.2 else 1):
                n += 1
                lat, lon = pos(centre)
                eui = f", dev_eui: 70B3D57ED0{p['eui_base'] + n:06X}" if did == p["lorawan"] else ""
                w(f"  - {{id: ft-{dcode}-{n:04d}, name: Trạm rừng {short} {n}, kind: forest, unit: {unit}, zone: {zid}, interval: 10m{eui}, location: {{lat: {lat}, lon: {lon}}},")
                w("     metrics: {temp_c: {unit: Cel}, rh_pct: {unit: \"%RH\"}, rain_mm: {unit: mm}, wind_ms: {unit: m/s}}}")
                count["forest"] += 1
        # River and rain stations, with alarm levels I, II, III.
        for k in range(1, n_hydro + 1):
            lat, lon = pos(centre)
            base = round(rng.uniform(1.5, 3.5), 1)
            lv = [round(base + 1.0, 1), round(base + 1.8, 1), round(base + 2.5, 1)]
            susc = GAUGE_SUSCEPTIBILITY[(k - 1) % len(GAUGE_SUSCEPTIBILITY)]
            unit = rng.choice(unit_ids)
            w(f"  - {{id: hy-{dcode}-{k:04d}, name: Trạm thủy văn {short} {k}, kind: hydro, unit: {unit}, interval: 5m, susceptibility: {susc}{region_of(d)}, location: {{lat: {lat}, lon: {lon}}},")
            w(f"     alarm_levels_m: [{lv[0]}, {lv[1]}, {lv[2]}], metrics: {{level_m: {{unit: m}}, rain_mm: {{unit: mm}}}}}}")
            count["hydro"] += 1
        # Air quality: in some of the units.
        for u in unit_ids:
            if rng.random() >= p["air_share"]:
                continue
            lat, lon = pos(centre)
            uname = next(x[1] for x in units if x[0] == u)
            w(f"  - {{id: aq-{u}, name: Trạm không khí {uname}, kind: environment, unit: {u}, zone: env-{u}, interval: 10m, location: {{lat: {lat}, lon: {lon}}},")
            w("     metrics: {pm25_ugm3: {unit: ug/m3}, pm10_ugm3: {unit: ug/m3}}}")
            count["environment"] += 1
        # Smart meters: per transformer its own meter and 15 customers.
        for t in range(1, n_tr + 1):
            tr = f"{dcode}-tr{t:03d}"
            unit = rng.choice(unit_ids)
            w(f"  - {{id: mt-{tr}, kind: meter, role: feeder, unit: {unit}, zone: {tr}, interval: 15m, metrics: {{kwh: {{unit: kWh}}, voltage_v: {{unit: V}}}}}}")
            for c in range(1, 16):
                w(f"  - {{id: mt-{tr}-c{c:02d}, kind: meter, role: customer, unit: {unit}, zone: {tr}, interval: 15m, metrics: {{kwh: {{unit: kWh}}, voltage_v: {{unit: V}}}}}}")
            count["meter"] += 16
    # Traffic: counters at the city's junctions, two approaches each.
    city, centre, n_junctions = p["city"]
    city_units = [u[0] for u in next(d for d in p["districts"] if d[0] == city)[7]]
    for j in range(1, n_junctions + 1):
        unit = city_units[(j - 1) % len(city_units)]
        for a in range(1, 3):
            lat, lon = pos(centre, 0.03)
            ff = rng.choice([35, 40, 45, 50])
            w(f"  - {{id: tf-{code}-j{j:02d}{'ab'[a - 1]}, name: Nút giao {j} hướng {'AB'[a - 1]}, kind: traffic, unit: {unit}, zone: {code}-j{j:02d}, interval: 1m, free_flow_kmh: {ff},")
            w(f"     location: {{lat: {lat}, lon: {lon}}}, metrics: {{flow_veh: {{unit: \"1\"}}, speed_kmh: {{unit: km/h}}, occupancy: {{unit: \"1\"}}}}}}")
            count["traffic"] += 1
    # Clean water: district metered areas (DMA), each with its inflow meter, 12 customer meters
    # (blocks of about a hundred households) and two pressure loggers.
    centre_of = {d[7][k][0]: d[3] for d in p["districts"] for k in range(len(d[7]))}
    for k, (dma, unit) in enumerate(p["water"], start=1):
        c = centre_of[unit]
        lat, lon = pos(c, 0.03)
        w(f"  - {{id: wi-{dma}, name: Đồng hồ tổng vùng {k:02d}, kind: water, role: inflow, unit: {unit}, zone: {dma}, interval: 15m,")
        w(f"     location: {{lat: {lat}, lon: {lon}}}, metrics: {{volume_m3: {{unit: m3}}}}}}")
        for cu in range(1, 13):
            w(f"  - {{id: wc-{dma}-c{cu:02d}, kind: water, role: customer, unit: {unit}, zone: {dma}, interval: 15m, metrics: {{volume_m3: {{unit: m3}}}}}}")
        for pp in range(1, 3):
            lat, lon = pos(c, 0.03)
            w(f"  - {{id: wp-{dma}-p{pp}, name: Điểm áp lực vùng {k:02d}-{pp}, kind: water, role: pressure, unit: {unit}, zone: {dma}, interval: 5m,")
            w(f"     location: {{lat: {lat}, lon: {lon}}}, metrics: {{pressure_bar: {{unit: bar}}}}}}")
        count["water"] += 15
    w("# " + ", ".join(f"{k}: {v}" for k, v in count.items()) + f"; total {sum(count.values())}")
    print("\n".join(out))


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in PROVINCES:
        sys.exit("usage: gen-province.py lai-chau|lam-dong")
    main(sys.argv[1])
