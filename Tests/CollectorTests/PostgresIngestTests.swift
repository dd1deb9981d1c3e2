import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// The daemon on the shared PostgreSQL store (`storage.postgres`): each batch is committed
/// there (then to the collector's own SQLite file) before its PUBACKs leave, and the API
/// answers from it, so every collector of the database answers for all of them. A real
/// mosquitto, a real primary with a synchronous replica, the real daemon.
@Suite(.serialized) struct PostgresIngestTests {
    /// Starts `a` and waits until it holds partition north, then `b` until it is its standby.
    static func holderAndStandby(_ a: CollectorProcess, _ b: CollectorProcess) async throws -> (CollectorProcess, CollectorProcess) {
        try a.start()
        try await a.waitReady()
        try await waitUntil("a holding the partition", seconds: 30) { await NATSClusterTests.role(a).hasPrefix("connected to") }
        try b.start()
        try await b.waitReady()
        try await waitUntil("b a standby", seconds: 30) { await NATSClusterTests.role(b).hasPrefix("standby for partition north") }
        return (a, b)
    }

    /// A collector of partition `partition` (member `name`, in `dir/<name>`) on the shared store
    /// and the NATS cluster, over MQTT 3.1.1 (not started). `partitionExtra`: more keys of its
    /// `partition` (e.g. `, catch_up: 2h`).
    static func member(_ name: String, of partition: String, in dir: String, pg: PostgresCluster, cluster: NATSCluster,
                       subscriptions: [String] = ["{topic: \"telemetry/#\"}"], partitionExtra: String = "",
                       extraYAML: String = "") throws -> CollectorProcess {
        try FileManager.default.createDirectory(atPath: dir + "/" + name, withIntermediateDirectories: true)
        return try CollectorProcess(dir: dir + "/" + name, brokerPort: 0, clientID: "it-\(partition)", urls: cluster.mqttURLs,
                                    mqttExtra: ["protocol: \"3.1.1\""], subscriptions: subscriptions, storageExtra: ["postgres: \"\(pg.url)\""],
                                    extraYAML: extraYAML + """

                                        partition: {name: \(partition), member: \(name), lease: 6s\(partitionExtra), nats: [\(cluster.clientURLs.joined(separator: ", "))]}
                                        """)
    }

    /// Partitions north and south, one collector each (`north-1`, `south-1`), each reading its
    /// own `telemetry/<partition>/#`, started and holding their partitions.
    static func twoPartitions(in dir: String, pg: PostgresCluster, cluster: NATSCluster, extraYAML: String) async throws -> [CollectorProcess] {
        var members: [CollectorProcess] = []
        for part in ["north", "south"] {
            let c = try member(part + "-1", of: part, in: dir, pg: pg, cluster: cluster,
                               subscriptions: ["{topic: \"telemetry/\(part)/#\"}"], extraYAML: extraYAML)
            try c.start()
            try await c.waitReady()
            members.append(c)
        }
        for c in members { try await waitUntil("both partitions held", seconds: 30) { await NATSClusterTests.role(c).hasPrefix("connected to") } }
        return members
    }

    /// A series' raw points between two times (seconds) as `t:value` texts, through `c`'s API
    /// (none while it does not answer).
    static func rawPoints(_ c: CollectorProcess, _ series: String, from: Int, to: Int) async -> [String] {
        let o = try? await httpJSON(c.baseURL + "/api/v1/raw?series=\(series)&from=\(from)&to=\(to)")
        return ((o?["points"] as? [[String: Any]]) ?? []).map { "\(($0["t"] as? NSNumber)?.intValue ?? 0):\($0["value"] ?? "")" }
    }

