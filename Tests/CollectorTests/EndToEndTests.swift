import Foundation
import Testing

/// The foundation's promise, from the outside: a real mosquitto, the real daemon as a child
/// process, real HTTP, a real SQLite file in a temporary directory.
@Suite(.serialized) struct EndToEndTests {
    static let t0 = 1_795_000_000   // 2026-11-18T11:06:40Z: not aligned to any bucket on purpose

    /// `count` readings, one per second, value = a multiple of 0.25 (so sums are exact in binary).
    static func readings(_ count: Int) -> [(t: Int, v: Double)] {
        (0..<count).map { i in (t0 + i, Double((i * 37) % 1000 - 500) / 4) }
    }

    static func line(sensor: String, _ r: (t: Int, v: Double)) -> String {
        "{\"sensor\":\"\(sensor)\",\"ts\":\(r.t),\"temp_c\":\(r.v)}"
    }

    /// The expected rollup rows for a bucket width in seconds, as the API spells them.
    static func expected(_ rs: [(t: Int, v: Double)], width: Int) -> [[String: Double]] {
        var buckets: [Int: [(t: Int, v: Double)]] = [:]
        for r in rs { buckets[r.t - ((r.t % width) + width) % width, default: []].append(r) }
        return buckets.keys.sorted().map { start in
            let b = buckets[start]!.sorted { $0.t < $1.t }
            let sum = b.reduce(0) { $0 + $1.v }
            return ["t": Double(start), "count": Double(b.count), "sum": sum, "min": b.map(\.v).min()!,
                    "max": b.map(\.v).max()!, "avg": sum / Double(b.count), "first": b.first!.v, "last": b.last!.v]
        }
    }

    /// Equal rollup rows: every field exact, except `avg`, which JSON parsing on Linux may
    /// read back one ulp off (the server prints the shortest round-trip form of sum/count).
    static func same(_ a: [[String: Double]], _ b: [[String: Double]]) -> Bool {
        guard a.count == b.count else { return false }
        for (x, y) in zip(a, b) {
            guard Set(x.keys) == Set(y.keys) else { return false }
            for (k, v) in x {
                let w = y[k]!
                if k == "avg" ? abs(v - w) > 1e-12 * max(1, abs(w)) : v != w { return false }
            }
        }
        return true
    }

    static func rollups(_ c: CollectorProcess, series: String, step: String, from: Int, to: Int) async throws -> [[String: Double]] {
        let o = try await httpJSON("\(c.baseURL)/api/v1/rollups?series=\(series)&step=\(step)&from=\(from)&to=\(to)")
        let points = o["points"] as? [[String: Any]] ?? []
        return points.map { p in p.compactMapValues { ($0 as? NSNumber)?.doubleValue } }
    }

