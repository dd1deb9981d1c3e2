import Foundation
import Testing
@testable import Collector
import Telemetry

@Suite struct CatalogueLoaderTests {
    @Test func shippedCatalogueIsValid() throws {
        let cat = try CatalogueLoader.load(path: packageRoot + "/sensors")
        #expect(cat.districts.count == 8)
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
        // Units, zones and stations have names with diacritics; ids stay ASCII.
        #expect(cat.districtNames["muong-te"] == "Mường Tè" && cat.districtNames.count == 8)
        #expect(cat.sensor("ft-mt-0001")?.name == "Trạm rừng Mường Tè 1")
        #expect(cat.zone("lc-sh-tk001")?.name == "Tiểu khu 001 Sìn Hồ")
    }

    /// A DMA's loss is measured at one inflow meter: a second one is refused at its line.
    @Test func aDMAHasOneInflowMeter() {
        let text = """
            sensors:
              - {id: wi-1, kind: water, role: inflow, district: d, zone: dma1, interval: 15m}
              - {id: wi-2, kind: water, role: inflow, district: d, zone: dma1, interval: 15m}
              - {id: wi-3, kind: water, role: inflow, district: d, interval: 15m}
              - {id: wc-1, kind: water, role: feeder, district: d, zone: dma1, interval: 15m}
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
            zones: [{id: z1, name: Tiểu khu 1, kind: forest, district: muong-te, area_ha: 10}]
            sensors: [{id: ft-1, name: Trạm rừng Pa Ủ, kind: forest, district: muong-te, zone: z1, interval: 10m}]
            """
        let cat = try CatalogueLoader.parse([(file: "c.yaml", text: good)])
        #expect(cat.districts == ["muong-te", "sin-ho"] && cat.districtNames == ["muong-te": "Mường Tè"])
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
              - {id: z1, kind: forest, district: muong-te, area_ha: 10}
              - {id: z1, kind: forest, district: sin-ho, area_ha: 5}
              - {id: z2, kind: forest, district: atlantis, area_ha: 5}
            sensors:
              - id: s1
                kind: forest
                district: muong-te
                zone: z9
                interval: 10m
              - {id: s2, kind: volcano, district: muong-te, interval: 10m}
              - {id: s3, kind: forest, district: muong-te, interval: 10m}
            """
        let b = """
            sensors:
              - {id: s1, kind: hydro, district: sin-ho, interval: 5m, alarm_levels_m: [3, 2, 1], role: feeder}
              - {id: t1, kind: traffic, district: sin-ho, interval: soon, free_flow_kmh: 40}
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
        try "sensors:\n  - {id: s1, kind: forest, district: d, interval: 10m, zone: nowhere}\n"
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
            zones: [{id: z1, kind: forest, district: d, area_ha: 5, susceptibility: very_high, region: 4}]
            sensors:
              - {id: f1, kind: forest, district: d, zone: z1, interval: 10m, metrics: {rain_mm: {unit: mm}}}
              - {id: h1, kind: hydro, district: d, interval: 5m, susceptibility: low, metrics: {rain_mm: {unit: mm}}}
              - {id: h2, kind: hydro, district: d, interval: 5m, metrics: {rain_mm: {unit: mm}, level_m: {unit: m}}}
              - {id: h3, kind: hydro, district: d, interval: 5m, metrics: {level_m: {unit: m}}}
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
