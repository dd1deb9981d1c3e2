import Foundation
import Testing

/// A full disk, played by `storage.max_size` (SQLite's max_page_count: a commit past it fails
/// exactly as on a full disk): nothing crashes, acknowledgements are withheld so the broker
/// keeps the messages, /readyz says why, the storage-failing alert fires; when space returns
/// (a bigger cap, SIGHUP) the collector catches up with nothing lost.
@Suite(.serialized) struct DiskFullTests {
    @Test func fullDiskWithholdsAcksAlertsAndCatchesUp() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let broker = try MosquittoBroker(dir: dir, persistent: true)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-diskfull",
                                     storageExtra: ["max_size: 256KB"], extraYAML: "sensors: \(dir)/none")
        try FileManager.default.createDirectory(atPath: dir + "/none", withIntermediateDirectories: true)
        try c.start()
        try await c.waitReady()
        let t0 = 1_795_000_000
        let total = 40_000
        // Values of 16 or 17 significant digits: stored blocks of a steady sensor's readings
        // would take 40,000 of them in a few dozen KB, under the cap.
        for start in stride(from: 0, to: total, by: 5_000) {
            try broker.publish(topic: "telemetry/df-1", lines: (start..<start + 5_000).map { #"{"ts": \#(t0 + $0), "temp_c": \#(sin(Double($0)))}"# })
        }
        try await waitUntil("/readyz reporting the full storage", seconds: 30) {
            let (status, body) = try await httpGet(c.baseURL + "/readyz")
            return status == 503 && String(decoding: body, as: UTF8.self).contains("full")
        }
        // The open endpoint says why, without internals: no SQL statement text.
        let ready = String(decoding: try await httpGet(c.baseURL + "/readyz").body, as: UTF8.self)
        #expect(!ready.contains("executing") && !ready.contains("INSERT"), "\(ready)")
        #expect(c.isRunning)
        try await waitUntil("storage-failing firing", seconds: 10) {
            try await AlertsEndToEndTests.alerts(c, "firing").contains { $0["rule"] as? String == "storage-failing" && $0["severity"] as? String == "critical" }
        }
        // While storage stays full, reconnections back off (1, 2, 4 ... 30 s) instead of
        // coming every second (before: 37 attempts in 37 s, two error lines each).
        func attempts() async throws -> Int {
            let text = String(decoding: try await httpGet(c.baseURL + "/metrics").body, as: UTF8.self)
            let line = text.split(separator: "\n").first { $0.hasPrefix("collector_mqtt_connect_attempts_total ") }
            return Int(Double(line?.split(separator: " ").last ?? "") ?? -1)
        }
        let firstAttempts = try await attempts()
        try await Task.sleep(for: .seconds(8))
        let more = try await attempts() - firstAttempts
        #expect(more <= 4, "\(more) connection attempts in 8 s while storage is full")
        // And it still tries: within the longest back-off (30 s), however far it had backed off
        // by now (on a loaded machine the full disk can take 16 s to show: then 8 s see none).
        try await waitUntil("another connection attempt while storage is full", seconds: 35) {
            try await attempts() > firstAttempts
        }
        func stored() async throws -> Int {
            let o = try? await httpJSON(c.baseURL + "/api/v1/rollups?series=df-1/temp_c&step=1d&from=\(t0 - 86_400)&to=\(t0 + 86_400)")
            return ((o?["points"] as? [[String: Any]]) ?? []).reduce(0) { $0 + (($1["count"] as? NSNumber)?.intValue ?? 0) }
        }
        let before = try await stored()
        #expect(before < total, "the cap should have stopped the stream part way (stored \(before))")

        // Space returns: a bigger cap, read on SIGHUP. The broker redelivers what was not acknowledged.
        let yaml = try String(contentsOfFile: c.configPath, encoding: .utf8).replacingOccurrences(of: "max_size: 256KB", with: "max_size: 256MB")
        try yaml.write(toFile: c.configPath, atomically: true, encoding: .utf8)
        c.signal(SIGHUP)
        try await waitUntil("every reading stored", seconds: 60) { try await stored() == total }
        try await waitUntil("ready again, the alert resolved", seconds: 10) {
            let ready = try await httpGet(c.baseURL + "/readyz").status == 200
            let firing = try await AlertsEndToEndTests.alerts(c, "firing")
            return ready && !firing.contains { $0["rule"] as? String == "storage-failing" }
        }
        let metrics = String(decoding: try await httpGet(c.baseURL + "/metrics").body, as: UTF8.self)
        #expect(!metrics.contains("collector_commit_failures_total 0"))
        let (status, _) = try await c.terminate()
        #expect(status == 0)
    }
}