    /// The reading times (seconds) of `series` in the store's file, as a separate reader of
    /// the file sees them (`collector query raw --db`: not the daemon's memory).
    static func storedTimes(_ c: CollectorProcess, series: String, from: Int, to: Int) async throws -> [Int] {
        let dir = (c.configPath as NSString).deletingLastPathComponent
        let (code, out) = try await collectorCLI(["query", "raw", "--config", c.configPath, "--db", dir + "/data/collector.sqlite",
                                                  "--series", series, "--from", String(from), "--to", String(to), "--format", "json"],
                                                 dir: dir, seconds: 30)
        guard code == 0, let o = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any] else {
            throw HarnessError("collector query raw --db: \(out)")
        }
        return (o["points"] as? [[String: Any]] ?? []).compactMap { ($0["t"] as? NSNumber)?.intValue }
    }

    /// Readings the collector recognised as already stored (`collector_readings_total{outcome="duplicate"}`).
    static func duplicateReadings(_ c: CollectorProcess) async throws -> Double {
        let metrics = String(decoding: try await httpGet(c.baseURL + "/metrics").body, as: UTF8.self)
        return metrics.split(separator: "\n").first { $0.hasPrefix(#"collector_readings_total{outcome="duplicate"}"#) }
            .flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
    }

    static func storedCount(_ c: CollectorProcess, series: String, from: Int, to: Int) async throws -> Int {
        guard let o = try? await httpJSON("\(c.baseURL)/api/v1/rollups?series=\(series)&step=1d&from=\(from)&to=\(to)") else { return 0 }
        return (o["points"] as? [[String: Any]] ?? []).reduce(0) { $0 + (($1["count"] as? NSNumber)?.intValue ?? 0) }
    }

    /// 10,000 readings at QoS 1, shuffled and with 500 redelivered duplicates: exact 1m and 1h
    /// rollups over HTTP; SIGTERM exits 0 (within the harness' bound: how long a loaded stop
    /// takes is a figure for benchmarks, not a pass/fail test); after a restart the same answers.
    @Test func exactRollupsSurviveRestart() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let collector = try CollectorProcess(dir: dir, brokerPort: broker.port)
        try collector.start()
        try await collector.waitReady()

        let rs = Self.readings(10_000)
        var rng = SystemRandomNumberGenerator()
        var lines = rs.map { Self.line(sensor: "ws-it-01", $0) }
        lines += lines.prefix(500)
        lines.shuffle(using: &rng)
        try broker.publish(topic: "telemetry/lai-chau/weather/ws-it-01", lines: lines)
        let (from, to) = (Self.t0 - 86_400, Self.t0 + 86_400)
        try await waitUntil("10,000 stored readings", seconds: 30) {
            try await Self.storedCount(collector, series: "ws-it-01/temp_c", from: from, to: to) == 10_000
        }

        let minute = try await Self.rollups(collector, series: "ws-it-01/temp_c", step: "1m", from: from, to: to)
        let hour = try await Self.rollups(collector, series: "ws-it-01/temp_c", step: "1h", from: from, to: to)
        #expect(Self.same(minute, Self.expected(rs, width: 60)))
        #expect(Self.same(hour, Self.expected(rs, width: 3600)))
        #expect(minute.count == 168)   // 10,000 s starting at :40 of a minute

        let stop = try await collector.terminate()
        #expect(stop.status == 0)

        try collector.start()
        try await collector.waitReady()
        #expect(try await Self.rollups(collector, series: "ws-it-01/temp_c", step: "1m", from: from, to: to) == minute)
        #expect(try await Self.rollups(collector, series: "ws-it-01/temp_c", step: "1h", from: from, to: to) == hour)
        _ = try await collector.terminate()
        try await verifyStore(configPath: collector.configPath, dir: dir)
    }

    /// A kill inside the window between a commit and its PUBACKs. The collector stops itself
    /// right after its third commit of messages, before their acknowledgements leave (fault
    /// injection), and is SIGKILLed there; the rest of the stream arrives while it is down.
    /// After a restart, the broker redelivers the committed but unacknowledged messages: each
    /// is recognised as stored (counted as a duplicate) and none is stored twice; no
    /// acknowledged reading is missing; every tier equals its recompute.
    @Test func sigkillBetweenCommitAndAcknowledgementLosesNothing() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let collector = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-kill")
        try collector.start(environment: ["COLLECTOR_FAULT_STOP_AFTER_COMMITS": "3"])
        try await collector.waitReady()

        let total = 30_000
        let rs = Self.readings(total)
        let chunks = stride(from: 0, to: total, by: 1000).map { Array(rs[$0..<min($0 + 1000, total)]) }
        let series = "ws-it-02/temp_c"
        let (from, to) = (Self.t0 - 86_400, Self.t0 + 86_400)
        for chunk in chunks.prefix(10) {
            try broker.publish(topic: "telemetry/ws-it-02", lines: chunk.map { Self.line(sensor: "ws-it-02", $0) })
        }
        try await waitUntil("the collector stopped between a commit and its PUBACKs", seconds: 30) { collector.isStopped }
        #expect(collector.log().contains("fault injection: stopping after a commit"))
        try await collector.kill()
        #expect(try broker.readOne(topic: "collectors/it-kill/status") == "offline")
        for chunk in chunks.dropFirst(10) {
            try broker.publish(topic: "telemetry/ws-it-02", lines: chunk.map { Self.line(sensor: "ws-it-02", $0) })
        }
        try collector.start()
        try await collector.waitReady()
        try await waitUntil("all \(total) readings stored", seconds: 60) {
            try await Self.storedCount(collector, series: series, from: from, to: to) >= total
        }
        // The committed batch came back and was recognised: duplicates, not new readings.
        let duplicates = try await Self.duplicateReadings(collector)
        #expect(duplicates > 0, "no redelivered reading was recognised as stored: the kill missed the window")
        // Exactly the published readings, each once, in raw and in every tier.
        let raw = try await httpJSON("\(collector.baseURL)/api/v1/raw?series=\(series)&from=\(from)&to=\(to)")
        let times = (raw["points"] as? [[String: Any]] ?? []).compactMap { ($0["t"] as? NSNumber)?.intValue }
        #expect(times == rs.map(\.t))
        #expect(try await Self.storedCount(collector, series: series, from: from, to: to) == total)
        #expect(Self.same(try await Self.rollups(collector, series: series, step: "1h", from: from, to: to), Self.expected(rs, width: 3600)))
        _ = try await collector.terminate()
        try await verifyStore(configPath: collector.configPath, dir: dir)
    }

    /// Readings wait in memory for `raw` (the API answers them at once); once the link is
    /// idle the collector writes them all, so the file alone holds every reading.
    @Test func rawIsWrittenOnceTheLinkIsIdle() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let collector = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-idle")
        try collector.start()
        try await collector.waitReady()
        let sensors = (1...4).map { "ws-it-1\($0)" }
        let rs = Self.readings(500)
        for s in sensors { try broker.publish(topic: "telemetry/\(s)", lines: rs.map { Self.line(sensor: s, $0) }) }
        let (from, to) = (Self.t0 - 86_400, Self.t0 + 86_400)
        try await waitUntil("2,000 readings answered by the API", seconds: 30) {
            var n = 0
            for s in sensors { n += try await Self.storedCount(collector, series: "\(s)/temp_c", from: from, to: to) }
            return n == 2_000
        }
        try await waitUntil("2,000 readings in the file, for a reader of the file alone", seconds: 20) {
            var n = 0
            for s in sensors {
                n += try await Self.storedTimes(collector, series: "\(s)/temp_c", from: from, to: to).count
            }
            return n == 2_000
        }
        #expect(try await collector.terminate().status == 0)
    }

    /// SIGTERM mid-stream: every message is either stored or still with the broker for our
    /// session, never both. (A stop that closed the socket with unread messages reset the
    /// connection, and the broker lost our last PUBACKs: it redelivered nearly a whole batch.)
    @Test func gracefulStopAcknowledgesWhatItStored() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let collector = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-graceful")
        try collector.start()
        try await collector.waitReady()
        let total = 20_000
        try broker.publish(topic: "telemetry/ws-it-03", lines: Self.readings(total).map { Self.line(sensor: "ws-it-03", $0) })
        try await waitUntil("a part of the stream taken", seconds: 30) {
            let text = String(decoding: (try? await httpGet(collector.baseURL + "/metrics").body) ?? Data(), as: UTF8.self)
            let taken = text.split(separator: "\n").filter { $0.hasPrefix("collector_messages_total") }
                .compactMap { Double($0.split(separator: " ").last ?? "") }.reduce(0, +)
            return taken >= 2_000
        }
        let stop = try await collector.terminate()
        #expect(stop.status == 0)
        let stored = try await Self.storedTimes(collector, series: "ws-it-03/temp_c", from: Self.t0 - 86_400, to: Self.t0 + 86_400)
        // What the broker still holds for the session: take it over and read for 3 s.
        // (SpawnedProcess: a clean signal mask, so mosquitto_sub's -W timer works.)
        let sub = try SpawnedProcess(try which("mosquitto_sub"), ["-h", "127.0.0.1", "-p", String(broker.port), "-q", "1", "-c",
                                                                  "-i", "it-graceful", "-t", "telemetry/#", "-W", "3"],
                                     logPath: dir + "/held.out")
        try await waitUntil("mosquitto_sub to time out", seconds: 10) { !sub.isRunning }
        let held = (try String(contentsOfFile: dir + "/held.out", encoding: .utf8))
            .split(separator: "\n").compactMap { line -> Int? in
                guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
                return (o["ts"] as? NSNumber)?.intValue
            }
        let redelivered = Set(stored).intersection(held).count
        let missing = Set(Self.readings(total).map(\.t)).subtracting(stored).subtracting(held).count
        #expect(stored.count >= 2_000)
        #expect(redelivered == 0, "\(redelivered) stored readings were still with the broker")
        #expect(missing == 0, "\(missing) readings neither stored nor with the broker (stored \(stored.count), held \(held.count))")
    }
}
