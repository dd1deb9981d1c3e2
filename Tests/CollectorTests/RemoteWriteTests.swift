import Foundation
import Testing

/// Federation upwards: the final 1m buckets go to a real VictoriaMetrics and a real
/// Prometheus (remote write receivers, Debian's packages, on loopback), and what they hold
/// equals what the collector answers.
@Suite struct RemoteWriteTests {
    @Test func finalBucketsReachVictoriaMetricsAndPrometheus() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ports = try (0..<2).map { _ in try ReservedPort() }
        defer { withExtendedLifetime(ports) {} }
        let (vmPort, promPort) = (ports[0].port, ports[1].port)
        let vm = try SpawnedProcess(try which("victoria-metrics"), ["-httpListenAddr=127.0.0.1:\(vmPort)", "-storageDataPath=\(dir)/vm",
                                                                     "-loggerLevel=ERROR"], logPath: dir + "/vm.log")
        defer { vm.stop() }
        try "global: {}\n".write(toFile: dir + "/prom.yml", atomically: true, encoding: .utf8)
        let prom = try SpawnedProcess(try which("prometheus"), ["--config.file=\(dir)/prom.yml", "--storage.tsdb.path=\(dir)/prom",
                                                                 "--web.listen-address=127.0.0.1:\(promPort)", "--web.enable-remote-write-receiver"],
                                      logPath: dir + "/prom.log")
        defer { prom.stop() }
        try await waitUntil("VictoriaMetrics ready", seconds: 30) { (try? await httpGet("http://127.0.0.1:\(vmPort)/health"))?.status == 200 }
        try await waitUntil("Prometheus ready", seconds: 30) { (try? await httpGet("http://127.0.0.1:\(promPort)/-/ready"))?.status == 200 }

