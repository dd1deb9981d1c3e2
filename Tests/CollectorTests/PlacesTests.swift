import Alerts
import Foundation
import Testing
@testable import Collector
import Telemetry

/// Places since the 2025 reorganisation: a catalogue's communes grouped by former district,
/// queried at either level, with data labelled before the change (a gateway's topic naming
/// the former district) still answerable by it.
@Suite struct PlacesTests {
    @Test func queriesAtAnyLevelAndOldLabelsStayAnswerable() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/sensors", withIntermediateDirectories: true)
        try """
            province: {id: lai-chau, name: Lai Châu, units_source: "Nghị quyết 1670/NQ-UBTVQH15"}
            levels:
              - {id: district, name: Huyện cũ, groups: [{id: sin-ho, name: Sìn Hồ}, {id: muong-te, name: Mường Tè}]}
            units:
              - {id: xa-sin-ho, name: Xã Sìn Hồ, type: commune, district: sin-ho}
              - {id: xa-pa-u, name: Xã Pa Ủ, type: commune, district: muong-te}
            zones:
              - {id: z1, kind: forest, unit: xa-sin-ho, area_ha: 30}
              - {id: z2, kind: forest, unit: xa-pa-u, area_ha: 10}
            sensors:
              - {id: ft-1, kind: forest, unit: xa-sin-ho, zone: z1, interval: 10m}
              - {id: ft-2, kind: forest, unit: xa-pa-u, zone: z2, interval: 10m}
            """.write(toFile: dir + "/sensors/catalogue.yaml", atomically: true, encoding: .utf8)
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-places",
                                     subscriptions: [#"{topic: "field/{district}/{kind}/{sensor}/up", format: influx, precision: s}"#,
                                                     #"{topic: "telemetry/#"}"#],
                                     extraYAML: "sensors: \(dir)/sensors")
        try c.start()
        try await c.waitReady()
        let t = Int(Date().timeIntervalSince1970) - 60
        try broker.publish(topic: "telemetry/ft-1", lines: [#"{"ts": \#(t), "temp_c": 30}"#])
        try broker.publish(topic: "telemetry/ft-2", lines: [#"{"ts": \#(t), "temp_c": 20}"#])
        // A gateway set up before the reorganisation: its topic names the former district.
        try broker.publish(topic: "field/sin-ho/forest/old-1/up", lines: ["w temp_c=40 \(t)"])
        try await waitUntil("three series", seconds: 10) {
            (try JSONSerialization.jsonObject(with: try await httpGet(c.baseURL + "/api/v1/series?metric=temp_c").body) as? [Any])?.count == 3
        }
        func groups(_ query: String) async throws -> [String: Double] {
            let o = try await httpJSON(c.baseURL + "/api/v1/rollups?metric=temp_c&agg=max&step=1h&from=\(t - 7200)&" + query)
            var out: [String: Double] = [:]
            for g in (o["groups"] as? [[String: Any]]) ?? [] {
                out[g["key"] as? String ?? "?"] = ((g["points"] as? [[String: Any]])?.last?["value"] as? NSNumber)?.doubleValue
            }
            return out
        }
        try await waitUntil("the readings in the rollups", seconds: 10) { try await groups("group_by=sensor").count == 3 }
        // By former district: the commune's station and the old gateway's together.
        let byFormer = try await groups("group_by=district")
        #expect(byFormer == ["sin-ho": 40, "muong-te": 20], "\(byFormer)")
        // By unit (the default): each commune, and the old label standing for itself.
        let byUnitGroups = try await groups("")
        #expect(byUnitGroups == ["xa-sin-ho": 30, "xa-pa-u": 20, "sin-ho": 40], "\(byUnitGroups)")
        #expect(try await groups("group_by=kind&district=sin-ho") == ["forest": 40])
        #expect(try await groups("group_by=sensor&unit=xa-pa-u") == ["ft-2": 20])
        let series = try JSONSerialization.jsonObject(with: try await httpGet(c.baseURL + "/api/v1/series?district=sin-ho&metric=temp_c").body) as? [[String: Any]]
        #expect(Set((series ?? []).compactMap { $0["sensor"] as? String }) == ["ft-1", "old-1"])
        let sensors = try JSONSerialization.jsonObject(with: try await httpGet(c.baseURL + "/api/v1/sensors?district=muong-te").body) as? [[String: Any]]
        #expect((sensors ?? []).map { $0["id"] as? String } == ["ft-2"] && sensors?.first?["unit"] as? String == "xa-pa-u")
        // Coverage per former district and per commune.
        let byDistrict = try JSONSerialization.jsonObject(with: try await httpGet(
            c.baseURL + "/api/v1/coverage?indicator=forest_monitored_pct&level=district").body) as? [[String: Any]] ?? []
        #expect(byDistrict.compactMap { $0["scope"] as? String } == ["province", "muong-te", "sin-ho"])
        #expect(byDistrict.first { $0["scope"] as? String == "sin-ho" }?["denominator"] as? Double == 30)
        let byUnit = try JSONSerialization.jsonObject(with: try await httpGet(
            c.baseURL + "/api/v1/coverage?indicator=forest_monitored_pct").body) as? [[String: Any]] ?? []
        #expect(byUnit.compactMap { $0["scope"] as? String } == ["province", "xa-pa-u", "xa-sin-ho"])
        // A scope that is a group of a level asks for that level.
        let sinHo = try JSONSerialization.jsonObject(with: try await httpGet(
            c.baseURL + "/api/v1/coverage?indicator=forest_monitored_pct&scope=sin-ho").body) as? [[String: Any]] ?? []
        #expect(sinHo.count == 1 && sinHo.first?["denominator"] as? Double == 30, "\(sinHo)")
        // The places, and clear errors for a level the catalogue does not declare.
        let places = try await httpJSON(c.baseURL + "/api/v1/places")
        #expect((places["province"] as? [String: Any])?["units_source"] as? String == "Nghị quyết 1670/NQ-UBTVQH15")
        #expect(((places["levels"] as? [[String: Any]]) ?? []).map { $0["id"] as? String } == ["district"])
        let units = (places["units"] as? [[String: Any]]) ?? []
        #expect(units.map { $0["id"] as? String } == ["xa-sin-ho", "xa-pa-u"])
        #expect((units.first?["groups"] as? [String: String]) == ["district": "sin-ho"] && units.first?["name"] as? String == "Xã Sìn Hồ")
        let (s1, b1) = try await httpGet(c.baseURL + "/api/v1/rollups?metric=temp_c&step=1h&group_by=board")
        #expect(s1 == 400 && String(decoding: b1, as: UTF8.self).contains("must be unit, district, kind or sensor"))
        let (s2, b2) = try await httpGet(c.baseURL + "/api/v1/coverage?level=province")
        #expect(s2 == 400 && String(decoding: b2, as: UTF8.self).contains("must be unit or district"))
        _ = try await c.terminate()
    }

    /// Alertmanager hears an alert's unit and its group at each level the catalogue declares,
    /// so routes written for former districts keep matching.
    @Test func alertmanagerLabelsCarryTheLevels() throws {
        let catalogue = Catalogue(units: [AdminUnit(id: "xa-pa-u", type: .commune, groups: ["district": "muong-te"])],
                                  levels: [AdminLevel(id: "district", groups: [.init(id: "muong-te")])])
        var a = Alert(id: 1, rule: "fire", subject: "ft-1:fire_danger_level", severity: .warning, state: "firing", since: 0)
        a.unit = "xa-pa-u"
        let body = Notifiers.alertmanagerBody([a], instance: "c1", catalogue: catalogue, now: 0, resendMillis: 60_000)
        let sent = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [[String: Any]])
        let labels = sent.first?["labels"] as? [String: String]
        #expect(labels?["unit"] == "xa-pa-u" && labels?["district"] == "muong-te", "\(labels ?? [:])")
    }
}
