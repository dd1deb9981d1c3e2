import Foundation
import Synchronization
import Testing

/// Flood risk, AQI, energy loss, outage and congestion through the real broker and SQLite,
/// with the values worked by hand in DerivedIndexTests.
@Suite(.serialized) struct DerivedEndToEndTests {
    @Test func floodAirPowerTraffic() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/sensors", withIntermediateDirectories: true)
        try """
            sensors:
              - {id: hy-r1, kind: hydro, unit: sin-ho, interval: 10m}
              - {id: hy-r2, kind: hydro, unit: sin-ho, interval: 10m}
              - {id: aq-1, kind: environment, unit: lai-chau-city, interval: 10m}
              - {id: tr-1, kind: meter, role: feeder, unit: tam-duong, zone: tr1, interval: 15m}
              - {id: c-1, kind: meter, role: customer, unit: tam-duong, zone: tr1, interval: 15m}
              - {id: c-2, kind: meter, role: customer, unit: tam-duong, zone: tr1, interval: 15m}
              - {id: c-3, kind: meter, role: customer, unit: tam-duong, zone: tr1, interval: 15m}
              - {id: tf-1, kind: traffic, unit: lai-chau-city, zone: j1, interval: 1m, free_flow_kmh: 40}
              - {id: f-2, kind: meter, role: feeder, unit: tan-uyen, zone: tr2, interval: 2s}
              - {id: d-2, kind: meter, role: customer, unit: tan-uyen, zone: tr2, interval: 2s}
              - {id: e-2, kind: meter, role: customer, unit: tan-uyen, zone: tr2, interval: 2s}
              - {id: g-2, kind: meter, role: customer, unit: tan-uyen, zone: tr2, interval: 2s}
            """.write(toFile: dir + "/sensors/catalogue.yaml", atomically: true, encoding: .utf8)
        try """
            rules:
              - {name: flood-risk, severity: critical, match: {kind: hydro, metric: flood_risk_level}, when: {at_least: 1},
                 summary: "flood risk {value} at {sensor}"}
              - {name: energy-loss-high, severity: warning, match: {kind: meter, metric: energy_loss_pct}, when: {above: 10},
                 summary: "transformer {zone} lost {value} %"}
              - {name: transformer-outage, severity: critical, match: {kind: meter, metric: meters_silent_pct},
                 when: {at_least: 50}, clear: {below: 20}, summary: "outage at {zone} ({district}): {value} %"}
            """.write(toFile: dir + "/sensors/rules.yaml", atomically: true, encoding: .utf8)
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-derived",
                                     extraYAML: "sensors: \(dir)/sensors\ncoverage: {interval: 1s}\nderived: {outage_silent_intervals: 3}")
        try c.start()
        try await c.waitReady()
        let now = Int(Date().timeIntervalSince1970) / 60 * 60
        func last(_ series: String) async throws -> Double? {
            let o = try? await httpJSON(c.baseURL + "/api/v1/raw?series=\(series)&from=\(now - 20 * 86_400)&to=\(now + 120)")
            return ((o?["points"] as? [[String: Any]]) ?? []).last.flatMap { ($0["value"] as? NSNumber)?.doubleValue }
        }
        func firing() async throws -> [String] {
            try await AlertsEndToEndTests.alerts(c, "firing").compactMap { a in
                (a["rule"] as? String).map { "\($0) \(a["subject"] as? String ?? "")" }
            }
        }

        // Flood: 15 mm at noon on each of the two local days before the day the 24 h window
        // starts in (two earlier rainy days), then 80 + 70 mm within the last 24 h -> level 1.
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "Asia/Ho_Chi_Minh")!
        let windowDay = cal.startOfDay(for: Date(timeIntervalSince1970: Double(now - 86_400)))
        let noon = { (back: Int) in Int(cal.date(byAdding: .day, value: -back, to: windowDay)!.timeIntervalSince1970) + 12 * 3600 }
        try broker.publish(topic: "telemetry/hy-r1", lines: [
            #"{"ts": \#(noon(1)), "rain_mm": 15}"#, #"{"ts": \#(noon(2)), "rain_mm": 15}"#,
            #"{"ts": \#(now - 7200), "rain_mm": 70}"#, #"{"ts": \#(now - 3600), "rain_mm": 80}"#,
        ])

        // Air: hourly PM2.5 means 20, 30, 40 over the last three complete hours -> NowCast
        // 34.29 -> AQI 69, stamped at the last complete hour's start; the spike in the hour in
        // progress is left out.
        let hour = now / 3600 * 3600
        try broker.publish(topic: "telemetry/aq-1", lines: [
            #"{"ts": \#(hour - 10800 + 60), "pm25_ugm3": 20}"#, #"{"ts": \#(hour - 10800 + 1800), "pm25_ugm3": 20}"#,
            #"{"ts": \#(hour - 7200 + 60), "pm25_ugm3": 30}"#,
            #"{"ts": \#(hour - 3600 + 0), "pm25_ugm3": 35}"#, #"{"ts": \#(hour - 3600 + 1), "pm25_ugm3": 45}"#,
            #"{"ts": \#(hour), "pm25_ugm3": 400}"#,
        ])

        // Power, an hour three hours ago: the feeder delivers 4 x 25 = 100 kWh, the customers
        // use 40 + 20 + 25 = 85 -> 15 % lost. (Those readings arrived just now: no outage.)
        let h0 = hour - 3 * 3600
        var lines: [String] = []
        for q in 0..<4 {
            let t = h0 + q * 900
            lines.append(#"{"ts": \#(t), "sensor": "tr-1", "kwh": 25}"#)
            lines.append(#"{"ts": \#(t), "sensor": "c-1", "kwh": 10}"#)
            lines.append(#"{"ts": \#(t), "sensor": "c-2", "kwh": 5}"#)
            lines.append(#"{"ts": \#(t), "sensor": "c-3", "kwh": 6.25}"#)
        }
        // They arrive in two parts: meters not heard from yet are not silent before 3 intervals
        // (outage_silent_intervals) have passed since the transformer was first heard from.
        let (first, rest) = (lines.filter { $0.contains("tr-1") || $0.contains("c-1") }, lines.filter { $0.contains("c-2") || $0.contains("c-3") })
        try broker.publish(topic: "telemetry/meters", lines: first.shuffled())
        try await waitUntil("tr1's first silent share", seconds: 10) { try await last("transformer.tr1/meters_silent_pct") != nil }
        #expect(try await last("transformer.tr1/meters_silent_pct") == 0)
        try broker.publish(topic: "telemetry/meters", lines: rest.shuffled())

        // Transformer tr2's meters (2 s interval, silent after 3 intervals) report once, then go silent: an outage.
        let meters2 = ["f-2", "d-2", "e-2", "g-2"]
        try broker.publish(topic: "telemetry/meters", lines: meters2.map { #"{"sensor": "\#($0)", "voltage_v": 230}"# })

        // Traffic: 20 km/h against 40 free flow -> congestion 0.5, travel-time index 2.
        try broker.publish(topic: "telemetry/tf-1", lines: [#"{"ts": \#(now - 60), "speed_kmh": 20}"#])

        try await waitUntil("flood, air, power and traffic derived", seconds: 25) {
            let silent = try await last("transformer.tr2/meters_silent_pct"), congestion = try await last("tf-1/congestion")
            let flood = try await last("hy-r1/flood_risk_level"), aqi = try await last("aq-1/aqi")
            return silent == 100 && congestion != nil && flood != nil && aqi == 69
        }
        #expect(try await last("hy-r1/rain_24h_mm") == 150)
        #expect(try await last("hy-r1/flood_risk_level") == 1)
        // A second station of the district, dry, reports twice after it: the district keeps the
        // maximum. Levels are stored when they change or 15 minutes after the last stored one:
        // the second reading, 5 minutes later, changes neither level, so neither is stored again.
        try broker.publish(topic: "telemetry/hy-r2", lines: [#"{"ts": \#(now - 600), "rain_mm": 2}"#, #"{"ts": \#(now - 300), "rain_mm": 1}"#])
        try await waitUntil("the second station's rain", seconds: 10) { try await last("hy-r2/rain_24h_mm") == 3 }
        func points(_ series: String) async throws -> [(t: Int, v: Double)] {
            let o = try await httpJSON(c.baseURL + "/api/v1/raw?series=\(series)&from=\(now - 20 * 86_400)&to=\(now + 120)")
            return ((o["points"] as? [[String: Any]]) ?? []).compactMap { p in
                guard let t = (p["t"] as? NSNumber)?.intValue, let v = (p["value"] as? NSNumber)?.doubleValue else { return nil }
                return (t, v)
            }
        }
        let r2 = try await points("hy-r2/flood_risk_level"), district = try await points("unit.sin-ho/flood_risk_level")
        #expect(r2.map(\.t) == [now - 600] && r2.map(\.v) == [0], "\(r2)")
        #expect(district.last?.t == now - 600 && district.last?.v == 1, "\(district)")
        #expect(try await points("hy-r1/flood_risk_level").map(\.v).last == 1)
        let aqi = try await points("aq-1/aqi")
        #expect(aqi.last?.t == hour - 3600 && aqi.last?.v == 69, "\(aqi)")
        #expect(try await last("aq-1/aqi_24h") == nil)                      // three hours are not a day
        #expect(try await last("transformer.tr1/energy_loss_pct") == 15)
        let o = try await httpJSON(c.baseURL + "/api/v1/raw?series=transformer.tr1/energy_loss_pct&from=\(now - 86_400)&to=\(now + 60)")
        #expect(((o["points"] as? [[String: Any]])?.first?["t"] as? NSNumber)?.intValue == h0)   // stored at the hour's start
        #expect(try await last("tf-1/congestion") == 0.5)
        #expect(try await last("tf-1/travel_time_index") == 2)
        #expect(try await last("junction.j1/congestion") == 0.5)
        try await waitUntil("three alerts firing", seconds: 10) { try await firing().count == 3 }
        #expect(Set(try await firing()) == ["flood-risk hy-r1", "energy-loss-high transformer.tr1", "transformer-outage transformer.tr2"])
        #expect(try await last("transformer.tr1/meters_silent_pct") == 0)   // a backlog arriving is not an outage
        let outage = try await AlertsEndToEndTests.alerts(c, "firing").first { $0["rule"] as? String == "transformer-outage" }
        #expect(outage?["summary"] as? String == "outage at tr2 (tan-uyen): 100 %")

        // Power back: every meter reports, every half second from a thread of its own (not a
        // task: a loaded machine's busy task pool, or a slow check, must not leave them silent
        // for 3 intervals and raise a second outage); the outage resolves (one alert, one
        // resolution).
        let stop = Atomic<Bool>(false)
        let stopped = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            while !stop.load(ordering: .acquiring) {
                try? broker.publish(topic: "telemetry/meters", lines: meters2.map { #"{"sensor": "\#($0)", "voltage_v": 229}"# })
                Thread.sleep(forTimeInterval: 0.5)
            }
            stopped.signal()
        }
        try await waitUntil("the outage resolved", seconds: 15) { try await !firing().contains("transformer-outage transformer.tr2") }
        stop.store(true, ordering: .releasing)
        stopped.wait()   // (its last publish is in before the gasps)
        // Two last gasps while the other two go on reporting: half the meters are down at once.
        try broker.publish(topic: "telemetry/meters", lines: [#"{"sensor": "e-2", "last_gasp": 1}"#, #"{"sensor": "g-2", "last_gasp": 1}"#])
        try await waitUntil("the outage fires on last gasps", seconds: 15) {
            try broker.publish(topic: "telemetry/meters", lines: [#"{"sensor": "f-2", "voltage_v": 228}"#, #"{"sensor": "d-2", "voltage_v": 228}"#])
            return try await firing().contains("transformer-outage transformer.tr2")
        }
        let shares = try await httpJSON(c.baseURL + "/api/v1/raw?series=transformer.tr2/meters_silent_pct&from=\(now - 60)&to=\(now + 120)")
        #expect(((shares["points"] as? [[String: Any]]) ?? []).contains { ($0["value"] as? NSNumber)?.doubleValue == 50 }, "\(shares)")
        let all = try await AlertsEndToEndTests.alerts(c, "all").filter { $0["rule"] as? String == "transformer-outage" }
        #expect(all.count == 2, "one alert per outage for the transformer, not one per meter: \(all)")
        _ = try await c.terminate()
    }

    /// One rain gauge (`id`, in a `susceptibility` area) in a catalogue of its own with no
    /// rules, its broker, and a collector on them (not started).
    static func gaugeOnly(_ id: String, susceptibility: String, clientID: String, dir: String,
                          extraYAML: String = "") async throws -> (MosquittoBroker, CollectorProcess) {
        try FileManager.default.createDirectory(atPath: dir + "/sensors", withIntermediateDirectories: true)
        try """
            sensors:
              - {id: \(id), kind: hydro, unit: sin-ho, interval: 10m, susceptibility: \(susceptibility), metrics: {rain_mm: {unit: mm}}}
            """.write(toFile: dir + "/sensors/catalogue.yaml", atomically: true, encoding: .utf8)
        try "rules: []\n".write(toFile: dir + "/sensors/rules.yaml", atomically: true, encoding: .utf8)
        let broker = try MosquittoBroker(dir: dir)
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: clientID,
                                     extraYAML: "sensors: \(dir)/sensors\n" + extraYAML)
        return (broker, c)
    }

    /// The points of `series` over the last three days.
    static func points(_ c: CollectorProcess, _ series: String) async throws -> [(t: Int, v: Double)] {
        let now = Int(Date().timeIntervalSince1970)
        let o = try await httpJSON(c.baseURL + "/api/v1/raw?series=\(series)&from=\(now - 3 * 86_400)&to=\(now + 60)")
        return ((o["points"] as? [[String: Any]]) ?? []).compactMap { p in
            guard let t = (p["t"] as? NSNumber)?.intValue, let v = (p["value"] as? NSNumber)?.doubleValue else { return nil }
            return (t, v)
        }
    }

    /// A gauge that reports only when it rains: its 24 h sum and flood-risk level fall as the
    /// rain leaves the window, with no new reading, also when that happens while the collector
    /// is down (the first tick after the start rebuilds a gauge whose stored sum is above 0).
    @Test func rainSumFallsWithTimeAlsoAfterARestart() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (broker, c) = try await Self.gaugeOnly("hy-t1", susceptibility: "medium", clientID: "it-rain-tick", dir: dir,
                                                   extraYAML: "coverage: {interval: 1s}\nderived: {rain_quiet_after: 2s}")
        defer { broker.stop() }
        try c.start()
        try await c.waitReady()
        func points(_ metric: String) async throws -> [(t: Int, v: Double)] { try await Self.points(c, "hy-t1/\(metric)") }
        // 120 mm that leaves the 24 h window 20 s from now, after a wet day (15 mm just before
        // the window): level 1 (100-200 mm after 1-2 days, medium area).
        let t = Int(Date().timeIntervalSince1970) - 86_400 + 20
        try broker.publish(topic: "telemetry/hy-t1", lines: [#"{"ts": \#(t - 86_401), "rain_mm": 15}"#, #"{"ts": \#(t), "rain_mm": 120}"#])
        try await waitUntil("the 24 h sum and the level", seconds: 10) {
            let sum = try await points("rain_24h_mm").last?.v, level = try await points("flood_risk_level").last?.v
            return sum == 120 && level == 1
        }
        _ = try await c.terminate()
        // The rain leaves the window while the collector is down.
        try await waitUntil("the rain to leave the 24 h window", seconds: 40) { Int(Date().timeIntervalSince1970) > t + 86_400 }
        try c.start()
        try await c.waitReady()
        try await waitUntil("the sum and the level back to 0 with no new reading", seconds: 15) {
            let sum = try await points("rain_24h_mm").last?.v, level = try await points("flood_risk_level").last?.v
            return sum == 0 && level == 0
        }
        // Stamped when the rain left the window.
        #expect(try await points("rain_24h_mm").last?.t == t + 86_400)
        #expect(try await points("flood_risk_level").last?.t == t + 86_400)
        _ = try await c.terminate()
    }

    /// A kill after the commit of a gauge's readings and before the commit of the readings
    /// derived from them (the collector stops itself after the commit, fault injection): the
    /// next start derives them from the journal. Before, they were lost for good: the broker
    /// redelivers the inputs, which are duplicates by then and derive nothing.
    @Test func derivedReadingsSurviveAKillBeforeTheirCommit() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (broker, c) = try await Self.gaugeOnly("hy-k1", susceptibility: "high", clientID: "it-derived-kill", dir: dir)
        defer { broker.stop() }
        try c.start(environment: ["COLLECTOR_FAULT_STOP_AFTER_COMMITS": "1"])
        try await c.waitReady()
        let now = Int(Date().timeIntervalSince1970)
        // One message: a wet day, then 150 mm in the last hours: level 2 (high area).
        try broker.publishOne(topic: "telemetry/hy-k1", payload: #"[{"bn": "hy-k1:", "n": "rain_mm", "t": \#(now - 86_400 - 3_600), "v": 20}, {"n": "rain_mm", "t": \#(now - 3_600), "v": 150}]"#)
        try await waitUntil("the collector stopped after committing the readings", seconds: 20) { c.isStopped }
        try await c.kill()
        // `collector verify` leaves the waiting readings to the next start and says so.
        let before = try await verifyStore(configPath: c.configPath, dir: dir)
        #expect(before.contains("verify: derived: not compared: 2 readings of a killed run wait"), "\(before)")
        try c.start()
        try await c.waitReady()
        func last(_ metric: String) async throws -> Double? { (try? await Self.points(c, "hy-k1/\(metric)"))?.last?.v }
        try await waitUntil("the derived readings, from the journal", seconds: 20) {
            let sum = try await last("rain_24h_mm"), level = try await last("flood_risk_level")
            return sum == 150 && level == 2
        }
        #expect(c.log().contains("derived series recomputed for readings committed before the last stop"))
        _ = try await c.terminate()
        // A clean stop records how far derived readings go: nothing to recompute at the next start.
        try c.start()
        try await c.waitReady()
        _ = try await c.terminate()
        #expect(c.log().components(separatedBy: "derived series recomputed").count == 2, "recomputed once only")
        let after = try await verifyStore(configPath: c.configPath, dir: dir)
        #expect(after.contains(" 0 differ") && after.contains("verify: derived: "), "\(after)")
    }
}