        try FileManager.default.createDirectory(atPath: dir + "/sensors", withIntermediateDirectories: true)
        try """
            province: {id: lai-chau, name: Lai Châu}
            levels: [{id: district, groups: [sin-ho]}]
            units: [{id: xa-sin-ho, type: commune, district: sin-ho}]
            sensors:
              - {id: rw-1, kind: environment, unit: xa-sin-ho, interval: 10s}
              - {id: rw-2, kind: environment, unit: xa-sin-ho, interval: 10s}
            """.write(toFile: dir + "/sensors/catalogue.yaml", atomically: true, encoding: .utf8)
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        // accept_age 1m: a 1m bucket is final once it ended a minute ago.
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-remote-write", extraYAML: """
            sensors: \(dir)/sensors
            remote_write:
              - {url: "http://127.0.0.1:\(vmPort)/api/v1/write", interval: 1s, backfill: 10m}
              - {url: "http://127.0.0.1:\(promPort)/api/v1/write", interval: 1s, backfill: 10m}
            """)
        let yaml = try String(contentsOfFile: c.configPath, encoding: .utf8).replacingOccurrences(of: "accept_age: 36500d", with: "accept_age: 1m")
        try yaml.write(toFile: c.configPath, atomically: true, encoding: .utf8)
        try c.start()
        try await c.waitReady()
        let t0 = Int(Date().timeIntervalSince1970)
        for (k, sensor) in ["rw-1", "rw-2"].enumerated() {
            try broker.publish(topic: "telemetry/\(sensor)", lines: (0..<5).map { #"{"ts": \#(t0 - 50 + 8 * $0), "temp_c": \#(20 + k * 5 + $0)}"# })
        }
        // Our buckets, once every reading is in.
        func ours(_ sensor: String) async throws -> [Int: [String: Double]] { try await Self.ours(c, sensor, around: t0) }
        // (Both sensors': rw-2's last readings may be committed after rw-1's.)
        try await waitUntil("every reading in the rollups", seconds: 20) {
            let one = try await ours("rw-1").values.reduce(0) { $0 + ($1["count"] ?? 0) }
            let two = try await ours("rw-2").values.reduce(0) { $0 + ($1["count"] ?? 0) }
            return one == 5 && two == 5
        }
        let want1 = try await ours("rw-1"), want2 = try await ours("rw-2")
        let lastBucket = want1.keys.max()!

        // VictoriaMetrics: its export of each stat's samples.
        func vmSamples(_ sensor: String) async throws -> [Int: [String: Double]] { try await Self.vmSamples("http://127.0.0.1:\(vmPort)", sensor) }
        // Final once the last bucket ended accept_age ago (up to about two minutes here).
        try await waitUntil("VictoriaMetrics holds the final buckets", seconds: 180) {
            _ = try? await httpGet("http://127.0.0.1:\(vmPort)/internal/force_flush")
            let one = try await vmSamples("rw-1"), two = try await vmSamples("rw-2")
            return one[lastBucket]?["count"] != nil && two[lastBucket]?["count"] != nil
        }
        #expect(try await vmSamples("rw-1") == want1)
        #expect(try await vmSamples("rw-2") == want2)
        let (_, labelsBody) = try await httpGet("http://127.0.0.1:\(vmPort)/api/v1/series?match%5B%5D=%7Bsensor%3D%22rw-1%22%2Cstat%3D%22sum%22%7D")
        let labels = String(decoding: labelsBody, as: UTF8.self)
        #expect(labels.contains(#""province":"lai-chau""#) && labels.contains(#""district":"sin-ho""#) && labels.contains(#""unit":"xa-sin-ho""#)
                && labels.contains(#""tier":"1m""#), "\(labels)")

        // Prometheus: each bucket's stats at the bucket's start, exactly there: a plain instant
        // query would look back five minutes and answer an earlier bucket's sample while the
        // last one is still on its way (the two targets send independently).
        func prometheus(_ sensor: String, _ stat: String, at t: Int) async throws -> Double? {
            let q = "last_over_time%28temp_c%7Bsensor%3D%22\(sensor)%22%2Cstat%3D%22\(stat)%22%7D%5B1s%5D%29"
            let o = try await httpJSON("http://127.0.0.1:\(promPort)/api/v1/query?query=\(q)&time=\(t)")
            let result = ((o["data"] as? [String: Any])?["result"] as? [[String: Any]])?.first
            return ((result?["value"] as? [Any])?.last as? String).flatMap(Double.init)
        }
        try await waitUntil("Prometheus holds the final buckets", seconds: 30) {
            let one = try await prometheus("rw-1", "count", at: lastBucket), two = try await prometheus("rw-2", "count", at: lastBucket)
            return one != nil && two != nil
        }
        for (sensor, want) in [("rw-1", want1), ("rw-2", want2)] {
            for (t, stats) in want {
                for (stat, v) in stats { #expect(try await prometheus(sensor, stat, at: t) == v, "\(sensor) \(stat) at \(t)") }
            }
        }
        let metrics = String(decoding: try await httpGet(c.baseURL + "/metrics").body, as: UTF8.self)
        #expect(metrics.contains(#"collector_remote_write_samples_total{url="http://127.0.0.1:\#(vmPort)/api/v1/write",outcome="sent"}"#))
        _ = try await c.terminate()
    }

    /// Over a shared store, federation sends the whole province: here collector `a` (with
    /// `remote_write`) sends the final buckets of `b`'s sensor too, read from the shared store,
    /// and keeps its progress there, not in a file.
    @Test func theSharedStoreIsFederatedWhole() async throws {
        let (dir, pg) = try await PostgresCluster.started()
        defer { pg.remove(dir) }
        let port = try ReservedPort()
        let vm = try SpawnedProcess(try which("victoria-metrics"), ["-httpListenAddr=127.0.0.1:\(port.port)", "-storageDataPath=\(dir)/vm",
                                                                     "-loggerLevel=ERROR"], logPath: dir + "/vm.log")
        defer { vm.stop() }
        let base = "http://127.0.0.1:\(port.port)"
        try await waitUntil("VictoriaMetrics ready", seconds: 30) { (try? await httpGet(base + "/health"))?.status == 200 }
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        var collectors: [CollectorProcess] = []
        for (name, extra) in [("a", "remote_write: [{url: \"\(base)/api/v1/write\", interval: 1s, backfill: 10m}]"), ("b", "")] {
            try FileManager.default.createDirectory(atPath: dir + "/" + name, withIntermediateDirectories: true)
            let c = try CollectorProcess(dir: dir + "/" + name, brokerPort: broker.port, clientID: "it-rw-\(name)",
                                         subscriptions: ["{topic: \"telemetry/\(name)/#\"}"], storageExtra: ["postgres: \"\(pg.url)\""],
                                         extraYAML: extra)
            let yaml = try String(contentsOfFile: c.configPath, encoding: .utf8).replacingOccurrences(of: "accept_age: 36500d", with: "accept_age: 1m")
            try yaml.write(toFile: c.configPath, atomically: true, encoding: .utf8)
            try c.start()
            try await c.waitReady()
            collectors.append(c)
        }
        let t0 = Int(Date().timeIntervalSince1970)
        try broker.publish(topic: "telemetry/a/rw", lines: (0..<5).map { #"{"sensor": "rw-a", "ts": \#(t0 - 50 + 8 * $0), "temp_c": \#(20 + $0)}"# })
        try broker.publish(topic: "telemetry/b/rw", lines: (0..<5).map { #"{"sensor": "rw-b", "ts": \#(t0 - 50 + 8 * $0), "temp_c": \#(30 - $0)}"# })
        func ours(_ sensor: String) async throws -> [Int: [String: Double]] { try await Self.ours(collectors[0], sensor, around: t0) }
        try await waitUntil("both sensors in the shared store", seconds: 20) {
            let a = try await ours("rw-a").values.reduce(0) { $0 + ($1["count"] ?? 0) }, b = try await ours("rw-b").values.reduce(0) { $0 + ($1["count"] ?? 0) }
            return a == 5 && b == 5
        }
        let (wantA, wantB) = (try await ours("rw-a"), try await ours("rw-b"))
        func vmSamples(_ sensor: String) async throws -> [Int: [String: Double]] { try await Self.vmSamples(base, sensor) }
        let last = max(wantA.keys.max()!, wantB.keys.max()!)
        try await waitUntil("VictoriaMetrics holds both sensors' final buckets", seconds: 180) {
            _ = try? await httpGet(base + "/internal/force_flush")
            let (a, b) = (try await vmSamples("rw-a"), try await vmSamples("rw-b"))
            return a[last]?["count"] != nil && b[last]?["count"] != nil
        }
        #expect(try await vmSamples("rw-a") == wantA)
        #expect(try await vmSamples("rw-b") == wantB)
        // Its progress is in the shared store.
        let watermark = try pg.psql(pg.primaryPort.port, "SELECT watermark FROM remote_write_state")
        #expect((Int(watermark) ?? 0) / 1000 > last, "\(watermark)")
        #expect(!((try? FileManager.default.contentsOfDirectory(atPath: dir + "/a/data")) ?? []).contains { $0.contains("remote-write") })
        for c in collectors { _ = try await c.terminate() }
    }

    /// The collector's 1m buckets of `sensor/temp_c` within five minutes of `t0`: sum, count,
    /// min and max by bucket start (seconds).
    static func ours(_ c: CollectorProcess, _ sensor: String, around t0: Int) async throws -> [Int: [String: Double]] {
        let o = try await httpJSON(c.baseURL + "/api/v1/rollups?series=\(sensor)/temp_c&step=1m&from=\(t0 - 300)&to=\(t0 + 300)")
        var out: [Int: [String: Double]] = [:]
        for p in (o["points"] as? [[String: Any]]) ?? [] {
            guard let t = (p["t"] as? NSNumber)?.intValue else { continue }
            for k in ["sum", "count", "min", "max"] { out[t, default: [:]][k] = (p[k] as? NSNumber)?.doubleValue }
        }
        return out
    }

    /// What VictoriaMetrics at `base` exports of `sensor`'s `temp_c`: each stat by sample time (seconds).
    static func vmSamples(_ base: String, _ sensor: String) async throws -> [Int: [String: Double]] {
        let (_, body) = try await httpGet(base + "/api/v1/export?match%5B%5D=%7B__name__%3D%22temp_c%22%2Csensor%3D%22\(sensor)%22%7D")
        var out: [Int: [String: Double]] = [:]
        for line in String(decoding: body, as: UTF8.self).split(separator: "\n") {
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let stat = (o["metric"] as? [String: String])?["stat"],
                  let ts = o["timestamps"] as? [NSNumber], let vs = o["values"] as? [NSNumber] else { continue }
            for (t, v) in zip(ts, vs) { out[t.intValue / 1000, default: [:]][stat] = v.doubleValue }
        }
        return out
    }
}