    /// A kill -9 between a commit and its PUBACKs, then the primary killed and the replica
    /// promoted while gateways publish: every reading is in the shared store exactly once and
    /// every tier equals its recompute, there and in the collector's own file.
    @Test(.timeLimit(.minutes(4))) func aKillAndAFailoverLoseNothingAndCountNothingTwice() async throws {
        let (dir, pg) = try await PostgresCluster.started()
        defer { pg.remove(dir) }
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let collector = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-pg",
                                             storageExtra: ["postgres: \"\(pg.url)\""])
        try collector.start(environment: ["COLLECTOR_FAULT_STOP_AFTER_COMMITS": "3"])
        try await collector.waitReady()

        let total = 30_000
        let rs = EndToEndTests.readings(total)
        let chunks = stride(from: 0, to: total, by: 1000).map { Array(rs[$0..<min($0 + 1000, total)]) }
        let series = "ws-pg-01/temp_c"
        let (from, to) = (EndToEndTests.t0 - 86_400, EndToEndTests.t0 + 86_400)
        func publish(_ range: Range<Int>) throws {
            for chunk in chunks[range] {
                try broker.publish(topic: "telemetry/ws-pg-01", lines: chunk.map { EndToEndTests.line(sensor: "ws-pg-01", $0) })
            }
        }
        func stored() async throws -> Int { try await EndToEndTests.storedCount(collector, series: series, from: from, to: to) }

        try publish(0..<10)
        try await waitUntil("the collector stopped between a commit and its PUBACKs", seconds: 30) { collector.isStopped }
        try await collector.kill()
        try publish(10..<20)
        try collector.start()
        try await collector.waitReady()
        try await waitUntil("20,000 readings in the shared store", seconds: 60) { try await stored() >= 20_000 }
        #expect(try await EndToEndTests.duplicateReadings(collector) > 0, "no redelivered reading was recognised as stored: the kill missed the window")

        // The primary lost mid-stream and the replica promoted: commits fail (nothing is
        // acknowledged) until the collector reaches the new primary through its URL.
        try publish(20..<23)
        try pg.killPrimary()
        try pg.promoteReplica()
        try publish(23..<30)
        try await waitUntil("every reading in the shared store", seconds: 90) { try await stored() >= total }
        #expect(collector.log().contains("commit failed"), "the failover was not felt")

