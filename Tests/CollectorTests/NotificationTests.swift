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

    /// Two Alertmanager peers gossiping (a cluster, as a province runs them for no single point
    /// of failure), both given every alert by the collector: a burst of alerts reaches the
    /// receiver behind them at least once each; one peer killed with SIGKILL, the next burst
    /// still does. Duplicates (an alert notified by both peers) are counted and reported.
    @Test func anAlertmanagerClusterLosesNoAlertWhenAPeerDies() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/sensors", withIntermediateDirectories: true)
        try ("sensors:\n" + (1...10).map { "  - {id: hy-c\($0), kind: hydro, unit: phong-tho, interval: 10m}" }.joined(separator: "\n") + "\n")
            .write(toFile: dir + "/sensors/catalogue.yaml", atomically: true, encoding: .utf8)
        try """
            rules: [{name: river-high, severity: warning, match: {metric: level_m}, when: {above: 4}, summary: "river at {sensor}: {value} m"}]
            """.write(toFile: dir + "/sensors/rules.yaml", atomically: true, encoding: .utf8)
        try Self.receiver.write(toFile: dir + "/hook.py", atomically: true, encoding: .utf8)
        let hook = try SpawnedProcess(try which("python3"), [dir + "/hook.py", dir + "/hook.port", dir + "/hook.out", "0"], logPath: dir + "/hook.log")
        defer { hook.stop() }
        try await waitUntil("the receiver", seconds: 10) { FileManager.default.fileExists(atPath: dir + "/hook.port") }
        let hookPort = try String(contentsOfFile: dir + "/hook.port", encoding: .utf8)
        // One notification per alert (grouped by subject), sent a second after it arrives.
        try """
            route: {receiver: hook, group_by: [alertname, subject], group_wait: 1s, group_interval: 1s, repeat_interval: 1h}
            receivers: [{name: hook, webhook_configs: [{url: "http://127.0.0.1:\(hookPort)/", send_resolved: false}]}]
            """.write(toFile: dir + "/am.yml", atomically: true, encoding: .utf8)
        let ports = try (0..<4).map { _ in try ReservedPort() }
        defer { withExtendedLifetime(ports) {} }
        let (web1, web2, gossip1, gossip2) = (ports[0].port, ports[1].port, ports[2].port, ports[3].port)
        func peer(_ n: Int, web: Int, gossip: Int, join: Int?) throws -> SpawnedProcess {
            try SpawnedProcess(try which("prometheus-alertmanager"), [
                "--config.file=\(dir)/am.yml", "--storage.path=\(dir)/am\(n)", "--web.listen-address=127.0.0.1:\(web)",
                "--cluster.listen-address=127.0.0.1:\(gossip)", "--cluster.advertise-address=127.0.0.1:\(gossip)",
                "--cluster.peer-timeout=5s", "--cluster.gossip-interval=200ms", "--cluster.pushpull-interval=2s",
                "--cluster.probe-interval=300ms", "--cluster.probe-timeout=200ms", "--cluster.settle-timeout=5s",
            ] + (join.map { ["--cluster.peer=127.0.0.1:\($0)"] } ?? []), logPath: dir + "/am\(n).log")
        }
        // The first peer, then the second joining it (as a cluster is brought up).
        let am1 = try peer(1, web: web1, gossip: gossip1, join: nil)
        defer { am1.stop() }
        try await waitUntil("the first Alertmanager ready", seconds: 30) { (try? await httpGet("http://127.0.0.1:\(web1)/-/ready"))?.status == 200 }
        let am2 = try peer(2, web: web2, gossip: gossip2, join: gossip1)
        defer { am2.stop() }
        try await waitUntil("the second Alertmanager ready", seconds: 30) { (try? await httpGet("http://127.0.0.1:\(web2)/-/ready"))?.status == 200 }
        try await waitUntil("the peers see each other", seconds: 30) {
            let o = try? await httpJSON("http://127.0.0.1:\(web1)/api/v2/status")
            return ((o?["cluster"] as? [String: Any])?["peers"] as? [Any])?.count == 2
        }

        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-am-cluster", extraYAML: """
            sensors: \(dir)/sensors
            notify:
              alertmanagers: [{url: "http://127.0.0.1:\(web1)"}, {url: "http://127.0.0.1:\(web2)"}]
              retry_base: 100ms
              resend: 1s
            """)
        try c.start()
        try await c.waitReady()
        /// Firing notifications per subject, as the receiver got them.
        func notified() -> [String: Int] {
            var counts: [String: Int] = [:]
            for line in ((try? String(contentsOfFile: dir + "/hook.out", encoding: .utf8)) ?? "").split(separator: "\n") {
                guard let body = line.firstIndex(of: "{"),
                      let o = try? JSONSerialization.jsonObject(with: Data(line[body...].utf8)) as? [String: Any] else { continue }
                for a in (o["alerts"] as? [[String: Any]]) ?? [] where a["status"] as? String == "firing" {
                    if let s = (a["labels"] as? [String: String])?["subject"] { counts[s, default: 0] += 1 }
                }
            }
            return counts
        }
        let now = Int(Date().timeIntervalSince1970)
        for k in 1...5 { try broker.publish(topic: "telemetry/hy-c\(k)", lines: [#"{"ts": \#(now - 60), "level_m": 4.8}"#]) }
        try await waitUntil("the first burst notified", seconds: 60) { Set(notified().keys) == Set((1...5).map { "hy-c\($0)" }) }
        // Both peers alive: once the second has waited its turn (peer_timeout) it finds the
        // first one's notifications in the gossiped log and sends none of its own.
        try await Task.sleep(for: .seconds(8))
        let healthyDuplicates = notified().values.reduce(0) { $0 + $1 - 1 }

        // One peer dies; the collector keeps sending to both, the survivor notifies.
        am1.signal(SIGKILL)
        for k in 6...10 { try broker.publish(topic: "telemetry/hy-c\(k)", lines: [#"{"ts": \#(now - 30), "level_m": 4.9}"#]) }
        try await waitUntil("the second burst notified by the surviving peer", seconds: 90) {
            Set(notified().keys) == Set((1...10).map { "hy-c\($0)" })
        }
        let counts = notified()
        let duplicates = counts.values.reduce(0) { $0 + $1 - 1 }
        #expect(counts.count == 10 && counts.values.allSatisfy { $0 >= 1 })
        // Reported, not hidden: how many alerts both peers notified (the gossip usually
        // prevents it; a peer that dies mid-flush, or before it gossiped, leaves one).
        print("alertmanager cluster: 10 alerts notified; duplicates: \(healthyDuplicates) with both peers up, \(duplicates) in all: \(counts.sorted { $0.key < $1.key })")
        #expect(healthyDuplicates == 0, "the peers' gossip should have kept the first burst to one notification each")
        let text = String(decoding: try await httpGet(c.baseURL + "/metrics").body, as: UTF8.self)
        #expect(text.contains(#"collector_notifications_total{kind="alertmanager",url="http://127.0.0.1:\#(web2)/api/v2/alerts",outcome="sent"}"#))
        _ = try await c.terminate()
    }
}
