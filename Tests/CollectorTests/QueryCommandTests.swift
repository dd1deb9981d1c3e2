import Foundation
import Testing

/// `collector query`: the same answers from a running collector over HTTP and, after it
/// stopped, from the SQLite file read-only; tables, CSV and JSON.
@Suite(.serialized) struct QueryCommandTests {
    static func query(_ args: [String], dir: String) async throws -> (code: Int32?, out: String) {
        try await collectorCLI(["query"] + args, dir: dir, seconds: 30)
    }

    @Test func sameAnswersOverHTTPAndFromTheFile() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-query")
        try c.start()
        try await c.waitReady()
        let now = Int(Date().timeIntervalSince1970) / 3600 * 3600
        // Two hours of one reading a minute: 1h buckets of 60, avg of 0...59 = 29.5.
        try broker.publish(topic: "telemetry/q-1", lines: (0..<120).map { #"{"ts": \#(now - 7200 + $0 * 60), "temp_c": \#($0 % 60)}"# })
        try await waitUntil("stored", seconds: 10) {
            let o = try? await httpJSON(c.baseURL + "/api/v1/raw?series=q-1/temp_c&from=\(now - 7200)&to=\(now)")
            return (o?["points"] as? [[String: Any]])?.count == 120
        }
        // Rollups follow the commits within a second (the merger's own file and thread).
        try await waitUntil("merged", seconds: 10) {
            let o = try? await httpJSON(c.baseURL + "/api/v1/rollups?series=q-1/temp_c&step=1h&from=\(now - 7200)&to=\(now)")
            return (o?["points"] as? [[String: Any]])?.compactMap { $0["count"] as? Int } == [60, 60]
        }
        let common = ["--series", "q-1/temp_c", "--step", "1h", "--from", String(now - 7200), "--to", String(now)]
        let http = try await Self.query(["rollups"] + common + ["--url", c.baseURL, "--format", "json"], dir: dir)
        #expect(http.code == 0, "\(http.out)")
        let table = try await Self.query(["rollups"] + common + ["--url", c.baseURL], dir: dir)
        #expect(table.out.contains("(2 rows)") && table.out.contains(" 60     29.5 "), "\(table.out)")
        let grouped = try await Self.query(["rollups", "--metric", "temp_c", "--group-by", "sensor", "--agg", "max", "--step", "1h",
                                            "--from", String(now - 7200), "--to", String(now), "--url", c.baseURL, "--format", "csv"], dir: dir)
        #expect(grouped.out.hasPrefix("key,t,max\n") && grouped.out.contains("q-1,") && grouped.out.contains(",59\n"), "\(grouped.out)")
        let relative = try await Self.query(["raw", "--series", "q-1/temp_c", "--from=-3h", "--url", c.baseURL, "--format", "csv"], dir: dir)
        #expect(relative.out.split(separator: "\n").count == 121, "header + 120 readings")

        // The daemon stops; the file answers the same, read-only.
        _ = try await c.terminate()
        let file = try await Self.query(["rollups"] + common + ["--db", dir + "/data/collector.sqlite", "--format", "json"], dir: dir)
        #expect(file.code == 0)
        #expect(file.out == http.out)
        let refused = try await Self.query(["rollups"] + common + ["--url", c.baseURL], dir: dir)
        #expect(refused.code == 1 && refused.out.contains("--db reads the file instead"))
        let bad = try await Self.query(["rollups", "--url", c.baseURL], dir: dir)
        #expect(bad.code != 0 && bad.out.contains("rollups need --series"))
    }
}
