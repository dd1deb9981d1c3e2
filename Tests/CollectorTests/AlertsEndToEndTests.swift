import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// Alerts through the real broker: fire on the crossing reading, ack persisted across a
/// restart, resolve with hysteresis clears the retained message. (How fast an alert leaves
/// is measured by `scripts/bench-latency.py` in `make bench`, not asserted here.)
@Suite(.serialized) struct AlertsEndToEndTests {
    @Test func fireAckRestartResolve() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/sensors", withIntermediateDirectories: true)
        try """
            zones: [{id: z1, kind: forest, unit: muong-te, area_ha: 10}]
            sensors:
              - {id: ft-a1, kind: forest, unit: muong-te, zone: z1, interval: 10m}
              - {id: ft-a2, kind: forest, unit: muong-te, zone: z1, interval: 10m}
            """.write(toFile: dir + "/sensors/catalogue.yaml", atomically: true, encoding: .utf8)
        try """
            rules:
              - name: forest-hot
                severity: critical
                match: {kind: forest, metric: temp_c}
                when: {above: 35}
                clear: {below: 30}
                summary: "{value} C at {sensor} in {zone} ({district})"
            """.write(toFile: dir + "/sensors/rules.yaml", atomically: true, encoding: .utf8)
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-alerts", extraYAML: "sensors: \(dir)/sensors")
        try c.start()
        try await c.waitReady()
        let now = Int(Date().timeIntervalSince1970)
        // The dashboard's feed: Server-Sent Events, read here by curl.
        let ssePath = dir + "/sse.out"
        let sse = try SpawnedProcess(try which("curl"), ["-sN", "--max-time", "20", c.baseURL + "/api/v1/alerts/stream"], logPath: ssePath)
        defer { sse.stop() }
        try broker.publish(topic: "telemetry/ft-a1", lines: [#"{"ts": \#(now - 30), "temp_c": 33}"#])

        // A subscriber on alerts/# (subscribed: the broker acknowledged it) gets the alert
        // the crossing reading raises.
        let sub = try await broker.subscribe("alerts/#", outPath: dir + "/alerts.out")
        try broker.publish(topic: "telemetry/ft-a1", lines: [#"{"ts": \#(now - 20), "temp_c": 36.5}"#])
        try await waitUntil("mosquitto_sub got the alert", seconds: 15) { !sub.isRunning }
        let line = MosquittoBroker.messages(dir + "/alerts.out").first ?? ""
        #expect(line.hasPrefix("alerts/critical/forest-hot/ft-a1 {"), "\(line)")
        #expect(line.contains(#""summary":"36.5 C at ft-a1 in z1 (muong-te)""#))

        var alerts = try await Self.alerts(c, "firing")
        #expect(alerts.count == 1)
        let id = try #require((alerts.first?["id"] as? NSNumber)?.intValue)
        var req = URLRequest(url: URL(string: "\(c.baseURL)/api/v1/alerts/\(id)/ack")!)
        req.httpMethod = "POST"
        req.httpBody = Data(#"{"by": "duty-officer", "note": "crew sent"}"#.utf8)
        let (_, resp) = try await URLSession.shared.data(for: req)
        #expect((resp as? HTTPURLResponse)?.statusCode == 200)
        var bad = URLRequest(url: URL(string: "\(c.baseURL)/api/v1/alerts/\(id)/ack")!)
        bad.httpMethod = "POST"
        bad.httpBody = Data("{}".utf8)
        #expect(((try await URLSession.shared.data(for: bad)).1 as? HTTPURLResponse)?.statusCode == 400)

        // The SSE feed saw the firing and the acknowledgement, as `alert` events.
        try await waitUntil("both events on the SSE feed", seconds: 5) {
            let text = (try? String(contentsOfFile: ssePath, encoding: .utf8)) ?? ""
            return text.components(separatedBy: "event: alert\ndata: {").count == 3
        }
        let feed = (try? String(contentsOfFile: ssePath, encoding: .utf8)) ?? ""
        #expect(feed.contains(#""state":"firing""#) && feed.contains(#""acknowledged_by":"duty-officer""#))

        // Restart: still firing, still acknowledged, nothing announced again.
        _ = try await c.terminate()
        try c.start()
        try await c.waitReady()
        alerts = try await Self.alerts(c, "firing")
        #expect(alerts.count == 1)
        #expect(alerts.first?["acknowledged"] as? Bool == true)
        #expect(alerts.first?["acknowledged_by"] as? String == "duty-officer")
        #expect(try broker.readOne(topic: "alerts/#")?.contains("forest-hot") == true)

        // 32 is below the firing threshold but above the clear one: still firing. The reading
        // after it, from ft-a2, fires ft-a2's alert: once that shows, ft-a1's 32 has been seen
        // (published before it, acknowledged by the broker first, so delivered to our one
        // subscription first; then committed and evaluated in order).
        func firing(_ sensor: String) async throws -> Bool {
            try await Self.alerts(c, "firing").contains { $0["subject"] as? String == sensor }
        }
        try broker.publish(topic: "telemetry/ft-a1", lines: [#"{"ts": \#(now - 10), "temp_c": 32}"#])
        try broker.publish(topic: "telemetry/ft-a2", lines: [#"{"ts": \#(now - 10), "temp_c": 36}"#])
        try await waitUntil("ft-a2's alert, after ft-a1's 32", seconds: 10) { try await firing("ft-a2") }
        #expect(try await firing("ft-a1"))
        try broker.publish(topic: "telemetry/ft-a1", lines: [#"{"ts": \#(now), "temp_c": 29}"#])
        try await waitUntil("the alert to resolve", seconds: 10) { try await Self.alerts(c, "resolved").count == 1 }
        #expect(try await !firing("ft-a1"))
        #expect(try broker.readOne(topic: "alerts/+/forest-hot/ft-a1", seconds: 2) == nil, "the retained alert is cleared")
        let announced = c.log().split(separator: "\n").filter { $0.contains("alert firing") && $0.contains("at ft-a1 in") }
        #expect(announced.count == 1, "announced once, not again after the restart: \(announced)")
        _ = try await c.terminate()
    }

    /// A dry, hot spell after rain: the fire-danger index climbs day by day at 13:00 local,
    /// and the reading that lifts it to level IV raises the alert.
    @Test func fireWeatherRaisesFireDanger() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/sensors", withIntermediateDirectories: true)
        try """
            zones: [{id: z1, kind: forest, unit: muong-te, area_ha: 10}]
            sensors: [{id: ft-fw1, kind: forest, unit: muong-te, zone: z1, interval: 1h}]
            """.write(toFile: dir + "/sensors/catalogue.yaml", atomically: true, encoding: .utf8)
        try """
            rules:
              - name: forest-fire-danger
                severity: critical
                match: {kind: forest, metric: fire_danger_level}
                when: {at_least: 4}
                clear: {below: 3}
                summary: "Fire danger level {value} at {sensor} in {zone} ({district})"
            """.write(toFile: dir + "/sensors/rules.yaml", atomically: true, encoding: .utf8)
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-fire", extraYAML: "sensors: \(dir)/sensors")
        try c.start()
        try await c.waitReady()
        // 13:00 in Hanoi (UTC+7) on each of the last five days.
        let now = Int(Date().timeIntervalSince1970)
        let todayLocal = (now + 7 * 3600) / 86_400 * 86_400 - 7 * 3600
        func at13(_ daysAgo: Int) -> Int { todayLocal - daysAgo * 86_400 + 13 * 3600 }
        try broker.publish(topic: "telemetry/ft-fw1", lines: [
            #"{"ts": \#(at13(5)), "temp_c": 26, "rh_pct": 85, "rain_mm": 12}"#,   // rain: P = 0
            #"{"ts": \#(at13(4)), "temp_c": 38, "rh_pct": 20, "rain_mm": 0}"#,    // P ~ 2014 (II)
            #"{"ts": \#(at13(3)), "temp_c": 38, "rh_pct": 20, "rain_mm": 0}"#,    // P ~ 4028 (III)
        ])
        try await waitUntil("level III", seconds: 10) {
            let o = try? await httpJSON(c.baseURL + "/api/v1/raw?series=ft-fw1/fire_danger_level&from=\(at13(6))&to=\(now + 60)")
            return ((o?["points"] as? [[String: Any]]) ?? []).last.map { ($0["value"] as? NSNumber)?.intValue == 3 } ?? false
        }
        #expect(try await Self.alerts(c, "firing").isEmpty)

        // A restart in the middle of the dry spell must not reset the index.
        _ = try await c.terminate()
        try c.start()
        try await c.waitReady()

        let sub = try await broker.subscribe("alerts/critical/#", outPath: dir + "/alert.out")
        defer { sub.stop() }
        try broker.publish(topic: "telemetry/ft-fw1", lines: [#"{"ts": \#(at13(2)), "temp_c": 38, "rh_pct": 20, "rain_mm": 0}"#])
        try await waitUntil("mosquitto_sub got the alert", seconds: 15) { !sub.isRunning }
        let line = MosquittoBroker.messages(dir + "/alert.out").first ?? ""
        #expect(line.hasPrefix("alerts/critical/forest-fire-danger/ft-fw1 "), "\(line)")
        #expect(line.contains("Fire danger level 4 at ft-fw1 in z1 (muong-te)"))
        let p = try await httpJSON(c.baseURL + "/api/v1/raw?series=ft-fw1/fire_danger_p&from=\(at13(6))&to=\(now + 60)")
        let last = ((p["points"] as? [[String: Any]]) ?? []).last.flatMap { ($0["value"] as? NSNumber)?.doubleValue } ?? 0
        #expect(abs(last - 6041.7) < 0.5, "P = \(last)")
        // The zone's and the district's index: the maximum over their stations.
        for scope in ["zone.z1", "unit.muong-te"] {
            let o = try await httpJSON(c.baseURL + "/api/v1/raw?series=\(scope)/fire_danger_level&from=\(at13(6))&to=\(now + 60)")
            #expect(((o["points"] as? [[String: Any]]) ?? []).last.flatMap { ($0["value"] as? NSNumber)?.intValue } == 4, "\(scope)")
        }
        _ = try await c.terminate()
    }

    /// River and rain stations: water alarm level from the catalogue's levels, rate of rise,
    /// and the rolling 24 h rain, across a restart.
    @Test func hydroDerivedSeries() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/sensors", withIntermediateDirectories: true)
        try """
            sensors:
              - {id: hy-d1, kind: hydro, unit: lai-chau-city, interval: 10m, alarm_levels_m: [3.0, 3.8, 4.5]}
            """.write(toFile: dir + "/sensors/catalogue.yaml", atomically: true, encoding: .utf8)
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-hydro", extraYAML: "sensors: \(dir)/sensors")
        try c.start()
        try await c.waitReady()
        let now = Int(Date().timeIntervalSince1970) / 60 * 60
        // Rain over 26 hours: 20 mm 26 h ago (outside the window at the end), then 3 x 10 mm.
        try broker.publish(topic: "telemetry/hy-d1", lines: [
            #"{"ts": \#(now - 26 * 3600), "rain_mm": 20, "level_m": 2.0}"#,
            #"{"ts": \#(now - 20 * 3600), "rain_mm": 10, "level_m": 2.6}"#,
            #"{"ts": \#(now - 3600), "rain_mm": 10, "level_m": 3.1}"#,
        ])
        func last(_ metric: String) async throws -> Double? {
            let o = try? await httpJSON(c.baseURL + "/api/v1/raw?series=hy-d1/\(metric)&from=\(now - 30 * 3600)&to=\(now + 60)")
            return ((o?["points"] as? [[String: Any]]) ?? []).last.flatMap { ($0["value"] as? NSNumber)?.doubleValue }
        }
        try await waitUntil("the first derived values", seconds: 10) { try await last("water_alarm_level") == 1 }
        // Restart: the 24 h window is rebuilt from storage.
        _ = try await c.terminate()
        try c.start()
        try await c.waitReady()
        try broker.publish(topic: "telemetry/hy-d1", lines: [#"{"ts": \#(now - 1800), "rain_mm": 10, "level_m": 3.9}"#])
        try await waitUntil("updated derived values", seconds: 10) { try await last("water_alarm_level") == 2 }
        #expect(try await last("rain_24h_mm") == 30)          // 10 + 10 + 10; the 20 mm is older than 24 h
        #expect(try await last("level_rise_m_h") == 1.6)      // 3.9 - 3.1 over 30 min
        _ = try await c.terminate()
    }

    /// An alert that fires while the broker is unreachable (a silence, decided by the clock)
    /// is on `alerts/#`, retained, once the broker is back.
    @Test func firedWhileBrokerDownIsPublishedOnReconnect() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/sensors", withIntermediateDirectories: true)
        try "sensors: [{id: hy-q1, kind: hydro, unit: muong-te, interval: 1m}]\n"
            .write(toFile: dir + "/sensors/catalogue.yaml", atomically: true, encoding: .utf8)
        try """
            rules: [{name: gauge-silent, severity: warning, match: {sensor: hy-q1}, when: {silent_for: 5s}, summary: "{sensor} silent"}]
            """.write(toFile: dir + "/sensors/rules.yaml", atomically: true, encoding: .utf8)
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-republish", extraYAML: "sensors: \(dir)/sensors")
        try c.start()
        try await c.waitReady()
        try broker.publish(topic: "telemetry/hy-q1", lines: [#"{"level_m": 1.5}"#])
        try await waitUntil("the reading stored", seconds: 10) {
            String(decoding: try await httpGet(c.baseURL + "/api/v1/series").body, as: UTF8.self).contains("hy-q1/level_m")
        }
        broker.stop()
        // The loss is noticed first (the alert connection sees it as the ingest one does), so
        // the alert fires with its connection known to be down. With a 3 s silence and no such
        // wait, the whole suite on a busy machine once failed the count below (likely: the
        // alert fired first and was queued as sent).
        try await waitUntil("the broker's loss noticed", seconds: 10) { (try? await httpGet(c.baseURL + "/readyz").status) != 200 }
        do {
            try await waitUntil("the silence alert firing with the broker down", seconds: 15) {
                try await Self.alerts(c, "firing").count == 1
            }
        } catch {
            Issue.record("\(error); collector log:\n\(c.log())")
            throw error
        }
        try await waitUntil("its MQTT message counted as not sent", seconds: 5) {
            String(decoding: try await httpGet(c.baseURL + "/metrics").body, as: UTF8.self)
                .contains(#"collector_notifications_total{kind="mqtt",url="",outcome="dropped_disconnected"} 1"#)
        }
        try broker.start()
        try await broker.waitReady()
        try await waitUntil("reconnected", seconds: 30) { (try? await httpGet(c.baseURL + "/readyz").status) == 200 }
        var message: String?
        try await waitUntil("the retained alert on alerts/#", seconds: 10) {
            message = try broker.readOne(topic: "alerts/#", seconds: 1)
            return message != nil
        }
        #expect(message?.contains(#""rule":"gauge-silent","subject":"hy-q1","severity":"warning","state":"firing""#) == true)
        _ = try await c.terminate()
    }

    /// An alert storm reads as groups (rule and district), the worst first; one POST
    /// acknowledges a whole group, each member recording who and when, and an alert that
    /// joins the group afterwards is new and unacknowledged. The SSE stream carries each
    /// acknowledgement, so the dashboard's groups stay current.
    @Test func stormsAreGroupedAndAGroupIsAcknowledgedAtOnce() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/sensors", withIntermediateDirectories: true)
        try """
            zones: [{id: z1, kind: forest, unit: muong-te, area_ha: 10}, {id: z2, kind: forest, unit: sin-ho, area_ha: 10}]
            sensors:
            \((1...4).map { "  - {id: ft-m\($0), kind: forest, unit: muong-te, zone: z1, interval: 10m}" }.joined(separator: "\n"))
            \((1...2).map { "  - {id: ft-s\($0), kind: forest, unit: sin-ho, zone: z2, interval: 10m}" }.joined(separator: "\n"))
            """.write(toFile: dir + "/sensors/catalogue.yaml", atomically: true, encoding: .utf8)
        try """
            rules:
              - {name: forest-hot, severity: warning, severity_by_value: {40: critical}, match: {kind: forest, metric: temp_c},
                 when: {above: 35}, summary: "{value} C at {sensor}"}
            """.write(toFile: dir + "/sensors/rules.yaml", atomically: true, encoding: .utf8)
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-groups", extraYAML: "sensors: \(dir)/sensors")
        try c.start()
        try await c.waitReady()
        let now = Int(Date().timeIntervalSince1970)
        for (sensor, t) in [("ft-m1", 36), ("ft-m2", 37), ("ft-m3", 38), ("ft-s1", 41)] {
            try broker.publish(topic: "telemetry/\(sensor)", lines: [#"{"ts": \#(now - 30), "temp_c": \#(t)}"#])
        }
        func groups() async throws -> [[String: Any]] {
            let (_, body) = try await httpGet(c.baseURL + "/api/v1/alert-groups")
            return (try JSONSerialization.jsonObject(with: body) as? [[String: Any]]) ?? []
        }
        func labels(_ g: [String: Any]) -> [String: String] { (g["labels"] as? [String: Any])?.compactMapValues { $0 as? String } ?? [:] }
        try await waitUntil("four alerts in two groups", seconds: 15) { try await groups().map { ($0["count"] as? Int) ?? 0 } == [1, 3] }
        var g = try await groups()
        // The critical group (one alert in sin-ho) comes before the larger warning one.
        #expect(labels(g[0]) == ["rule": "forest-hot", "unit": "sin-ho"] && g[0]["severity"] as? String == "critical")
        #expect(labels(g[1]) == ["rule": "forest-hot", "unit": "muong-te"] && g[1]["unacknowledged"] as? Int == 3)
        #expect(((g[1]["alerts"] as? [[String: Any]]) ?? []).allSatisfy { $0["unit"] as? String == "muong-te" && $0["zone"] as? String == "z1" })

        let sse = try SpawnedProcess(try which("curl"), ["-sN", "--max-time", "20", c.baseURL + "/api/v1/alerts/stream"], logPath: dir + "/sse.out")
        defer { sse.stop() }
        try await waitUntil("the stream is open", seconds: 10) {
            ((try? String(contentsOfFile: dir + "/sse.out", encoding: .utf8)) ?? "").contains("collector alert stream")
        }
        func post(_ body: String) async throws -> (Int, [String: Any]) {
            var req = URLRequest(url: URL(string: c.baseURL + "/api/v1/alert-groups/ack")!)
            req.httpMethod = "POST"
            req.httpBody = Data(body.utf8)
            let (data, resp) = try await URLSession.shared.data(for: req)
            return ((resp as? HTTPURLResponse)?.statusCode ?? 0, (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:])
        }
        let (status, answer) = try await post(#"{"by": "duty-officer", "note": "crews out", "group": {"rule": "forest-hot", "district": "muong-te"}}"#)
        #expect(status == 200 && answer["acknowledged"] as? Int == 3)
        #expect(((answer["alerts"] as? [[String: Any]]) ?? []).allSatisfy { $0["acknowledged_by"] as? String == "duty-officer" && $0["note"] as? String == "crews out" })
        try await waitUntil("the stream carried the three acknowledgements", seconds: 10) {
            ((try? String(contentsOfFile: dir + "/sse.out", encoding: .utf8)) ?? "").components(separatedBy: #""acknowledged_by":"duty-officer""#).count == 4
        }
        // Again: nothing left to acknowledge. The other group is untouched.
        #expect(try await post(#"{"by": "duty-officer", "group": {"rule": "forest-hot", "district": "muong-te"}}"#).1["acknowledged"] as? Int == 0)
        g = try await groups()
        #expect(g.map { $0["unacknowledged"] as? Int } == [1, 0])

        // A fourth station joins the acknowledged group: it is new, and unacknowledged.
        try broker.publish(topic: "telemetry/ft-m4", lines: [#"{"ts": \#(now - 20), "temp_c": 39}"#])
        try await waitUntil("the group has four", seconds: 15) { try await groups().last?["count"] as? Int == 4 }
        #expect(try await groups().last?["unacknowledged"] as? Int == 1)
        // With `ids`, only the members the officer saw: an id outside the group does nothing.
        let newcomer = try #require(((try await groups().last?["alerts"] as? [[String: Any]]) ?? [])
            .first { $0["subject"] as? String == "ft-m4" }?["id"] as? Int)
        let sinHo = try #require(((try await groups().first?["alerts"] as? [[String: Any]]) ?? []).first?["id"] as? Int)
        #expect(try await post(#"{"by": "x", "group": {"rule": "forest-hot", "district": "muong-te"}, "ids": [\#(sinHo)]}"#).1["acknowledged"] as? Int == 0)
        #expect(try await post(#"{"by": "x", "group": {"rule": "forest-hot", "district": "muong-te"}, "ids": [\#(newcomer)]}"#).1["acknowledged"] as? Int == 1)
        #expect(try await post(#"{"by": "x", "group": {"rule": "forest-hot"}, "ids": "all"}"#).0 == 400)

        // Bad requests name what is wrong.
        #expect(try await post(#"{"by": "x", "group": {"colour": "red"}}"#).0 == 400)
        #expect(try await post(#"{"by": "x", "group": {}}"#).0 == 400)
        #expect(try await post(#"{"group": {"rule": "forest-hot"}}"#).0 == 400)
        #expect(try await httpGet(c.baseURL + "/api/v1/alert-groups?by=rule,colour").status == 400)
        #expect(try await httpGet(c.baseURL + "/api/v1/alert-groups?by=zone").status == 200)
        _ = try await c.terminate()
    }

    static func alerts(_ c: CollectorProcess, _ state: String) async throws -> [[String: Any]] {
        let (_, body) = try await httpGet("\(c.baseURL)/api/v1/alerts?state=\(state)")
        return (try JSONSerialization.jsonObject(with: body) as? [[String: Any]]) ?? []
    }
}
