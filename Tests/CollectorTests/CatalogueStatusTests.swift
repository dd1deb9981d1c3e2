import Foundation
import Testing

/// Sensor status against the catalogue, series metadata, and refusing unregistered sensors.
@Suite(.serialized) struct CatalogueStatusTests {
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
        let (_, seriesBody) = try await httpGet(c.baseURL + "/api/v1/series?district=muong-te")
        let series = try JSONSerialization.jsonObject(with: seriesBody) as? [[String: Any]] ?? []
        #expect(series.count == 1)
        #expect(series.first?["kind"] as? String == "forest")
        #expect((series.first?["last_value"] as? NSNumber)?.doubleValue == 30.5)
        #expect((series.first?["last_t"] as? NSNumber)?.intValue == now - 60)
        #expect(try await httpGet(c.baseURL + "/api/v1/sensors?kind=lava").status == 400)
        _ = try await c.terminate()
    }
}
