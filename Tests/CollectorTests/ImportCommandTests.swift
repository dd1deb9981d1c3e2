import Foundation
import Testing

/// `collector import`: CSV and line protocol through the live store; exact rollups, bad lines
/// quarantined with their reason and line, a second run changes nothing; refused while a
/// collector is running on the same configuration.
@Suite(.serialized) struct ImportCommandTests {
    static func collector(_ args: [String], dir: String) async throws -> (code: Int32?, out: String) {
        try await collectorCLI(args, dir: dir)
    }

    @Test func csvAndLineProtocolTwice() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/none", withIntermediateDirectories: true)
        try "sensors: \(dir)/none\nhttp: {listen: \"127.0.0.1:0\"}\nstorage: {path: \(dir)/c.sqlite}\n"
            .write(toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
        let day = Int(Date().timeIntervalSince1970) / 86_400 * 86_400 - 86_400   // yesterday, 00:00 UTC
        // 1,440 minutes of 0...59 (CSV, shuffled, with a header and two bad lines) and 100 line-protocol readings.
        var csv = ["series,time,value"] + (0..<1440).map { "im-1/temp_c,\(day + $0 * 60),\($0 % 60)" }.shuffled()
        csv.insert("im-1/temp_c,yesterday,3", at: 500)
        csv.append("im 1/temp_c,\(day),1")
        try csv.joined(separator: "\n").write(toFile: dir + "/a.csv", atomically: true, encoding: .utf8)
        let lp = (0..<100).map { "m,sensor=im-2 kwh=\($0) \((day + $0 * 60) * 1_000_000_000)" } + ["m,sensor=im-2 kwh=1x"]
        try lp.joined(separator: "\n").write(toFile: dir + "/b.lp", atomically: true, encoding: .utf8)
        // SenML, one pack a file: a plain one (read from its bytes), one only the decoder reads
        // (a `bver`), and one refused whole.
        let plain = (0..<50).map { k in #"{"n":"im-3/rh_pct","v":\#(k),"t":\#(k * 60)}"# }
        try ("[" + #"{"bt":\#(day),"n":"im-3/rh_pct","v":-1,"t":-60},"# + plain.joined(separator: ",") + "]")
            .write(toFile: dir + "/c.senml", atomically: true, encoding: .utf8)
        try #"[{"bn":"im-4:","bt":\#(day),"bver":10,"n":"level_m","v":1.5},{"n":"level_m","t":60,"v":1.6}]"#
            .write(toFile: dir + "/d.senml", atomically: true, encoding: .utf8)
        try #"[{"n":"im-5/x","v":1,"vs":"two values"}]"#.write(toFile: dir + "/e.senml", atomically: true, encoding: .utf8)
        let files = [dir + "/a.csv", dir + "/b.lp", dir + "/c.senml", dir + "/d.senml", dir + "/e.senml"]

        let first = try await Self.collector(["import", "--config", dir + "/c.yaml"] + files, dir: dir)
        #expect(first.code == 0 && first.out.contains("1593 readings stored, 0 already there, 4 quarantined"), "\(first.out)")
        let second = try await Self.collector(["import", "--config", dir + "/c.yaml"] + files, dir: dir)
        #expect(second.out.contains("0 readings stored, 1593 already there"), "\(second.out)")
        let packed = try await Self.collector(["query", "rollups", "--config", dir + "/c.yaml", "--db", dir + "/c.sqlite",
                                               "--series", "im-3/rh_pct", "--step", "1h", "--from", String(day - 3_600), "--to", String(day + 3_600),
                                               "--format", "csv"], dir: dir)
        // The hour before (the -1 at 23:59), then the hour's 50 readings 0...49 (sum 1225).
        #expect(packed.out.contains(",1,-1,-1,-1,") && packed.out.contains(",50,24.5,0,49,1225,"), "\(packed.out)")
        // Exact rollups: 24 hours of 60 readings, each hour averaging 29.5.
        let q = try await Self.collector(["query", "rollups", "--config", dir + "/c.yaml", "--db", dir + "/c.sqlite", "--series", "im-1/temp_c",
                                          "--step", "1h", "--from", String(day), "--to", String(day + 86_400), "--format", "csv"], dir: dir)
        let rows = q.out.split(separator: "\n").dropFirst()
        #expect(rows.count == 24 && rows.allSatisfy { $0.contains(",60,29.5,0,59,1770,") }, "\(q.out)")
        let quarantined = try await Self.collector(["query", "rollups", "--config", dir + "/c.yaml", "--db", dir + "/c.sqlite",
                                                    "--series", "im-2/kwh", "--step", "1d", "--from", String(day), "--format", "json"], dir: dir)
        #expect(quarantined.out.contains(#""count":100"#))

        // A collector running on this configuration: import refuses.
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-import")
        try c.start()
        try await c.waitReady()
        try "sensors: \(dir)/none\nhttp: {listen: \"127.0.0.1:0\"}\nstorage: {path: \(dir)/data/collector.sqlite}\n"
            .write(toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
        let refused = try await Self.collector(["import", "--config", dir + "/c.yaml", dir + "/b.lp"], dir: dir)
        #expect(refused.code == 1 && refused.out.contains("stop it first"))
        _ = try await c.terminate()
    }

    /// With partitions, an import into the shared store notes its meters' readings for the
    /// province lease's holder (who computes their DMAs' and transformers' figures), as a
    /// collector's commit does; other series are not noted.
    @Test(.timeLimit(.minutes(2))) func intoPartitionedPostgreSQLNotesTheMeters() async throws {
        let (dir, pg) = try await PostgresCluster.started()
        defer { pg.remove(dir) }
        try FileManager.default.createDirectory(atPath: dir + "/none", withIntermediateDirectories: true)
        try """
            sensors: \(dir)/none
            storage: {path: \(dir)/c.sqlite}
            partition: {name: north, member: import-a, nats: [nats://127.0.0.1:4222], lease: 6s}
            """.write(toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
        let day = Int(Date().timeIntervalSince1970) / 86_400 * 86_400 - 86_400
        let lp = (0..<8).map { "m,sensor=im-m kwh=\($0) \((day + $0 * 900) * 1_000_000_000)" }
            + (0..<8).map { "m,sensor=im-w volume_m3=\($0) \((day + 3_600 + $0 * 900) * 1_000_000_000)" }
            + (0..<8).map { "m,sensor=im-t temp_c=\($0) \((day + $0 * 900) * 1_000_000_000)" }
        try lp.joined(separator: "\n").write(toFile: dir + "/b.lp", atomically: true, encoding: .utf8)
        let run = try await Self.collector(["import", "--config", dir + "/c.yaml", "--postgres", pg.url, dir + "/b.lp"], dir: dir)
        #expect(run.code == 0 && run.out.contains("24 readings stored"), "\(run.out)")
        let notes = try pg.psql(pg.primaryPort.port, """
            SELECT s.sensor || '/' || s.metric || ' ' || c.from_t FROM series_changes c JOIN series s ON s.id = c.series_id ORDER BY 1
            """)
        #expect(notes == "im-m/kwh \(day * 1000)\nim-w/volume_m3 \((day + 3_600) * 1000)", "\(notes)")
    }

    /// `--postgres`: the same files into a shared PostgreSQL store (a primary with a
    /// synchronous replica); `collector verify --postgres` finds every tier equal to its
    /// recompute; a second run stores nothing new; `collector query --postgres` gives the
    /// bodies a SQLite store of the same files gives.
    @Test(.timeLimit(.minutes(2))) func intoPostgreSQL() async throws {
        let (dir, pg) = try await PostgresCluster.started()
        defer { pg.remove(dir) }
        try FileManager.default.createDirectory(atPath: dir + "/none", withIntermediateDirectories: true)
        try "sensors: \(dir)/none\nhttp: {listen: \"127.0.0.1:0\"}\nstorage: {path: \(dir)/c.sqlite}\n"
            .write(toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
        let day = Int(Date().timeIntervalSince1970) / 86_400 * 86_400 - 86_400
        var csv = ["series,time,value"] + (0..<1440).map { "im-1/temp_c,\(day + $0 * 60),\($0 % 60)" }.shuffled()
        csv.insert("im-1/temp_c,yesterday,3", at: 500)
        try csv.joined(separator: "\n").write(toFile: dir + "/a.csv", atomically: true, encoding: .utf8)
        let lp = (0..<100).map { "m,sensor=im-2 kwh=\($0) \((day + $0 * 60) * 1_000_000_000)" }
        try lp.joined(separator: "\n").write(toFile: dir + "/b.lp", atomically: true, encoding: .utf8)

        let args = ["import", "--config", dir + "/c.yaml", "--postgres", pg.url, "--batch", "300", dir + "/a.csv", dir + "/b.lp"]
        let first = try await Self.collector(args, dir: dir)
        #expect(first.code == 0 && first.out.contains("into PostgreSQL: 1540 readings stored, 0 already there, 1 quarantined"), "\(first.out)")
        let second = try await Self.collector(args, dir: dir)
        #expect(second.code == 0 && second.out.contains("0 readings stored, 1540 already there"), "\(second.out)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/c.sqlite"))   // PostgreSQL only
        #expect(try pg.psql(pg.primaryPort.port, "SELECT reason, count(*) FROM quarantine GROUP BY reason") == "bad_time|2")
        let verify = try await Self.collector(["verify", "--config", dir + "/c.yaml", "--postgres", pg.url, "--from", String(day - 86_400)], dir: dir)
        #expect(verify.code == 0 && verify.out.contains("verify: 2 series, 1540 raw readings")
                && verify.out.contains("verify: OK"), "\(verify.out)")
        // The API over PostgreSQL (`collector query --postgres`) answers as over SQLite: the
        // same files imported into a SQLite store, the same queries, the same bodies.
        let sqlite = try await Self.collector(["import", "--config", dir + "/c.yaml", dir + "/a.csv", dir + "/b.lp"], dir: dir)
        #expect(sqlite.code == 0, "\(sqlite.out)")
        let span = ["--from", String(day - 3_600), "--to", String(day + 86_400 + 3_600), "--format", "json"]
        let queries: [[String]] = [
            ["rollups", "--series", "im-1/temp_c", "--step", "1h"], ["rollups", "--series", "im-1/temp_c", "--step", "5m"],
            ["rollups", "--series", "im-2/kwh", "--step", "1d"], ["rollups", "--series", "im-9/none", "--step", "1h"],
            ["rollups", "--metric", "temp_c", "--group-by", "sensor", "--agg", "max", "--step", "15m"],
            ["raw", "--series", "im-1/temp_c"], ["raw", "--series", "im-1/temp_c", "--points", "50"],
        ]
        for q in queries {
            let fromSQLite = try await Self.collector(["query"] + q + span + ["--config", dir + "/c.yaml", "--db", dir + "/c.sqlite"], dir: dir)
            let fromPostgres = try await Self.collector(["query"] + q + span + ["--config", dir + "/c.yaml", "--postgres", pg.url], dir: dir)
            #expect(fromPostgres.out == fromSQLite.out && fromPostgres.code == fromSQLite.code, "\(q): \(fromPostgres.out) vs \(fromSQLite.out)")
            #expect(fromSQLite.out.count > 40, "\(q): \(fromSQLite.out)")
        }
        let hourly = try await Self.collector(["query", "rollups", "--series", "im-1/temp_c", "--step", "1h", "--from", String(day),
                                               "--to", String(day + 86_400), "--format", "csv", "--config", dir + "/c.yaml",
                                               "--postgres", pg.url], dir: dir)
        let rows = hourly.out.split(separator: "\n").dropFirst()
        #expect(rows.count == 24 && rows.allSatisfy { $0.contains(",60,29.5,0,59,1770,") }, "\(hourly.out)")
        // A bucket changed behind the store's back is found.
        // (im-1's first block of minutes deleted: each of its buckets is missing.)
        let gone = try pg.psql(pg.primaryPort.port, """
            DELETE FROM rollup_blocks WHERE tier = 0 AND series_id = (SELECT id FROM series WHERE sensor = 'im-1')
              AND first_start = (SELECT min(first_start) FROM rollup_blocks WHERE tier = 0
                                 AND series_id = (SELECT id FROM series WHERE sensor = 'im-1'))
            RETURNING count
            """).split(separator: "\n").first.map(String.init) ?? ""   // (then psql's "DELETE 1")
        let tampered = try await Self.collector(["verify", "--config", dir + "/c.yaml", "--postgres", pg.url, "--from", String(day - 86_400)], dir: dir)
        #expect(Int(gone) ?? 0 > 0 && tampered.code == 1 && tampered.out.contains("1m: 1540 buckets, \(gone) differ"), "\(gone): \(tampered.out)")
        #expect(!second.out.contains("NOTICE"), "\(second.out)")   // "relation already exists": not for the user
    }

    /// Imported readings get their derived series from the next collector start (the journal
    /// keeps them until then): a wet day and a downpour imported give the gauge its 24 h sum
    /// and flood-risk level, equal to their recompute. Before, the import trimmed the journal
    /// and the inputs never had derived series.
    @Test func importedInputsGetTheirDerivedSeriesAtTheNextStart() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (broker, c) = try await DerivedEndToEndTests.gaugeOnly("hy-im", susceptibility: "high", clientID: "it-import-derived", dir: dir)
        defer { broker.stop() }
        let now = Int(Date().timeIntervalSince1970)
        try "series,time,value\nhy-im/rain_mm,\(now - 86_400 - 3_600),20\nhy-im/rain_mm,\(now - 3_600),150\n"
            .write(toFile: dir + "/rain.csv", atomically: true, encoding: .utf8)
        let imported = try await Self.collector(["import", "--config", c.configPath, dir + "/rain.csv"], dir: dir)
        #expect(imported.code == 0 && imported.out.contains("2 readings stored"), "\(imported.out)")
        try c.start()
        try await c.waitReady()
        try await waitUntil("the imported gauge's derived series", seconds: 20) {
            let sum = try? await DerivedEndToEndTests.points(c, "hy-im/rain_24h_mm").last?.v
            let level = try? await DerivedEndToEndTests.points(c, "hy-im/flood_risk_level").last?.v
            return sum == 150 && level == 2
        }
        _ = try await c.terminate()
        let out = try await verifyStore(configPath: c.configPath, dir: dir)
        #expect(out.contains("verify: derived: ") && out.contains(" 0 differ"), "\(out)")
    }

    /// More raw readings than one answer holds (150,000 against 100,000), asked with
    /// `points=500`: the downsampled answer, streamed through every reading (before: "pass
    /// points=N", which it already did). Without `points` the answer still says to pass it.
    @Test func aLongRangeIsDrawnWithPointsHoweverManyReadingsItHolds() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-long-raw")
        let now = Int(Date().timeIntervalSince1970)
        let first = now - 150_000 * 60
        let lines = (0..<150_000).map { i in "m,sensor=lr-1 v=\(i == 70_000 ? 1000 : i % 100) \(first + i * 60)" }
        try lines.joined(separator: "\n").write(toFile: dir + "/long.lp", atomically: true, encoding: .utf8)
        let imported = try await Self.collector(["import", "--config", c.configPath, "--precision", "s", dir + "/long.lp"], dir: dir)
        #expect(imported.out.contains("150000 readings stored"), "\(imported.out)")
        try c.start()
        try await c.waitReady()
        let range = "from=\(first)&to=\(now)"
        let o = try await httpJSON(c.baseURL + "/api/v1/raw?series=lr-1/v&\(range)&points=500")
        let points = (o["points"] as? [[String: Any]]) ?? []
        #expect(points.count == 500)
        #expect((points.first?["t"] as? NSNumber)?.intValue == first && (points.last?["t"] as? NSNumber)?.intValue == first + 149_999 * 60)
        #expect(points.contains { ($0["value"] as? NSNumber)?.doubleValue == 1000 }, "the peak is kept")
        let (status, body) = try await httpGet(c.baseURL + "/api/v1/raw?series=lr-1/v&\(range)")
        #expect(status == 400 && String(decoding: body, as: UTF8.self).contains("points=N"))
        _ = try await c.terminate()
    }
}
