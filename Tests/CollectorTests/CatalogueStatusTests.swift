import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// Sensor status against the catalogue, series metadata, and refusing unregistered sensors.
@Suite(.serialized) struct CatalogueStatusTests {
    /// Three forest zones with known areas (1,000 ha), one station each: with ft-c2 silent,
    /// 62.05 % of the forest is watched (12.05 % of it in muong-te's two, 50 % in sin-ho's).
    static let forestCatalogue = """
        zones:
          - {id: z1, kind: forest, unit: muong-te, area_ha: 120.5}
          - {id: z2, kind: forest, unit: muong-te, area_ha: 379.5}
          - {id: z3, kind: forest, unit: sin-ho, area_ha: 500}
        sensors:
          - {id: ft-c1, kind: forest, unit: muong-te, zone: z1, interval: 10m}
          - {id: ft-c2, kind: forest, unit: muong-te, zone: z2, interval: 10m}
          - {id: ft-c3, kind: forest, unit: sin-ho, zone: z3, interval: 10m}
        """

    /// Zones with known areas give the exact forest_monitored_pct when some sensors are
    /// silent; the indicators are also stored as series and exported to Prometheus.
    @Test func forestCoverageFromKnownAreas() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/cat", withIntermediateDirectories: true)
        try Self.forestCatalogue.write(toFile: dir + "/cat/c.yaml", atomically: true, encoding: .utf8)
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-cov",
                                     extraYAML: "sensors: \(dir)/cat\ncoverage: {interval: 1s, targets: {forest_monitored_pct: [{year: 2025, pct: 70}, {year: 2030, pct: 100}]}}")
        try c.start()
        try await c.waitReady()
        let now = Int(Date().timeIntervalSince1970)
        // ft-c1 and ft-c3 report now; ft-c2 last reported 40 min ago (silent: > 3 x 10 min).
        try broker.publish(topic: "telemetry/x", lines: [
            #"{"sensor": "ft-c1", "ts": \#(now - 5), "temp_c": 20}"#,
            #"{"sensor": "ft-c2", "ts": \#(now - 2400), "temp_c": 20}"#,
            #"{"sensor": "ft-c3", "ts": \#(now - 5), "temp_c": 20}"#,
        ])
        var rows: [[String: Any]] = []
        try await waitUntil("coverage with all three sensors seen", seconds: 10) {
            let (_, body) = try await httpGet(c.baseURL + "/api/v1/coverage?indicator=forest_monitored_pct")
            rows = (try? JSONSerialization.jsonObject(with: body) as? [[String: Any]]) ?? []
            return rows.count == 3 && (rows.first?["numerator"] as? NSNumber)?.doubleValue == 620.5
        }
        let byScope = Dictionary(uniqueKeysWithValues: rows.map { ($0["scope"] as! String, $0) })
        #expect((byScope["province"]?["value_pct"] as? NSNumber)?.doubleValue == 62.05)
        #expect((byScope["province"]?["denominator"] as? NSNumber)?.doubleValue == 1000)
        #expect((byScope["province"]?["target_pct"] as? NSNumber)?.doubleValue == 100)
        #expect((byScope["province"]?["target_year"] as? NSNumber)?.intValue == 2030)
        #expect((byScope["muong-te"]?["value_pct"] as? NSNumber)?.doubleValue == 24.1)
        #expect((byScope["sin-ho"]?["value_pct"] as? NSNumber)?.doubleValue == 100)
        // Stored as a series and exported as a gauge.
        try await waitUntil("the stored coverage series", seconds: 10) {
            let o = try? await httpJSON(c.baseURL + "/api/v1/raw?series=coverage.province/forest_monitored_pct&from=\(now - 60)&to=\(now + 60)")
            return ((o?["points"] as? [[String: Any]]) ?? []).contains { abs((($0["value"] as? NSNumber)?.doubleValue ?? 0) - 62.05) < 1e-9 }
        }
        let (_, metrics) = try await httpGet(c.baseURL + "/metrics")
        #expect(String(decoding: metrics, as: UTF8.self).contains(#"collector_coverage_pct{indicator="forest_monitored_pct",scope="province"} 62.05"#),
                "\(String(decoding: metrics, as: UTF8.self).split(separator: "\n").filter { $0.contains("coverage") })")

        // The yearly report of daily values, from the stored 1d rollups (merged within 5 s).
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "Asia/Ho_Chi_Minh")!
        let today = cal.dateComponents([.year, .month, .day], from: Date())
        var report: [String: Any] = [:]
        try await waitUntil("today's coverage in the yearly report", seconds: 10) {
            report = try await httpJSON(c.baseURL + "/api/v1/coverage/daily?indicator=forest_monitored_pct&year=\(today.year!)")
            let scopes = report["scopes"] as? [[String: Any]] ?? []
            let maxima = scopes.map { (($0["days"] as? [[String: Any]])?.first?["max"] as? NSNumber)?.doubleValue }
            return maxima == [62.05, 24.1, 100]
        }
        #expect((report["target_pct"] as? NSNumber)?.doubleValue == 100)
        let scopes = try #require(report["scopes"] as? [[String: Any]])
        #expect(scopes.map { $0["scope"] as? String } == ["province", "muong-te", "sin-ho"])
        let province = try #require(scopes.first)
        #expect((province["days_reported"] as? NSNumber)?.intValue == 1)
        #expect((province["days_at_target"] as? NSNumber)?.intValue == 0)
        let day = try #require((province["days"] as? [[String: Any]])?.first)
        #expect(day["date"] as? String == String(format: "%04d-%02d-%02d", today.year!, today.month!, today.day!))
        #expect((day["max"] as? NSNumber)?.doubleValue == 62.05)
        let (_, csv) = try await httpGet(c.baseURL + "/api/v1/coverage/daily?indicator=forest_monitored_pct&scope=sin-ho&format=csv")
        let csvLines = String(decoding: csv, as: UTF8.self).split(separator: "\n")
        #expect(csvLines.first == "scope,date,avg,min,max" && csvLines.count == 2 && csvLines[1].hasSuffix(",100"))
        #expect(try await httpGet(c.baseURL + "/api/v1/coverage/daily?indicator=nope").status == 400)
        // Past the plan's last target year, the last target still holds (as the live indicators take it).
        let later = try await httpJSON(c.baseURL + "/api/v1/coverage/daily?indicator=forest_monitored_pct&year=2031")
        #expect((later["target_year"] as? NSNumber)?.intValue == 2030 && (later["target_pct"] as? NSNumber)?.doubleValue == 100)
        #expect(try await httpGet(c.baseURL + "/api/v1/coverage/daily?indicator=forest_monitored_pct&year=1999").status == 400)
        _ = try await c.terminate()
    }

    /// Analysts' query: one metric grouped by district (or kind, or sensor), from the stored
    /// rollups, equal to a recompute from the readings; steps that are tier multiples merge.
    @Test func groupedRollupsByDistrict() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/cat", withIntermediateDirectories: true)
        try """
            zones: [{id: z1, kind: forest, unit: muong-te, area_ha: 1}, {id: z2, kind: forest, unit: sin-ho, area_ha: 1}]
            sensors:
              - {id: g-1, kind: forest, unit: muong-te, zone: z1, interval: 10m}
              - {id: g-2, kind: forest, unit: muong-te, zone: z1, interval: 10m}
              - {id: g-3, kind: forest, unit: sin-ho, zone: z2, interval: 10m}
              - {id: g-4, kind: hydro, unit: sin-ho, interval: 10m}
            """.write(toFile: dir + "/cat/c.yaml", atomically: true, encoding: .utf8)
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-group", extraYAML: "sensors: \(dir)/cat")
        try c.start()
        try await c.waitReady()
        let t0 = 1_795_003_200   // an hour boundary
        var lines: [String] = []
        var expected: [String: [Int: (sum: Double, count: Double)]] = [:]   // district -> hour -> ...
        for (i, sensor) in ["g-1", "g-2", "g-3", "g-4"].enumerated() {
            for k in 0..<24 {                        // every 5 minutes for 2 hours
                let t = t0 + k * 300
                let v = Double((i + 1) * 10 + k % 7) / 4
                lines.append(#"{"sensor": "\#(sensor)", "ts": \#(t), "temp_c": \#(v)}"#)
                let district = sensor == "g-3" || sensor == "g-4" ? "sin-ho" : "muong-te"
                let hour = t / 3600 * 3600
                var e = expected[district, default: [:]][hour, default: (0, 0)]
                e.sum += v
                e.count += 1
                expected[district, default: [:]][hour] = e
            }
        }
        try broker.publish(topic: "telemetry/grouped", lines: lines)
        let (from, to) = (t0 - 3600, t0 + 3 * 3600)
        try await waitUntil("all readings", seconds: 10) {
            let o = try? await httpJSON(c.baseURL + "/api/v1/rollups?metric=temp_c&step=1d&agg=count&group_by=kind&from=\(from)&to=\(to)")
            let groups = (o?["groups"] as? [[String: Any]]) ?? []
            let total = groups.flatMap { ($0["points"] as? [[String: Any]]) ?? [] }.reduce(0) { $0 + (($1["value"] as? NSNumber)?.intValue ?? 0) }
            return total == 96
        }
        let o = try await httpJSON(c.baseURL + "/api/v1/rollups?metric=temp_c&step=1h&agg=avg&group_by=district&from=\(from)&to=\(to)")
        let groups = (o["groups"] as? [[String: Any]]) ?? []
        #expect(groups.map { $0["key"] as? String } == ["muong-te", "sin-ho"])
        for g in groups {
            let key = g["key"] as! String
            let points = (g["points"] as? [[String: Any]]) ?? []
            let want = expected[key]!.sorted { $0.key < $1.key }
            #expect(points.map { ($0["t"] as! NSNumber).intValue } == want.map(\.key))
            for (p, w) in zip(points, want) {
                #expect(abs(((p["value"] as? NSNumber)?.doubleValue ?? 0) - w.value.sum / w.value.count) < 1e-9, "\(key)")
            }
        }
        // kind filter and count per kind
        let byKind = try await httpJSON(c.baseURL + "/api/v1/rollups?metric=temp_c&step=2h&agg=count&group_by=kind&kind=forest&from=\(from)&to=\(to)")
        let kinds = (byKind["groups"] as? [[String: Any]]) ?? []
        #expect(kinds.count == 1 && kinds.first?["key"] as? String == "forest")
        #expect(((kinds.first?["points"] as? [[String: Any]])?.first?["value"] as? NSNumber)?.intValue == 72)
        // A 10m step merged from 1m rows equals the 5-minute readings paired up.
        let single = try await httpJSON(c.baseURL + "/api/v1/rollups?series=g-1/temp_c&step=10m&from=\(t0)&to=\(t0 + 3600)")
        let pts = (single["points"] as? [[String: Any]]) ?? []
        #expect(pts.count == 6)
        #expect(pts.allSatisfy { ($0["count"] as? NSNumber)?.intValue == 2 })
        _ = try await c.terminate()
    }

    @Test func statusSeriesAndUnregisteredPolicy() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/cat", withIntermediateDirectories: true)
        try """
            zones:
              - {id: z1, kind: forest, unit: muong-te, area_ha: 100}
            sensors:
              - {id: ft-on-1, kind: forest, unit: muong-te, zone: z1, interval: 10m}
              - {id: ft-off-1, kind: forest, unit: muong-te, zone: z1, interval: 10m}
            """.write(toFile: dir + "/cat/c.yaml", atomically: true, encoding: .utf8)
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-cat",
                                     extraYAML: "sensors: \(dir)/cat\nunregistered_sensors: reject")
        try c.start()
        try await c.waitReady()
        let now = Int(Date().timeIntervalSince1970)
        try broker.publish(topic: "telemetry/muong-te/forest/ft-on-1", lines: [#"{"ts": \#(now - 60), "temp_c": 30.5}"#])
        try broker.publish(topic: "telemetry/x/stray-1", lines: [#"{"ts": \#(now), "temp_c": 1}"#])
        // A plain SenML pack (read by its names' bytes) is refused the same way.
        try broker.publish(topic: "telemetry/x/stray-2", lines: [#"[{"n": "stray-2/temp_c", "v": 1}]"#])
        try await waitUntil("the stray readings in quarantine", seconds: 10) {
            let q = try await httpJSON(c.baseURL + "/api/v1/quarantine")
            return ((q["counts"] as? [String: Any])?["unregistered_sensor"] as? NSNumber)?.intValue == 2
        }
        try await waitUntil("the registered reading", seconds: 10) {
            let (_, body) = try await httpGet(c.baseURL + "/api/v1/series?kind=forest")
            return String(decoding: body, as: UTF8.self).contains("ft-on-1/temp_c")
        }
        let (_, sensorsBody) = try await httpGet(c.baseURL + "/api/v1/sensors")
        let sensors = try JSONSerialization.jsonObject(with: sensorsBody) as? [[String: Any]] ?? []
        let status = Dictionary(uniqueKeysWithValues: sensors.map { ($0["id"] as! String, $0["status"] as! String) })
        #expect(status == ["ft-on-1": "online", "ft-off-1": "stale"])
        // The forest station's reading and the fire-danger series derived from it, all with
        // the catalogue's kind and district.
        let (_, allBody) = try await httpGet(c.baseURL + "/api/v1/series?district=muong-te")
        let all = try JSONSerialization.jsonObject(with: allBody) as? [[String: Any]] ?? []
        #expect(Set(all.compactMap { $0["series"] as? String }) == ["ft-on-1/temp_c", "ft-on-1/fire_danger_p", "ft-on-1/fire_danger_level"])
        let (_, seriesBody) = try await httpGet(c.baseURL + "/api/v1/series?district=muong-te&metric=temp_c")
        let series = try JSONSerialization.jsonObject(with: seriesBody) as? [[String: Any]] ?? []
        #expect(series.count == 1)
        #expect(series.first?["kind"] as? String == "forest")
        #expect((series.first?["last_value"] as? NSNumber)?.doubleValue == 30.5)
        #expect((series.first?["last_t"] as? NSNumber)?.intValue == now - 60)
        #expect(try await httpGet(c.baseURL + "/api/v1/sensors?kind=lava").status == 400)
        _ = try await c.terminate()
    }

    /// `/api/v1/series` comes in pages (before, 100,000 series were one 13 MB answer built in
    /// memory per call): `limit` entries at most, and `Link: <...>; rel="next"` while more
    /// follow; a filter is kept in the link; the pages together are the whole list, once each.
    @Test func theSeriesListIsPaged() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-series-pages")
        try c.start()
        try await c.waitReady()
        let now = Int(Date().timeIntervalSince1970)
        try broker.publish(topic: "telemetry/pages", lines: (0..<25).map { #"{"sensor": "pg-\#(String(format: "%02d", $0))", "ts": \#(now), "temp_c": 1, "rh_pct": 2}"# })
        var total: [String] = []
        try await waitUntil("the 50 series", seconds: 10) {
            let list = (try? JSONSerialization.jsonObject(with: try await httpGet(c.baseURL + "/api/v1/series").body) as? [[String: Any]]) ?? []
            total = list.compactMap { $0["series"] as? String }
            return total.filter { $0.hasPrefix("pg-") }.count == 50
        }
        func pages(_ first: String) async throws -> [[String]] {
            var out: [[String]] = []
            var next: String? = first
            while let path = next, out.count < 10 {
                let (data, resp) = try await URLSession.shared.data(from: URL(string: c.baseURL + path)!)
                let list = (try JSONSerialization.jsonObject(with: data) as? [[String: Any]]) ?? []
                out.append(list.compactMap { $0["series"] as? String })
                let link = (resp as? HTTPURLResponse)?.value(forHTTPHeaderField: "Link") ?? ""
                next = link.firstMatch(of: /<([^>]+)>; rel="next"/).map { String($0.1) }
            }
            return out
        }
        let all = try await pages("/api/v1/series?limit=20")
        #expect(all.dropLast().allSatisfy { $0.count == 20 } && (all.last?.count ?? 0) <= 20)
        #expect(all.flatMap { $0 } == total, "the pages together are the whole list, in order")
        let temps = try await pages("/api/v1/series?metric=temp_c&limit=10")
        #expect(temps.map(\.count) == [10, 10, 5] && temps.flatMap { $0 }.allSatisfy { $0.hasSuffix("/temp_c") })
        #expect(try await httpGet(c.baseURL + "/api/v1/series?limit=0").status == 400)
        _ = try await c.terminate()
    }
}
