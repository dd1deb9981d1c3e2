import Foundation
import Testing
@testable import Collector
import Telemetry

@Suite struct CatalogueLoaderTests {
    /// The shipped Lai Châu: its 38 units since 1 July 2025 (36 communes, 2 wards) under the
    /// eight former districts, about 2,000 sensors of every kind.
    @Test func shippedLaiChauIsValid() throws {
        let cat = try CatalogueLoader.load(path: packageRoot + "/sensors/lai-chau")
        #expect(cat.province?.id == "lai-chau" && cat.province?.unitsSource?.contains("1670/NQ-UBTVQH15") == true)
        #expect(cat.units.count == 38 && cat.units.count { $0.type == .ward } == 2 && cat.units.count { $0.type == .commune } == 36)
        #expect(cat.levels.map(\.id) == ["district"] && cat.places(at: "district").count == 8)
        #expect(cat.units.allSatisfy { $0.name != nil && $0.groups["district"] != nil })
        #expect(cat.place("xa-pa-u", at: "district") == "muong-te" && cat.name(ofPlace: "xa-pa-u") == "Xã Pa Ủ")
        #expect(cat.name(ofPlace: "muong-te") == "Mường Tè")
        // The illustrative province: about 2,000 sensors of every kind.
        #expect((1900...2300).contains(cat.sensors.count))
        #expect(Set(cat.sensors.map(\.kind)) == Set(SensorKind.allCases))
        #expect(cat.sensor("hy-lc-0001")?.alarmLevelsM?.count == 3)
        // Every transformer has its own meter and customers.
        let byTransformer = Dictionary(grouping: cat.sensors.filter { $0.kind == .meter }, by: { $0.zone ?? "" })
        #expect(byTransformer.values.allSatisfy { ms in ms.filter { $0.role == .feeder }.count == 1 && ms.count > 1 })
        // With every station healthy the forest target of 70 % is met; the dropout scenario can break it.
        let watched = Set(cat.sensors.filter { $0.kind == .forest }.compactMap(\.zone))
        let forest = cat.zones.filter { $0.kind == .forest }
        let pct = forest.filter { watched.contains($0.id) }.reduce(0) { $0 + $1.areaHa } / forest.reduce(0) { $0 + $1.areaHa } * 100
        #expect(pct > 75 && pct < 100)
        // Zones and stations have names with diacritics; ids stay ASCII.
        #expect(cat.sensor("ft-mt-0001")?.name == "Trạm rừng Mường Tè 1")
        #expect(cat.zone("lc-sh-tk001")?.name == "Tiểu khu 001 Sìn Hồ")
        // Water DMAs in Lai Châu city's wards.
        #expect(Set(cat.sensors.filter { $0.kind == .water }.map(\.unit)) == ["phuong-tan-phong", "phuong-doan-ket"])
    }

    /// The shipped Lâm Đồng as the province now is (with the former Đắk Nông and Bình
    /// Thuận): Đà Lạt's and Bảo Lộc's wards, a special zone, forests, rivers, air, meters,
    /// Đà Lạt's junctions and water DMAs in both cities, grouped by former province, former
    /// district and water utility.
    @Test func shippedLamDongIsValid() throws {
        let cat = try CatalogueLoader.load(path: packageRoot + "/sensors/lam-dong")
        #expect(cat.province?.id == "lam-dong" && cat.province?.unitsSource?.contains("1671/NQ-UBTVQH15") == true)
        #expect(cat.levels.map(\.id) == ["district", "former_province", "water_utility"])
        #expect(cat.places(at: "former_province") == ["lam-dong-cu", "dak-nong-cu", "binh-thuan-cu"])
        #expect(cat.units.contains { $0.type == .specialZone } && cat.units.count { $0.type == .ward } >= 10)
        #expect(cat.units.allSatisfy { $0.name != nil && $0.groups["district"] != nil && $0.groups["former_province"] != nil })
        #expect(Set(cat.sensors.map(\.kind)) == Set(SensorKind.allCases))
        let traffic = Set(cat.sensors.filter { $0.kind == .traffic }.map(\.unit))
        #expect(traffic.allSatisfy { cat.place($0, at: "district") == "da-lat" })
        let water = Set(cat.sensors.filter { $0.kind == .water }.compactMap { cat.place($0.unit, at: "water_utility") })
        #expect(water == ["cap-nuoc-da-lat", "cap-nuoc-bao-loc"])
        #expect(cat.name(ofPlace: "phuong-xuan-huong-da-lat") == "Phường Xuân Hương - Đà Lạt")
    }

