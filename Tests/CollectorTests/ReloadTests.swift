import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
@testable import Collector

/// SIGHUP reloads the catalogue and rules between two batches: nothing is dropped, live alerts
/// of kept rules carry on, those of removed rules resolve, and a bad file keeps the old ones.
@Suite(.serialized) struct ReloadTests {
    @Test func sighupReloadsWithoutDroppingAReading() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sensors = dir + "/sensors"
        try FileManager.default.createDirectory(atPath: sensors, withIntermediateDirectories: true)
        try "sensors: [{id: ft-a1, kind: hydro, unit: muong-te, interval: 10m}]\n"
            .write(toFile: sensors + "/catalogue.yaml", atomically: true, encoding: .utf8)
        try """
            rules:
              - {name: hot-old, severity: warning, match: {metric: temp_c}, when: {above: 35}, summary: "{sensor} {value}"}
              - {name: humid, severity: info, match: {metric: rh_pct}, when: {above: 95}, summary: "{sensor} {value}"}
            """.write(toFile: sensors + "/rules.yaml", atomically: true, encoding: .utf8)
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-reload", extraYAML: "sensors: \(sensors)")
        try c.start()
        try await c.waitReady()
        let now = Int(Date().timeIntervalSince1970)
        try broker.publish(topic: "telemetry/ft-a1", lines: [#"{"ts": \#(now - 100), "temp_c": 36, "rh_pct": 97}"#])
        func firing() async throws -> Set<String> {
            Set(try await AlertsEndToEndTests.alerts(c, "firing").map { "\($0["rule"] as? String ?? "") \($0["subject"] as? String ?? "")" })
        }
        try await waitUntil("both alerts firing", seconds: 10) { try await firing() == ["hot-old ft-a1", "humid ft-a1"] }

        // New files: a second sensor, hot-old replaced by hot-new, humid kept.
        try """
            sensors:
              - {id: ft-a1, kind: hydro, unit: muong-te, interval: 10m}
              - {id: ft-b1, kind: hydro, unit: sin-ho, interval: 10m}
            """.write(toFile: sensors + "/catalogue.yaml", atomically: true, encoding: .utf8)
        try """
            rules:
              - {name: hot-new, severity: warning, match: {metric: temp_c}, when: {above: 30}, summary: "{sensor} in {district}: {value}"}
              - {name: humid, severity: info, match: {metric: rh_pct}, when: {above: 95}, summary: "{sensor} {value}"}
            """.write(toFile: sensors + "/rules.yaml", atomically: true, encoding: .utf8)
        // A stream of readings runs while the signal arrives: none may be dropped. The signal
        // goes once the stream's first readings are stored (so the collector is taking it),
        // and the stream's second half follows at once, while the reload is applied.
        func streamed() async throws -> Int {
            let o = try? await httpJSON(c.baseURL + "/api/v1/raw?series=ft-a1/wind_ms&from=\(now - 6000)&to=\(now)")
            return (o?["points"] as? [[String: Any]])?.count ?? 0
        }
        let lines = (0..<3000).map { #"{"ts": \#(now - 5000 + $0), "wind_ms": \#($0 % 9)}"# }
        let firstHalf = Task.detached { try broker.publish(topic: "telemetry/ft-a1", lines: Array(lines.prefix(1500))) }
        try await waitUntil("the stream's first readings stored", seconds: 10) { try await streamed() > 0 }
        c.signal(SIGHUP)
        try await firstHalf.value
        try broker.publish(topic: "telemetry/ft-a1", lines: Array(lines.dropFirst(1500)))
        try await waitUntil("the reload logged", seconds: 10) { c.log().contains("reloaded the catalogue and rules") }
        try await waitUntil("every streamed reading stored", seconds: 15) { try await streamed() == 3000 }
        // hot-old resolved (its rule is gone); humid carries on without being announced again.
        try await waitUntil("hot-old resolved", seconds: 10) { try await firing() == ["humid ft-a1"] }
        let resolved = try await AlertsEndToEndTests.alerts(c, "resolved")
        #expect(resolved.contains { $0["rule"] as? String == "hot-old" && ($0["summary"] as? String)?.hasSuffix("(rule removed)") == true })
        // The new rule and the new sensor (with its district from the new catalogue).
        try broker.publish(topic: "telemetry/ft-b1", lines: [#"{"ts": \#(now - 50), "temp_c": 31}"#])
        try await waitUntil("hot-new fires for the new sensor", seconds: 10) { try await firing().contains("hot-new ft-b1") }
        let hot = try await AlertsEndToEndTests.alerts(c, "firing").first { $0["rule"] as? String == "hot-new" }
        #expect(hot?["summary"] as? String == "ft-b1 in sin-ho: 31")
        let sensorsJSON = String(decoding: try await httpGet(c.baseURL + "/api/v1/sensors").body, as: UTF8.self)
        #expect(sensorsJSON.contains(#""id":"ft-b1""#))

        // A broken rules file: refused with file:line, the rules in force stay.
        try "rules:\n  - {name: broken, severity: loud, match: {metric: temp_c}, when: {above: 1}}\n"
            .write(toFile: sensors + "/rules.yaml", atomically: true, encoding: .utf8)
        c.signal(SIGHUP)
        try await waitUntil("the refusal logged", seconds: 10) { c.log().contains("reload refused") }
        #expect(c.log().contains("rules.yaml:2"))
        try broker.publish(topic: "telemetry/ft-a1", lines: [#"{"ts": \#(now - 40), "temp_c": 32}"#])
        try await waitUntil("hot-new still in force", seconds: 10) { try await firing().contains("hot-new ft-a1") }
        #expect(try await !firing().contains { $0.hasPrefix("broken") })
        let (status, _) = try await c.terminate()
        #expect(status == 0)
    }

    /// SIGHUP reloads the tokens file: a removed token stops working at once, a new one works
    /// (before, "reloaded" was logged and the revoked token still got 200). An empty config
    /// file is refused and everything stays in force; a change that needs a restart is named.
    @Test func sighupRevokesTokensAndRefusesAnEmptyConfig() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (broker, c) = try await TestTokens.startCollector("it-reload-tokens", in: dir)
        defer { broker.stop() }
        func status(_ token: String) async throws -> Int {
            var r = URLRequest(url: URL(string: c.baseURL + "/api/v1/series")!)
            r.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
            let (_, resp) = try await URLSession.shared.data(for: r)
            return (resp as? HTTPURLResponse)?.statusCode ?? 0
        }
        #expect(try await status(TestTokens.viewer) == 200)
        let newcomer = "newcomer-token-0123456789"
        try """
            tokens:
              - {name: duty-officer, role: operator, token: "\(TestTokens.operatorToken)"}
              - {name: newcomer, role: viewer, token: "\(newcomer)"}
            """.write(toFile: dir + "/tokens.yaml", atomically: true, encoding: .utf8)
        chmod(dir + "/tokens.yaml", 0o600)
        c.signal(SIGHUP)
        try await waitUntil("the viewer token revoked", seconds: 10) { try await status(TestTokens.viewer) == 401 }
        #expect(try await status(newcomer) == 200)
        #expect(try await status(TestTokens.operatorToken) == 200)

        // An empty config file: refused, the tokens stay as they are.
        let config = try String(contentsOfFile: c.configPath, encoding: .utf8)
        try "".write(toFile: c.configPath, atomically: true, encoding: .utf8)
        c.signal(SIGHUP)
        try await waitUntil("the empty config refused", seconds: 10) { c.log().contains("the configuration file is empty") }
        #expect(c.log().contains("reload refused"))
        #expect(try await status(newcomer) == 200)

        // A change that needs a restart: applied at the next start, named now.
        try (config + "\nlimits: {max_series: 5000}\n").write(toFile: c.configPath, atomically: true, encoding: .utf8)
        c.signal(SIGHUP)
        try await waitUntil("the restart-only change named", seconds: 10) {
            c.log().contains("configuration changes that need a restart to take effect") && c.log().contains("keys=limits")
        }
        #expect(try await status(newcomer) == 200)
        _ = try await c.terminate()
    }

    /// Which keys need a restart: equal contents are equal whatever order their dictionaries
    /// were filled in (a description follows hash order); a changed value is named.
    @Test func restartNeededComparesContentNotHashOrder() throws {
        var a = CollectorConfig(), b = CollectorConfig()
        a.notify.webhooks = [.init(url: "http://127.0.0.1:1/hook")]
        b.notify.webhooks = a.notify.webhooks
        for i in 0..<50 { a.notify.webhooks[0].headers["h\(i)"] = "v\(i)" }
        for i in (0..<50).reversed() { b.notify.webhooks[0].headers["h\(i)"] = "v\(i)" }
        #expect(ReloadService.restartNeeded(running: a, file: b, tokensInForce: false).isEmpty)
        b.limits.maxSeries = 5
        #expect(ReloadService.restartNeeded(running: a, file: b, tokensInForce: false) == ["limits"])
    }
}
