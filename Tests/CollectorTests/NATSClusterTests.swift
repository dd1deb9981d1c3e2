import Foundation
import Testing

/// The broker as a cluster: three `nats-server` nodes (JetStream, MQTT 3.1.1 on each) instead of
/// one mosquitto. The collector is given the three nodes (`mqtt.urls`) and keeps a persistent
/// session, which NATS keeps in JetStream, replicated to every node.
@Suite(.serialized) struct NATSClusterTests {
    /// SenML packs of 100 readings, one per line (a QoS 1 publish through NATS waits for
    /// JetStream to store it on a quorum of nodes: packs keep the test short).
    static func packs(_ rs: [(t: Int, v: Double)]) -> [String] {
        stride(from: 0, to: rs.count, by: 100).map { start in
            let records = rs[start..<min(start + 100, rs.count)].map { #"{"n":"temp_c","t":\#($0.t),"v":\#($0.v)}"# }
            return #"[{"bn":"ws-nats-01:"},"# + records.joined(separator: ",") + "]"
        }
    }

    /// The node the collector reads through dies (SIGKILL) while the collector holds a committed
    /// batch whose PUBACKs have not left (fault injection stops it there), and gateways go on
    /// publishing through the other nodes. The collector moves to the next node at once, its
    /// session is still there, NATS redelivers the unacknowledged messages: every reading is
    /// stored exactly once, the redelivered ones are counted as duplicates, and every tier
    /// equals its recompute.
    @Test func aNodeDiesBetweenCommitAndAcknowledgementAndNothingIsLost() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cluster = try NATSCluster(dir: dir)
        defer { cluster.stop() }
        try await cluster.waitReady()

        let collector = try CollectorProcess(dir: dir, brokerPort: 0, clientID: "it-nats", urls: cluster.mqttURLs,
                                             mqttExtra: ["protocol: \"3.1.1\""])
        try collector.start(environment: ["COLLECTOR_FAULT_STOP_AFTER_COMMITS": "3"])
        try await collector.waitReady()
        let series = "ws-nats-01/temp_c"
        let (from, to) = (EndToEndTests.t0 - 86_400, EndToEndTests.t0 + 86_400)
        // One reading first, stored: the collector's QoS 1 subscription (a JetStream consumer) exists.
        let probe = (t: EndToEndTests.t0 - 3_600, v: 1.5)
        try cluster.publish(node: 1, topic: "telemetry/ws-nats-01", lines: [EndToEndTests.line(sensor: "ws-nats-01", probe)])
        try await waitUntil("the first reading stored", seconds: 30) {
            try await EndToEndTests.storedCount(collector, series: series, from: from, to: to) == 1
        }
        #expect(try await httpJSON(collector.baseURL + "/readyz")["mqtt"] as? String == "connected to \(cluster.mqttURLs[0])")

        let total = 20_000
        let rs = EndToEndTests.readings(total)
        let chunks = stride(from: 0, to: total, by: 1000).map { Array(rs[$0..<min($0 + 1000, total)]) }
        for chunk in chunks.prefix(8) {
            try cluster.publish(node: 1, topic: "telemetry/ws-nats-01", lines: Self.packs(chunk))
        }
        try await waitUntil("the collector stopped between a commit and its PUBACKs", seconds: 30) { collector.isStopped }
        try await cluster.kill(0)
        collector.signal(SIGCONT)
        for chunk in chunks.dropFirst(8) {
            try await cluster.publishRetrying(node: 2, topic: "telemetry/ws-nats-01", lines: Self.packs(chunk))
            }
        try await waitUntil("all \(total + 1) readings stored", seconds: 90) {
            try await EndToEndTests.storedCount(collector, series: series, from: from, to: to) >= total + 1
        }
        let ready = try await httpJSON(collector.baseURL + "/readyz")
        let mqtt = ready["mqtt"] as? String ?? ""
        #expect(mqtt.hasPrefix("connected to mqtt://127.0.0.1:") && !mqtt.hasSuffix(":\(cluster.nodes[0].mqtt.port)"), "\(mqtt)")

        let metrics = String(decoding: try await httpGet(collector.baseURL + "/metrics").body, as: UTF8.self)
        let duplicates = metrics.split(separator: "\n").first { $0.hasPrefix(#"collector_readings_total{outcome="duplicate"}"#) }
            .flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
        #expect(duplicates > 0, "no redelivered reading was recognised as stored: the kill missed the window")
        let raw = try await httpJSON("\(collector.baseURL)/api/v1/raw?series=\(series)&from=\(from)&to=\(to)")
        let times = (raw["points"] as? [[String: Any]] ?? []).compactMap { ($0["t"] as? NSNumber)?.intValue }
        #expect(times == [probe.t] + rs.map(\.t))
        #expect(try await EndToEndTests.storedCount(collector, series: series, from: from, to: to) == total + 1)
        #expect(EndToEndTests.same(try await EndToEndTests.rollups(collector, series: series, step: "1h", from: from, to: to),
                                   EndToEndTests.expected([probe] + rs, width: 3600)))
        _ = try await collector.terminate()
        try await verifyStore(configPath: collector.configPath, dir: dir)
    }
}