        let raw = try await httpJSON("\(collector.baseURL)/api/v1/raw?series=\(series)&from=\(from)&to=\(to)")
        let times = (raw["points"] as? [[String: Any]] ?? []).compactMap { ($0["t"] as? NSNumber)?.intValue }
        #expect(times == rs.map(\.t))
        #expect(try await stored() == total)
        #expect(EndToEndTests.same(try await EndToEndTests.rollups(collector, series: series, step: "1h", from: from, to: to),
                                   EndToEndTests.expected(rs, width: 3600)))
        let verified = try await collectorCLI(["verify", "--config", collector.configPath, "--postgres", pg.url], dir: dir)
        #expect(verified.code == 0, "\(verified.out)")
        _ = try await collector.terminate()
        // The collector's own file holds the same readings.
        #expect(try await EndToEndTests.storedTimes(collector, series: series, from: from, to: to) == rs.map(\.t))
        try await verifyStore(configPath: collector.configPath, dir: dir)
    }

    /// Two collectors, each with its own topics and file, on one database: each answers the
    /// other's series too (the whole province from any collector), and a bad value for
    /// `storage.postgres` is a config error at its line.
    @Test(.timeLimit(.minutes(2))) func everyCollectorAnswersForAllOfThem() async throws {
        let (dir, pg) = try await PostgresCluster.started()
        defer { pg.remove(dir) }
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        var collectors: [CollectorProcess] = []   // (a daemon left running is killed when its process object goes)
        for name in ["north", "south"] {
            let own = dir + "/" + name
            try FileManager.default.createDirectory(atPath: own, withIntermediateDirectories: true)
            let c = try CollectorProcess(dir: own, brokerPort: broker.port, clientID: "it-pg-\(name)",
                                         subscriptions: ["{topic: \"telemetry/\(name)/#\"}"], storageExtra: ["postgres: \"\(pg.url)\""])
            try c.start()
            try await c.waitReady()
            collectors.append(c)
        }
        let t = EndToEndTests.t0
        try broker.publish(topic: "telemetry/north/ws-n", lines: [EndToEndTests.line(sensor: "ws-n", (t, 1.5))])
        try broker.publish(topic: "telemetry/south/ws-s", lines: [EndToEndTests.line(sensor: "ws-s", (t + 1, 2.5))])
        for c in collectors {
            for series in ["ws-n/temp_c", "ws-s/temp_c"] {
                try await waitUntil("\(series) answered by every collector", seconds: 30) {
                    try await EndToEndTests.storedCount(c, series: series, from: t - 60, to: t + 60) == 1
                }
            }
        }
        // Each file holds its own collector's readings only.
        await #expect(throws: HarnessError.self) {   // (no such series in the north's file)
            try await EndToEndTests.storedTimes(collectors[0], series: "ws-s/temp_c", from: t - 60, to: t + 60)
        }
        try await waitUntil("the south file holding its reading", seconds: 20) {   // (written to the file once the link is idle)
            (try? await EndToEndTests.storedTimes(collectors[1], series: "ws-s/temp_c", from: t - 60, to: t + 60)) == [t + 1]
        }
        for c in collectors { _ = try await c.terminate() }
        collectors.removeAll()

        let bad = try CollectorProcess(dir: dir, brokerPort: broker.port, storageExtra: ["postgres: \"db.example\""])
        let (code, out) = try await collectorCLI(["check", "--config", bad.configPath], dir: dir)
        #expect(code != 0 && out.contains("collector.yaml:") && out.contains("postgres must be a libpq connection URL"), "\(out)")
    }

    /// Two partitions on one shared store over a NATS cluster. Coverage ("% of forest
    /// monitored") is computed by one collector at a time, the province lease's holder, from
    /// every partition's sensors (their last readings in the shared store), not from its own
    /// only; when the holder dies, the other collector takes the province lease over and
    /// computes the same figure.
    @Test(.timeLimit(.minutes(3))) func provinceCoverageComesFromOneCollectorAndEveryPartition() async throws {
        let (dir, pg) = try await PostgresCluster.started()
        defer { pg.remove(dir) }
        let cluster = try NATSCluster(dir: dir)
        defer { cluster.stop() }
        try await cluster.waitReady()
        try FileManager.default.createDirectory(atPath: dir + "/cat", withIntermediateDirectories: true)
        try CatalogueStatusTests.forestCatalogue.write(toFile: dir + "/cat/c.yaml", atomically: true, encoding: .utf8)
        let members = try await Self.twoPartitions(in: dir, pg: pg, cluster: cluster, extraYAML: """
            sensors: \(dir)/cat
            coverage: {interval: 1s}
            """)
        // ft-c1 and ft-c3 report now, ft-c2 40 minutes ago (silent: more than 3 x 10 min):
        // 620.5 of 1,000 ha watched. North alone would say 12.05 %, south alone 50 %.
        let now = Int(Date().timeIntervalSince1970)
        try cluster.publish(node: 0, topic: "telemetry/north/gw", lines: [#"{"sensor": "ft-c1", "ts": \#(now - 5), "temp_c": 20}"#,
                                                                         #"{"sensor": "ft-c2", "ts": \#(now - 2400), "temp_c": 20}"#])
        try cluster.publish(node: 1, topic: "telemetry/south/gw", lines: [#"{"sensor": "ft-c3", "ts": \#(now - 5), "temp_c": 20}"#])
        let gauge = #"collector_coverage_pct{indicator="forest_monitored_pct",scope="province"}"#
        func province(_ c: CollectorProcess) async -> String? {
            guard let (_, body) = try? await httpGet(c.baseURL + "/metrics") else { return nil }
            return String(decoding: body, as: UTF8.self).split(separator: "\n").first { $0.hasPrefix(gauge) }
                .map { String($0.dropFirst(gauge.count + 1)) }
        }
        var holder = 0
        try await waitUntil("one collector computing the province's coverage from both partitions", seconds: 30) {
            for (k, c) in members.enumerated() where await province(c) == "62.05" { holder = k; return true }
            return false
        }
        #expect(await province(members[1 - holder]) == nil, "both collectors computed the province's coverage")
        // Stored in the shared store: either collector answers it.
        try await waitUntil("the stored coverage", seconds: 10) {
            let o = try? await httpJSON(members[1 - holder].baseURL + "/api/v1/raw?series=coverage.province/forest_monitored_pct&from=\(now - 60)&to=\(now + 600)")
            return ((o?["points"] as? [[String: Any]])?.last?["value"] as? NSNumber)?.doubleValue == 62.05
        }
        // The holder dies: the other takes the province over and counts the dead one's sensors too.
        try await members[holder].kill()
        try await waitUntil("the survivor computing the province's coverage", seconds: 40) { await province(members[1 - holder]) == "62.05" }
        #expect(members[1 - holder].log().contains("province lease acquired"))
        _ = try await members[1 - holder].terminate()
    }

    /// A standby that takes its partition over first reads the partition's recent readings
    /// (`partition.catch_up`, 2 h here) from the shared store into its own file, so rules and
    /// derived series that look back see what the old holder stored; older ones stay out.
    @Test(.timeLimit(.minutes(3))) func aTakeoverCatchesUpFromTheSharedStore() async throws {
        let (dir, pg) = try await PostgresCluster.started()
        defer { pg.remove(dir) }
        let cluster = try NATSCluster(dir: dir)
        defer { cluster.stop() }
        try await cluster.waitReady()
        func member(_ name: String) throws -> CollectorProcess {
            try Self.member(name, of: "north", in: dir, pg: pg, cluster: cluster, partitionExtra: ", catch_up: 2h")
        }
        let (a, b) = try await Self.holderAndStandby(try member("a"), try member("b"))
        let now = Int(Date().timeIntervalSince1970)
        let times = [now - 3 * 3_600, now - 5_400, now - 1_800, now - 60]
        try cluster.publish(node: 0, topic: "telemetry/rg", lines: times.map { EndToEndTests.line(sensor: "rg-1", ($0, 2.5)) })
        try await waitUntil("a's readings stored", seconds: 30) {
            (try? await EndToEndTests.storedTimes(a, series: "rg-1/temp_c", from: now - 86_400, to: now + 60)) == times
        }
        await #expect(throws: HarnessError.self) {   // (the standby's file has none of them)
            try await EndToEndTests.storedTimes(b, series: "rg-1/temp_c", from: now - 86_400, to: now + 60)
        }
        try await a.kill()
        try await waitUntil("b holding the partition", seconds: 40) { await NATSClusterTests.role(b).hasPrefix("connected to") }
        #expect(b.log().contains("partition caught up from the shared store"), "\(b.log().suffix(2000))")
        #expect(try await EndToEndTests.storedTimes(b, series: "rg-1/temp_c", from: now - 86_400, to: now + 60) == Array(times.dropFirst()))
        _ = try await b.terminate()
    }

    /// A collector that starts while the shared store is down starts anyway, says so in
    /// `/readyz`, and commits nothing (so acknowledges nothing) until the store answers; then
    /// every reading the broker kept is stored, in the shared store and in its file.
    @Test(.timeLimit(.minutes(3))) func aCollectorStartsBeforeTheSharedStoreAndWaitsForIt() async throws {
        let (dir, pg) = try await PostgresCluster.started()
        defer { pg.remove(dir) }
        pg.stop()
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-pg-late", storageExtra: ["postgres: \"\(pg.url)\""])
        try c.start()
        try await c.waitListening()
        #expect(try await httpGet(c.baseURL + "/readyz").status == 503)
        #expect(c.log().contains("the shared store does not answer; starting without it"))
        let rs = EndToEndTests.readings(500)
        try broker.publish(topic: "telemetry/ws-late", lines: rs.map { EndToEndTests.line(sensor: "ws-late", $0) })
        try await waitUntil("a commit refused for want of the shared store", seconds: 30) { c.log().contains("storage commit failed") }
        await #expect(throws: HarnessError.self) {   // (nothing in the file either: the shared store comes first)
            try await EndToEndTests.storedTimes(c, series: "ws-late/temp_c", from: EndToEndTests.t0 - 60, to: EndToEndTests.t0 + 600)
        }
        try pg.restart()
        try await waitUntil("every reading in the shared store", seconds: 90) {
            try await EndToEndTests.storedCount(c, series: "ws-late/temp_c", from: EndToEndTests.t0 - 86_400, to: EndToEndTests.t0 + 86_400) == rs.count
        }
        #expect(try await httpGet(c.baseURL + "/readyz").status == 200)
        _ = try await c.terminate()
        #expect(try await EndToEndTests.storedTimes(c, series: "ws-late/temp_c", from: EndToEndTests.t0 - 60, to: EndToEndTests.t0 + 600) == rs.map(\.t))
    }
    /// Alerts live in the shared store: the partition's standby lists the alert its holder
    /// raised and shows it on its live stream, an acknowledgement given through the standby is
    /// the holder's too, and when the holder dies the standby adopts the alert (it does not
    /// announce it again) and resolves it when it clears.
    @Test(.timeLimit(.minutes(3))) func everyCollectorSharesTheAlertsAndATakeoverAdoptsThem() async throws {
        let (dir, pg) = try await PostgresCluster.started()
        defer { pg.remove(dir) }
        let cluster = try NATSCluster(dir: dir)
        defer { cluster.stop() }
        try await cluster.waitReady()
        try FileManager.default.createDirectory(atPath: dir + "/sensors", withIntermediateDirectories: true)
        try """
            zones: [{id: z1, kind: forest, unit: muong-te, area_ha: 10}]
            sensors:
              - {id: ft-a1, kind: forest, unit: muong-te, zone: z1, interval: 10m}
            """.write(toFile: dir + "/sensors/catalogue.yaml", atomically: true, encoding: .utf8)
        try """
            rules:
              - {name: forest-hot, severity: critical, match: {kind: forest, metric: temp_c}, when: {above: 35}, clear: {below: 30}}
            """.write(toFile: dir + "/sensors/rules.yaml", atomically: true, encoding: .utf8)
        func member(_ name: String) throws -> CollectorProcess {
            try Self.member(name, of: "north", in: dir, pg: pg, cluster: cluster, extraYAML: "sensors: \(dir)/sensors")
        }
        let (a, b) = try await Self.holderAndStandby(try member("a"), try member("b"))
        // The operations room on b's live stream.
        let ssePath = dir + "/sse.out"
        let sse = try SpawnedProcess(try which("curl"), ["-sN", "--max-time", "120", b.baseURL + "/api/v1/alerts/stream"], logPath: ssePath)
        defer { sse.stop() }
        func feed() -> String { (try? String(contentsOfFile: ssePath, encoding: .utf8)) ?? "" }
        try await waitUntil("the stream is open", seconds: 10) { feed().contains("collector alert stream") }

        let now = Int(Date().timeIntervalSince1970)
        try cluster.publish(node: 0, topic: "telemetry/ft-a1", lines: [#"{"ts": \#(now - 20), "temp_c": 36.5}"#])
        try await waitUntil("the standby lists the holder's alert", seconds: 30) {
            (try? await AlertsEndToEndTests.alerts(b, "firing"))?.count == 1
        }
        try await waitUntil("the standby's stream carries it", seconds: 10) { feed().contains(#""state":"firing""#) }
        let id = try #require((try await AlertsEndToEndTests.alerts(b, "firing").first?["id"] as? NSNumber)?.intValue)
        var req = URLRequest(url: URL(string: "\(b.baseURL)/api/v1/alerts/\(id)/ack")!)
        req.httpMethod = "POST"
        req.httpBody = Data(#"{"by": "duty-officer", "note": "crew sent"}"#.utf8)
        #expect(((try await URLSession.shared.data(for: req)).1 as? HTTPURLResponse)?.statusCode == 200)
        #expect(try await AlertsEndToEndTests.alerts(a, "firing").first?["acknowledged_by"] as? String == "duty-officer")

        try await a.kill()
        try await waitUntil("b holding the partition", seconds: 40) { await NATSClusterTests.role(b).hasPrefix("connected to") }
        try await waitUntil("b adopted the alert", seconds: 10) { b.log().contains("live alerts taken from the store") }
        try cluster.publish(node: 1, topic: "telemetry/ft-a1", lines: [#"{"ts": \#(now - 10), "temp_c": 25}"#])
        try await waitUntil("b resolved it", seconds: 30) { feed().contains(#""state":"resolved""#) }
        // One firing event (a's, relayed) before the resolution: the takeover's catch-up fed
        // b the hot reading again, and b did not announce the alert a second time.
        #expect(feed().components(separatedBy: #""state":"firing""#).count - 1 == 2, "\(feed())")   // (the firing, and its acknowledgement)
        let all = try await AlertsEndToEndTests.alerts(b, "all")
        #expect(all.count == 1 && all.first?["state"] as? String == "resolved" && all.first?["acknowledged_by"] as? String == "duty-officer")
        _ = try await b.terminate()
    }
    /// The collector's file full (`storage.max_size`) while the shared store takes every
    /// attempt: each redelivery of the same messages commits to PostgreSQL, then fails on the
    /// file. Readings are deduped there; the quarantined messages are stored there once, not
    /// once an attempt (`UnfiledQuarantine`), and reach the file when space returns.
    @Test(.timeLimit(.minutes(3))) func aFullFileStoresTheQuarantineInTheSharedStoreOnce() async throws {
        let (dir, pg) = try await PostgresCluster.started()
        defer { pg.remove(dir) }
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        try FileManager.default.createDirectory(atPath: dir + "/none", withIntermediateDirectories: true)
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-pg-full",
                                     storageExtra: ["postgres: \"\(pg.url)\"", "max_size: 256KB"], extraYAML: "sensors: \(dir)/none")
        try c.start()
        try await c.waitReady()
        let t0 = 1_795_000_000
        // Values of 16 or 17 significant digits fill the file's 256 KB (as in `DiskFullTests`);
        // every tenth message is not JSON (quarantined), so the batches that fail hold some.
        let messages = 4_000
        for start in stride(from: 0, to: 40_000, by: 5_000) {
            try broker.publish(topic: "telemetry/df-1", lines: (start..<start + 5_000).flatMap { i in
                [#"{"ts": \#(t0 + i), "temp_c": \#(sin(Double(i)))}"#] + (i % 10 == 0 ? ["not json \(i)"] : [])
            })
        }
        try await waitUntil("the file full", seconds: 30) { try await httpGet(c.baseURL + "/readyz").status == 503 }
        func quarantined() async throws -> Int {
            let q = try await httpJSON(c.baseURL + "/api/v1/quarantine")
            return ((q["counts"] as? [String: Any])?.values.compactMap { ($0 as? NSNumber)?.intValue }.reduce(0, +)) ?? -1
        }
        func attempts() async throws -> Int {
            let text = String(decoding: try await httpGet(c.baseURL + "/metrics").body, as: UTF8.self)
            let line = text.split(separator: "\n").first { $0.hasPrefix("collector_commit_failures_total ") }
            return Int(Double(line?.split(separator: " ").last ?? "") ?? -1)
        }
        // Several attempts of the same messages (the reconnections back off 1, 2, 4 ... s).
        let failed = try await attempts()
        try await waitUntil("three more failed attempts", seconds: 40) { try await attempts() >= failed + 3 }
        let whileFull = try await quarantined()
        #expect(whileFull > 0 && whileFull < messages, "\(whileFull)")
        // Space returns; everything is filed, and the shared store still holds each record once.
        let yaml = try String(contentsOfFile: c.configPath, encoding: .utf8).replacingOccurrences(of: "max_size: 256KB", with: "max_size: 256MB")
        try yaml.write(toFile: c.configPath, atomically: true, encoding: .utf8)
        c.signal(SIGHUP)
        try await waitUntil("every message committed", seconds: 60) { try await quarantined() >= messages }
        try await Task.sleep(for: .seconds(2))
        #expect(try await quarantined() == messages)
        _ = try await c.terminate()
    }

    /// A junction whose traffic sensors report to two partitions: its maximum congestion is
    /// computed by the province lease's holder from both partitions' values in the shared
    /// store, not by each partition from its own (which would store the north sensor's 0.25
    /// as the junction's at its time, while the south sensor's 0.75 is still in force).
    @Test(.timeLimit(.minutes(3))) func aJunctionAcrossPartitionsIsComputedFromBoth() async throws {
        let (dir, pg) = try await PostgresCluster.started()
        defer { pg.remove(dir) }
        let cluster = try NATSCluster(dir: dir)
        defer { cluster.stop() }
        try await cluster.waitReady()
        try FileManager.default.createDirectory(atPath: dir + "/cat", withIntermediateDirectories: true)
        try """
            sensors:
              - {id: tf-n, kind: traffic, unit: lai-chau-city, zone: j1, interval: 1m, free_flow_kmh: 40}
              - {id: tf-s, kind: traffic, unit: lai-chau-city, zone: j1, interval: 1m, free_flow_kmh: 40}
            """.write(toFile: dir + "/cat/c.yaml", atomically: true, encoding: .utf8)
        let members = try await Self.twoPartitions(in: dir, pg: pg, cluster: cluster, extraYAML: "sensors: \(dir)/cat")
        let t0 = Int(Date().timeIntervalSince1970) / 60 * 60 - 600
        func points(_ series: String) async -> [String] { await Self.rawPoints(members[0], series, from: t0 - 60, to: t0 + 3600) }
        // South: 10 km/h at t0 (0.75). North: 30 km/h a minute later (0.25), 4 km/h two
        // minutes later (0.9).
        try cluster.publish(node: 1, topic: "telemetry/south/tf", lines: [#"{"sensor": "tf-s", "ts": \#(t0), "speed_kmh": 10}"#])
        try await waitUntil("the south sensor's congestion stored", seconds: 30) { await points("tf-s/congestion").count == 1 }
        try cluster.publish(node: 0, topic: "telemetry/north/tf", lines: [#"{"sensor": "tf-n", "ts": \#(t0 + 60), "speed_kmh": 30}"#,
                                                                         #"{"sensor": "tf-n", "ts": \#(t0 + 120), "speed_kmh": 4}"#])
        try await waitUntil("the north sensor's congestion stored", seconds: 30) { await points("tf-n/congestion").count == 2 }
        let want = ["\(t0):0.75", "\(t0 + 120):0.9"]
        try await waitUntil("the junction's maximum over both partitions", seconds: 30) {
            await points("junction.j1/congestion") == want
        }
        try await Task.sleep(for: .seconds(6))   // (one more round of the province's holder: nothing changes)
        #expect(await points("junction.j1/congestion") == want)
        for c in members { _ = try await c.terminate() }
    }

    /// A DMA whose inflow and one customer meter report to the north partition and another
    /// customer to the south: its day's balance (30 % lost) and its alert come from the
    /// province lease's holder, from both partitions' readings in the shared store. Each
    /// partition alone sees part of the day and never completes it. A transformer split the
    /// same way gets its hour's energy loss (25 %) likewise.
    @Test(.timeLimit(.minutes(3))) func aDMAAndATransformerAcrossPartitionsAreComputedFromBoth() async throws {
        let (dir, pg) = try await PostgresCluster.started()
        defer { pg.remove(dir) }
        let cluster = try NATSCluster(dir: dir)
        defer { cluster.stop() }
        try await cluster.waitReady()
        try FileManager.default.createDirectory(atPath: dir + "/cat", withIntermediateDirectories: true)
        try """
            sensors:
              - {id: wi-1, kind: water, role: inflow, unit: lai-chau-city, zone: d1, interval: 1h, metrics: {volume_m3: {unit: m3}}}
              - {id: wc-1, kind: water, role: customer, unit: lai-chau-city, zone: d1, interval: 1h, metrics: {volume_m3: {unit: m3}}}
              - {id: wc-2, kind: water, role: customer, unit: lai-chau-city, zone: d1, interval: 1h, metrics: {volume_m3: {unit: m3}}}
              - {id: mf-1, kind: meter, role: feeder, unit: lai-chau-city, zone: t1, interval: 15m, metrics: {kwh: {unit: kWh}}}
              - {id: mc-1, kind: meter, role: customer, unit: lai-chau-city, zone: t1, interval: 15m, metrics: {kwh: {unit: kWh}}}
              - {id: mc-2, kind: meter, role: customer, unit: lai-chau-city, zone: t1, interval: 15m, metrics: {kwh: {unit: kWh}}}
            """.write(toFile: dir + "/cat/c.yaml", atomically: true, encoding: .utf8)
        try """
            rules:
              - {name: water-loss-above-target, severity: warning, match: {kind: water, metric: nrw_pct}, when: {above: 15}, clear: {at_most: 15}}
            """.write(toFile: dir + "/cat/rules.yaml", atomically: true, encoding: .utf8)
        let members = try await Self.twoPartitions(in: dir, pg: pg, cluster: cluster, extraYAML: "sensors: \(dir)/cat")
        // The local day (UTC+7) before yesterday, hour by hour: 10 m3 in, 4 + 3 m3 used.
        let localNow: Int = Int(Date().timeIntervalSince1970) + 7 * 3600
        let day: Int = localNow / 86_400 * 86_400 - 7 * 3600 - 2 * 86_400
        func hours(_ sensor: String, _ v: Int) -> [String] {
            (0..<24).map { (h: Int) -> String in
                let t: Int = day + h * 3600
                return #"{"sensor": "\#(sensor)", "ts": \#(t), "volume_m3": \#(v)}"#
            }
        }
        func quarters(_ sensor: String, _ v: Int) -> [String] {
            (0..<4).map { (q: Int) -> String in
                let t: Int = day + 10 * 3600 + q * 900
                return #"{"sensor": "\#(sensor)", "ts": \#(t), "kwh": \#(v)}"#
            }
        }
        try cluster.publish(node: 0, topic: "telemetry/north/w", lines: hours("wi-1", 10) + hours("wc-1", 4) + quarters("mf-1", 8) + quarters("mc-1", 4))
        try cluster.publish(node: 1, topic: "telemetry/south/w", lines: hours("wc-2", 3) + quarters("mc-2", 2))
        func points(_ series: String) async -> [String] { await Self.rawPoints(members[1], series, from: day - 86_400, to: day + 3 * 86_400) }
        try await waitUntil("the DMA's day from both partitions", seconds: 40) { await points("dma.d1/nrw_pct") == ["\(day):30"] }
        #expect(await points("dma.d1/inflow_m3") == ["\(day):240"])
        try await waitUntil("the transformer's hour from both partitions", seconds: 20) {
            await points("transformer.t1/energy_loss_pct") == ["\(day + 10 * 3600):25"]
        }
        try await waitUntil("one water-loss alert", seconds: 20) {
            (try? await AlertsEndToEndTests.alerts(members[1], "firing"))?.map { $0["subject"] as? String } == ["dma.d1"]
        }
        try await Task.sleep(for: .seconds(6))   // (one more round of the province's holder: nothing changes)
        #expect(await points("dma.d1/nrw_pct") == ["\(day):30"])
        #expect(await points("transformer.t1/feeder_meter_fault") == ["\(day + 10 * 3600):0"])
        #expect(try await AlertsEndToEndTests.alerts(members[0], "all").count == 1)
        for c in members { _ = try await c.terminate() }
    }
}
