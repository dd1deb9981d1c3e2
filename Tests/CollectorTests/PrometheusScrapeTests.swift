import Foundation
import Testing

/// A real Prometheus (Debian `prometheus`) on loopback scrapes `/metrics`, and a query over its
/// API returns the collector's own metrics.
@Suite(.serialized) struct PrometheusScrapeTests {
    @Test func prometheusScrapesAndAnswers() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        try FileManager.default.createDirectory(atPath: dir + "/none", withIntermediateDirectories: true)
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-prom", extraYAML: "sensors: \(dir)/none")
        try c.start()
        try await c.waitReady()
        let now = Int(Date().timeIntervalSince1970)
        try broker.publish(topic: "telemetry/p-1", lines: (0..<25).map { #"{"ts": \#(now - 100 + $0), "temp_c": \#($0)}"# })

        let reserved = try ReservedPort()
        defer { withExtendedLifetime(reserved) {} }
        let port = reserved.port
        try """
            global: {scrape_interval: 1s, evaluation_interval: 1s}
            scrape_configs:
              - job_name: collector
                static_configs: [{targets: ["127.0.0.1:\(c.httpPort)"]}]
            """.write(toFile: dir + "/prometheus.yml", atomically: true, encoding: .utf8)
        let prom = try SpawnedProcess(try which("prometheus"), [
            "--config.file=\(dir)/prometheus.yml", "--storage.tsdb.path=\(dir)/tsdb", "--web.listen-address=127.0.0.1:\(port)",
        ], logPath: dir + "/prometheus.log")
        defer { prom.stop() }
        func query(_ q: String) async throws -> [[String: Any]] {
            let enc = q.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? q
            guard let o = try? await httpJSON("http://127.0.0.1:\(port)/api/v1/query?query=\(enc)") else { return [] }
            return ((o["data"] as? [String: Any])?["result"] as? [[String: Any]]) ?? []
        }
        var result: [[String: Any]] = []
        try await waitUntil("Prometheus has scraped the stored readings", seconds: 40) {
            result = try await query(#"collector_readings_total{outcome="stored"}"#)
            return (result.first?["value"] as? [Any])?.last as? String == "25"
        }
        #expect((result.first?["metric"] as? [String: String])?["job"] == "collector")
        let up = try await query(#"up{job="collector"}"#)
        #expect((up.first?["value"] as? [Any])?.last as? String == "1")
        let connected = try await query("collector_mqtt_connected")
        #expect((connected.first?["value"] as? [Any])?.last as? String == "1")
        // Loop lag, queue depth, readings waiting for `raw`, alerts by state and HTTP
        // durations are there too.
        for name in ["collector_loop_lag_seconds", "collector_queue_messages", "collector_raw_pending_readings",
                     #"collector_alerts{state="firing"}"#, "collector_http_request_duration_seconds_count"] {
            #expect(try await !query(name).isEmpty, "\(name)")
        }
        // The last commit's wall-clock time: the readings above were committed since the start.
        let committed = try await query("collector_last_commit_timestamp_seconds")
        let at = ((committed.first?["value"] as? [Any])?.last as? String).flatMap(Double.init)
        #expect(at.map { $0 >= Double(now) - 1 && $0 <= Date().timeIntervalSince1970 } == true, "\(String(describing: at))")
        _ = try await c.terminate()
    }
}