    /// `collector check` passes both shipped provinces, each with its own rules, and refuses the
    /// folder holding both (one collector serves one province).
    @Test func collectorCheckPassesBothProvinces() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func check(_ sensors: String) throws -> (Int32, String) {
            let config = dir + "/collector.yaml"
            try "sensors: \(sensors)\n".write(toFile: config, atomically: true, encoding: .utf8)
            return try runCapturing(try checkedCollectorBinary(), ["check", "--config", config])
        }
        for province in ["lai-chau", "lam-dong"] {
            let (status, out) = try check(packageRoot + "/sensors/" + province)
            #expect(status == 0 && out.contains("sensors/\(province): ok") && out.contains("rule(s)"), "\(out)")
        }
        let (status, out) = try check(packageRoot + "/sensors")
        #expect(status == 2 && out.contains("a second province") && out.contains("one collector serves one province"), "\(out)")
    }

    /// Units (communes, wards) grouped at declared levels: a unit's group must be one of its
    /// level's, ids are unique across units and groups (old data labelled with a former
    /// district must name one place), sensors and zones name a declared unit, and the older
    /// `districts:` does not mix with `units:`.
    @Test func unitsAndLevels() throws {
        let good = """
            province: {id: lai-chau, name: Lai Châu}
            levels:
              - {id: district, name: Huyện cũ, groups: [{id: sin-ho, name: Sìn Hồ}, muong-te]}
              - {id: forest_board, groups: [bqlr-song-da]}
            units:
              - {id: xa-sin-ho, name: Xã Sìn Hồ, type: commune, district: sin-ho, forest_board: bqlr-song-da}
              - {id: xa-pa-u, name: Xã Pa Ủ, type: commune, district: muong-te}
              - {id: phuong-x, type: ward}
            zones: [{id: z1, kind: forest, unit: xa-pa-u, area_ha: 10}]
            sensors: [{id: ft-1, kind: forest, unit: xa-pa-u, zone: z1, interval: 10m}]
            """
        let cat = try CatalogueLoader.parse([(file: "c.yaml", text: good)])
        #expect(cat.place("xa-sin-ho", at: "forest_board") == "bqlr-song-da" && cat.place("xa-pa-u", at: "forest_board") == nil)
        #expect(cat.place("sin-ho", at: "district") == "sin-ho")   // old data labelled with the district
        #expect(cat.level(named: "district") == "district" && cat.level(named: "unit") == "unit" && cat.level(named: "x") == nil)
        #expect(cat.sensor("ft-1")?.unit == "xa-pa-u" && cat.province?.name == "Lai Châu")
        let bad = """
            levels:
              - {id: district, groups: [sin-ho, xa-sin-ho]}
              - {id: kind, groups: [a]}
            units:
              - {id: xa-sin-ho, type: commune, district: muong-te}
              - {id: xa-b, type: ward, board: b1}
              - {id: xa-c, type: hamlet}
            districts: [old]
            sensors:
              - {id: s1, kind: hydro, unit: atlantis, interval: 5m}
              - {id: s2, kind: hydro, unit: xa-b, district: old, interval: 5m}
            """
        #expect {
            _ = try CatalogueLoader.parse([(file: "c.yaml", text: bad)])
        } throws: { error in
            let got = (error as? ConfigProblems)?.problems.map(\.description) ?? []
            let want = ["c.yaml:3: 'kind' cannot name a level: it already means something in queries",
                        "c.yaml:5: declare the province's units (communes and wards) with `units:`, or districts with the older `districts:`, not both",
                        "c.yaml:5: a unit id 'xa-sin-ho' is already used by a group of level 'district' at c.yaml:2",
                        "c.yaml:5: unit 'xa-sin-ho': 'muong-te' is not a group of level 'district'",
                        "c.yaml:6: unit 'xa-b': unknown key or level 'board' (levels: district)",
                        "c.yaml:7: a unit's type must be commune, ward or special_zone",
                        "c.yaml:10: sensor 's1': unknown district 'atlantis'",
                        "c.yaml:11: sensor 's2' gives both unit and district; give its unit"]
            if got != want { Issue.record("got:\n\(got.joined(separator: "\n"))") }
            return got == want
        }
    }

    /// A LoRaWAN device reports as one station: its EUI is 16 hex digits (kept in lower case),
    /// and no two stations name one device.
    @Test func lorawanDevices() throws {
        let good = try CatalogueLoader.parse([(file: "c.yaml", text: "sensors: [{id: s1, kind: hydro, unit: d, interval: 5m, dev_eui: 70B3D57ED0100001}]")])
        #expect(good.sensor("s1")?.devEUI == "70b3d57ed0100001")
        let bad = """
            sensors:
              - {id: s1, kind: hydro, unit: d, interval: 5m, dev_eui: 70B3D57ED01}
              - {id: s2, kind: hydro, unit: d, interval: 5m, dev_eui: 70b3d57ed0100002, device_id: gauge-2}
              - {id: s3, kind: hydro, unit: d, interval: 5m, dev_eui: 70B3D57ED0100002}
              - {id: s4, kind: hydro, unit: d, interval: 5m, device_id: gauge-2}
            """
        #expect {
            _ = try CatalogueLoader.parse([(file: "c.yaml", text: bad)])
        } throws: { error in
            let got = (error as? ConfigProblems)?.problems.map(\.description) ?? []
            let want = ["c.yaml:2: dev_eui must be 16 hexadecimal digits (a LoRaWAN device EUI)",
                        "c.yaml:4: sensor 's3': dev_eui 70b3d57ed0100002 is already sensor 's2''s",
                        "c.yaml:5: sensor 's4': device_id gauge-2 is already sensor 's2''s"]
            if got != want { Issue.record("got:\n\(got.joined(separator: "\n"))") }
            return got == want
        }
    }

    /// A DMA's loss is measured at one inflow meter: a second one is refused at its line.
    @Test func aDMAHasOneInflowMeter() {
        let text = """
            sensors:
              - {id: wi-1, kind: water, role: inflow, unit: d, zone: dma1, interval: 15m}
              - {id: wi-2, kind: water, role: inflow, unit: d, zone: dma1, interval: 15m}
              - {id: wi-3, kind: water, role: inflow, unit: d, interval: 15m}
              - {id: wc-1, kind: water, role: feeder, unit: d, zone: dma1, interval: 15m}
            """
        #expect {
            _ = try CatalogueLoader.parse([(file: "w.yaml", text: text)])
        } throws: { error in
            let got = (error as? ConfigProblems)?.problems.map(\.description) ?? []
            let want = ["w.yaml:3: DMA 'dma1' has a second inflow meter 'wi-2' (first 'wi-1'); give each inflow its own DMA",
                        "w.yaml:4: water inflow meter 'wi-3' needs the DMA it feeds (zone)",
                        "w.yaml:5: a water sensor's role must be inflow, customer or pressure"]
            if got != want { Issue.record("got:\n\(got.joined(separator: "\n"))") }
            return got == want
        }
    }

    /// A district may be an id or `{id, name}`; zones and sensors may have a `name`. A name is
    /// text for people: a bad one is a `file:line` problem.
    @Test func displayNames() throws {
        let good = """
            districts: [{id: muong-te, name: Mường Tè}, sin-ho]
            zones: [{id: z1, name: Tiểu khu 1, kind: forest, unit: muong-te, area_ha: 10}]
            sensors: [{id: ft-1, name: Trạm rừng Pa Ủ, kind: forest, unit: muong-te, zone: z1, interval: 10m}]
            """
        let cat = try CatalogueLoader.parse([(file: "c.yaml", text: good)])
        #expect(cat.units.map(\.id) == ["muong-te", "sin-ho"] && cat.units.allSatisfy { $0.type == .district })
        #expect(cat.name(ofPlace: "muong-te") == "Mường Tè" && cat.name(ofPlace: "sin-ho") == nil)
        #expect(cat.zone("z1")?.name == "Tiểu khu 1" && cat.sensor("ft-1")?.name == "Trạm rừng Pa Ủ")
        let bad = """
            districts:
              - {id: Muong Te, name: Mường Tè}
              - {id: sin-ho, name: ""}
              - [x]
            """
        #expect {
            _ = try CatalogueLoader.parse([(file: "c.yaml", text: bad)])
        } throws: { error in
            let got = (error as? ConfigProblems)?.problems.map(\.description) ?? []
            let want = ["c.yaml:2: 'Muong Te' is not a valid id (A-Z a-z 0-9 - _ . :, starting alphanumeric)",
                        "c.yaml:3: a name must be 1 to 120 characters, without control characters",
                        "c.yaml:4: a district must be a short id such as muong-te, or {id: muong-te, name: Mường Tè}"]
            if got != want { Issue.record("got:\n\(got.joined(separator: "\n"))") }
            return got == want
        }
    }

    @Test func problemsAcrossFilesInFileOrder() {
        let a = """
            districts: [muong-te, sin-ho]
            zones:
              - {id: z1, kind: forest, unit: muong-te, area_ha: 10}
              - {id: z1, kind: forest, unit: sin-ho, area_ha: 5}
              - {id: z2, kind: forest, unit: atlantis, area_ha: 5}
            sensors:
              - id: s1
                kind: forest
                unit: muong-te
                zone: z9
                interval: 10m
              - {id: s2, kind: volcano, unit: muong-te, interval: 10m}
              - {id: s3, kind: forest, unit: muong-te, interval: 10m}
            """
        let b = """
            sensors:
              - {id: s1, kind: hydro, unit: sin-ho, interval: 5m, alarm_levels_m: [3, 2, 1], role: feeder}
              - {id: t1, kind: traffic, unit: sin-ho, interval: soon, free_flow_kmh: 40}
            extra: 1
            """
        #expect {
            _ = try CatalogueLoader.parse([(file: "a.yaml", text: a), (file: "b.yaml", text: b)])
        } throws: { error in
            let got = (error as? ConfigProblems)?.problems.map(\.description) ?? []
            let want = [
                "a.yaml:4: duplicate zone id 'z1' (first at a.yaml:3)",
                "a.yaml:5: zone 'z2': unknown district 'atlantis'",
                "a.yaml:10: sensor 's1': unknown zone 'z9'",
                "a.yaml:12: unknown kind 'volcano' (forest, meter, traffic, environment, hydro, water)",
                "a.yaml:13: forest sensor 's3' needs the zone it watches",
                "b.yaml:2: alarm_levels_m must be three rising levels in metres (I, II, III)",
                "b.yaml:2: role is for meters and water sensors",
                "b.yaml:2: duplicate sensor id 's1' (first at a.yaml:7)",
                "b.yaml:3: 'interval': bad duration 'soon' (use e.g. 500ms, 30s, 10m, 1h, 7d)",
                "b.yaml:4: unknown key 'extra' in a catalogue file",
            ]
            if got != want { Issue.record("got:\n\(got.joined(separator: "\n"))") }
            return got == want
        }
    }

    @Test func checkCommandExitsTwoWithFileLine() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/sensors", withIntermediateDirectories: true)
        try "sensors:\n  - {id: s1, kind: forest, unit: d, interval: 10m, zone: nowhere}\n"
            .write(toFile: dir + "/sensors/x.yaml", atomically: true, encoding: .utf8)
        try "sensors: \(dir)/sensors\n".write(toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
        let (code, text) = try await collectorCLI(["check", "--config", dir + "/c.yaml"], dir: dir, seconds: 30)
        #expect(code == 2)
        #expect(text.contains("\(dir)/sensors/x.yaml:2: sensor 's1': unknown zone 'nowhere'"))
    }

    /// `collector check` says which rain stations get the default susceptibility, and which
    /// regions have only level 1 built in; a zone's susceptibility and region are read.
    @Test func checkWarnsWhereFloodRiskRestsOnDefaults() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/sensors", withIntermediateDirectories: true)
        try """
            zones: [{id: z1, kind: forest, unit: d, area_ha: 5, susceptibility: very_high, region: 4}]
            sensors:
              - {id: f1, kind: forest, unit: d, zone: z1, interval: 10m, metrics: {rain_mm: {unit: mm}}}
              - {id: h1, kind: hydro, unit: d, interval: 5m, susceptibility: low, metrics: {rain_mm: {unit: mm}}}
              - {id: h2, kind: hydro, unit: d, interval: 5m, metrics: {rain_mm: {unit: mm}, level_m: {unit: m}}}
              - {id: h3, kind: hydro, unit: d, interval: 5m, metrics: {level_m: {unit: m}}}
            """.write(toFile: dir + "/sensors/x.yaml", atomically: true, encoding: .utf8)
        try "sensors: \(dir)/sensors\n".write(toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
        let (code, text) = try await collectorCLI(["check", "--config", dir + "/c.yaml"], dir: dir, seconds: 30)
        #expect(code == 0, "\(text)")
        let warnings = text.split(separator: "\n").filter { $0.hasPrefix("warning: ") }
        #expect(warnings == [
            "warning: sensor 'h2' has rain_mm but neither its zone nor itself has a susceptibility: its flood-risk level assumes medium",
            "warning: region 4: only the level-1 cases of Decision 18/2021 Article 46 are built in for it; configure derived.flood_risk with its level-2 and level-3 cases",
        ], "\(text)")
    }
}
