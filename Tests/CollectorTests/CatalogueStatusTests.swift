import Foundation
import Testing

/// Sensor status against the catalogue, series metadata, and refusing unregistered sensors.
@Suite(.serialized) struct CatalogueStatusTests {
    /// Zones with known areas give the exact forest_monitored_pct when some sensors are
    /// silent; the indicators are also stored as series and exported to Prometheus.
    @Test func forestCoverageFromKnownAreas() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/cat", withIntermediateDirectories: true)
        try """
            zones:
              - {id: z1, kind: forest, district: muong-te, area_ha: 120.5}
              - {id: z2, kind: forest, district: muong-te, area_ha: 379.5}
              - {id: z3, kind: forest, district: sin-ho, area_ha: 500}
            sensors:
              - {id: ft-c1, kind: forest, district: muong-te, zone: z1, interval: 10m}
              - {id: ft-c2, kind: forest, district: muong-te, zone: z2, interval: 10m}
              - {id: ft-c3, kind: forest, district: sin-ho, zone: z3, interval: 10m}
            """.write(toFile: dir + "/cat/c.yaml", atomically: true, encoding: .utf8)
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
        _ = try await c.terminate()
    }

    @Test func statusSeriesAndUnregisteredPolicy() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/cat", withIntermediateDirectories: true)
        try """
            zones:
              - {id: z1, kind: forest, district: muong-te, area_ha: 100}
            sensors:
              - {id: ft-on-1, kind: forest, district: muong-te, zone: z1, interval: 10m}
              - {id: ft-off-1, kind: forest, district: muong-te, zone: z1, interval: 10m}
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
        try await waitUntil("the stray reading in quarantine", seconds: 10) {
            let q = try await httpJSON(c.baseURL + "/api/v1/quarantine")
            return ((q["counts"] as? [String: Any])?["unregistered_sensor"] as? NSNumber)?.intValue == 1
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
}
