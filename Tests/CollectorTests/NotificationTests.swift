import Foundation
import Testing

/// Webhooks and a real Alertmanager (Debian `prometheus-alertmanager`) on loopback.
@Suite(.serialized) struct NotificationTests {
    /// A webhook receiver that answers 500 to its first `fail` requests, then 200; it appends
    /// each accepted body (and its X-Token header) as one line to `out`.
    static let receiver = #"""
    import http.server, sys
    port_file, out, fail = sys.argv[1], sys.argv[2], int(sys.argv[3])
    seen = [0]
    class H(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
            seen[0] += 1
            if seen[0] <= fail:
                self.send_response(500); self.end_headers(); return
            with open(out, 'ab') as f:
                f.write((self.headers.get('X-Token', '') + ' ').encode() + body + b'\n')
            self.send_response(200); self.end_headers()
        def log_message(self, *a): pass
    s = http.server.HTTPServer(('127.0.0.1', 0), H)
    open(port_file, 'w').write(str(s.server_address[1]))
    s.serve_forever()
    """#

    @Test func webhookRetriesAndAlertmanagerReceives() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/sensors", withIntermediateDirectories: true)
        try """
            sensors: [{id: hy-n1, name: Trạm thủy văn Phong Thổ 1, kind: hydro, unit: phong-tho, interval: 10m}]
            """.write(toFile: dir + "/sensors/catalogue.yaml", atomically: true, encoding: .utf8)
        try """
            rules:
              - {name: river-high, severity: warning, severity_by_value: {5: critical}, match: {kind: hydro, metric: level_m},
                 when: {above: 4}, clear: {below: 3.5}, summary: "river at {sensor} is {value} m",
                 summary_vi: "mực nước sông tại {sensor_name} là {value} m"}
            """.write(toFile: dir + "/sensors/rules.yaml", atomically: true, encoding: .utf8)

        // The webhook receiver fails twice: the collector must retry.
        try Self.receiver.write(toFile: dir + "/hook.py", atomically: true, encoding: .utf8)
        let hook = try SpawnedProcess(try which("python3"), [dir + "/hook.py", dir + "/hook.port", dir + "/hook.out", "2"],
                                      logPath: dir + "/hook.log")
        defer { hook.stop() }
        try await waitUntil("the webhook receiver", seconds: 10) { FileManager.default.fileExists(atPath: dir + "/hook.port") }
        let hookPort = try String(contentsOfFile: dir + "/hook.port", encoding: .utf8)

        let amReserved = try ReservedPort()
        defer { withExtendedLifetime(amReserved) {} }
        let amPort = amReserved.port
        try "route: {receiver: 'null'}\nreceivers: [{name: 'null'}]\n".write(toFile: dir + "/am.yml", atomically: true, encoding: .utf8)
        let am = try SpawnedProcess(try which("prometheus-alertmanager"), [
            "--config.file=\(dir)/am.yml", "--storage.path=\(dir)/am", "--web.listen-address=127.0.0.1:\(amPort)",
            "--cluster.listen-address=",
        ], logPath: dir + "/am.log")
        defer { am.stop() }
        try await waitUntil("Alertmanager ready", seconds: 20) { (try? await httpGet("http://127.0.0.1:\(amPort)/-/ready"))?.status == 200 }

        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-notify", extraYAML: """
            sensors: \(dir)/sensors
            language: vi
            notify:
              webhooks: [{url: "http://127.0.0.1:\(hookPort)/hook", headers: {X-Token: s3cret}}]
              alertmanagers: [{url: "http://127.0.0.1:\(amPort)"}]
              retry_base: 100ms
              resend: 1s
            """)
        try c.start()
        try await c.waitReady()
        let now = Int(Date().timeIntervalSince1970)
        try broker.publish(topic: "telemetry/hy-n1", lines: [#"{"ts": \#(now - 60), "level_m": 4.6}"#])

        func hookLines() -> [String] {
            ((try? String(contentsOfFile: dir + "/hook.out", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
        try await waitUntil("the webhook got the firing alert", seconds: 10) { hookLines().count == 1 }
        #expect(hookLines()[0].hasPrefix(#"s3cret {"id":"#))
        #expect(hookLines()[0].contains(#""rule":"river-high","subject":"hy-n1","severity":"warning","state":"firing""#))

        func amAlerts() async throws -> [[String: Any]] {
            let (_, body) = try await httpGet("http://127.0.0.1:\(amPort)/api/v2/alerts")
            return (try JSONSerialization.jsonObject(with: body) as? [[String: Any]]) ?? []
        }
        try await waitUntil("Alertmanager has the alert", seconds: 10) { try await amAlerts().count == 1 }
        let labels = try #require(try await amAlerts().first?["labels"] as? [String: String])
        #expect(labels == ["alertname": "river-high", "severity": "warning", "subject": "hy-n1", "instance": "it-notify",
                           "unit": "phong-tho", "kind": "hydro"])
        let annotations = try await amAlerts().first?["annotations"] as? [String: String]
        // In the configured language, with both texts beside it.
        #expect(annotations?["summary"] == "mực nước sông tại Trạm thủy văn Phong Thổ 1 là 4,6 m")
        #expect(annotations?["summary_en"] == "river at hy-n1 is 4.6 m")
        #expect(hookLines()[0].contains(#""summary":"mực nước sông tại Trạm thủy văn Phong Thổ 1 là 4,6 m","summary_en":"river at hy-n1 is 4.6 m""#))

        // The river rises into the critical band: the webhook hears the alert again, and
        // Alertmanager (which tells alerts apart by their labels) swaps the warning for it.
        try broker.publish(topic: "telemetry/hy-n1", lines: [#"{"ts": \#(now - 45), "level_m": 5.3}"#])
        try await waitUntil("the webhook got the escalation", seconds: 10) { hookLines().count == 2 }
        #expect(hookLines()[1].contains(#""severity":"critical","state":"firing""#))
        try await waitUntil("Alertmanager has only the critical one", seconds: 10) {
            let active = try await amAlerts().compactMap { ($0["labels"] as? [String: String])?["severity"] }
            return active == ["critical"]
        }

        let (_, metrics) = try await httpGet(c.baseURL + "/metrics")
        let text = String(decoding: metrics, as: UTF8.self)
        #expect(text.contains(#"collector_notification_retries_total{kind="webhook",url="http://127.0.0.1:\#(hookPort)/hook"} 2"#), "\(text)")
        #expect(text.contains(#"collector_notifications_total{kind="webhook",url="http://127.0.0.1:\#(hookPort)/hook",outcome="sent"} 2"#))   // fired, escalated

        // Resolved: the webhook hears it, and Alertmanager stops listing it as active.
        try broker.publish(topic: "telemetry/hy-n1", lines: [#"{"ts": \#(now - 30), "level_m": 3.2}"#])
        try await waitUntil("the webhook got the resolution", seconds: 10) { hookLines().count == 3 }
        #expect(hookLines()[2].contains(#""state":"resolved""#))
        try await waitUntil("Alertmanager resolved it", seconds: 10) { try await amAlerts().isEmpty }
        _ = try await c.terminate()
    }

    /// A target that never answers does not hold back ingest or alerts on MQTT, and what it
    /// cannot take is counted as given up.
    @Test func deadTargetDoesNotBlock() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/sensors", withIntermediateDirectories: true)
        try "sensors: [{id: hy-n2, kind: hydro, unit: phong-tho, interval: 10m}]\n"
            .write(toFile: dir + "/sensors/catalogue.yaml", atomically: true, encoding: .utf8)
        try """
            rules: [{name: river-high, severity: warning, match: {metric: level_m}, when: {above: 4}, summary: "{value}"}]
            """.write(toFile: dir + "/sensors/rules.yaml", atomically: true, encoding: .utf8)
        let dead = try ReservedPort()     // reserved, and nothing listens there
        defer { withExtendedLifetime(dead) {} }
        let deadPort = dead.port
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-dead", extraYAML: """
            sensors: \(dir)/sensors
            notify: {webhooks: [{url: "http://127.0.0.1:\(deadPort)/"}], retry_base: 50ms, max_attempts: 3}
            """)
        try c.start()
        try await c.waitReady()
        let now = Int(Date().timeIntervalSince1970)
        try broker.publish(topic: "telemetry/hy-n2", lines: (0..<20).map { #"{"ts": \#(now - 600 + $0), "level_m": \#($0 % 2 == 0 ? 4.5 : 3.0)}"# })
        try await waitUntil("every reading stored", seconds: 10) {
            let o = try? await httpJSON(c.baseURL + "/api/v1/raw?series=hy-n2/level_m&from=\(now - 700)&to=\(now)")
            return (o?["points"] as? [[String: Any]])?.count == 20
        }
        // Ten times fired and resolved: 10 alerts, 20 notifications.
        #expect(try await AlertsEndToEndTests.alerts(c, "resolved").count == 10)
        try await waitUntil("the dead target's notifications given up", seconds: 10) {
            let text = String(decoding: try await httpGet(c.baseURL + "/metrics").body, as: UTF8.self)
            return text.contains(#"outcome="given_up"} 20"#)
        }
        let (status, _) = try await c.terminate()
        #expect(status == 0)
    }
}
