import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import Alerts
import Telemetry

/// `collector serve --postgres`: the HTTP API and dashboard read-only over the shared store,
/// here its synchronous replica. It answers what was committed on the primary, as soon as the
/// commit returned (`remote_apply`); it takes no writes; it is not ready once it no longer
/// streams from the primary.
@Suite(.serialized) struct ServeCommandTests {
    @Test(.timeLimit(.minutes(2))) func aReplicaAnswersWhatThePrimaryCommitted() async throws {
        let (dir, pg) = try await PostgresCluster.started()
        defer { pg.remove(dir) }
        try FileManager.default.createDirectory(atPath: dir + "/none", withIntermediateDirectories: true)
        try "sensors: \(dir)/none\nhttp: {listen: \"127.0.0.1:0\"}\nstorage: {path: \(dir)/c.sqlite}\n"
            .write(toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
        let day = Int(Date().timeIntervalSince1970) / 86_400 * 86_400 - 86_400
        func csv(_ name: String, _ hours: Range<Int>) throws {
            let lines = hours.flatMap { h in (0..<60).map { "sv-1/level_m,\(day + h * 3_600 + $0 * 60),\(Double(h) + Double($0) / 100)" } }
            try lines.joined(separator: "\n").write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
        }
        try csv("a.csv", 0..<12)
        let imported = try await collectorCLI(["import", "--config", dir + "/c.yaml", "--postgres", pg.url, dir + "/a.csv"], dir: dir)
        #expect(imported.code == 0, "\(imported.out)")

        // Read-only on the replica: a server in recovery takes no DDL, and serve creates nothing.
        let replica = "postgresql://collector@127.0.0.1:\(pg.replicaPort.port)/postgres?connect_timeout=3"
        let (serve, port) = try await Self.startServe(in: dir, ["--config", dir + "/c.yaml", "--postgres", replica, "--max-lag", "2s"])
        defer { serve.stop() }
        let base = "http://127.0.0.1:\(port)"
        #expect(try await httpGet(base + "/readyz").status == 200)
        let q = "/api/v1/rollups?series=sv-1/level_m&step=1h&from=\(day)&to=\(day + 86_400)&format=csv"
        func hours() async throws -> [Substring] {
            let (status, body) = try await httpGet(base + q)
            #expect(status == 200)
            return String(decoding: body, as: UTF8.self).split(separator: "\n").dropFirst().map { $0 }
        }
        #expect(try await hours().count == 12)
        // A commit on the primary is there as soon as it returned.
        try csv("b.csv", 12..<24)
        _ = try await collectorCLI(["import", "--config", dir + "/c.yaml", "--postgres", pg.url, dir + "/b.csv"], dir: dir)
        let all = try await hours()
        #expect(all.count == 24 && all.allSatisfy { $0.contains(",60,") }, "\(all)")
        // The series list, the dashboard, and no writes.
        let series = try await httpGet(base + "/api/v1/series")
        #expect(series.status == 200 && String(decoding: series.body, as: UTF8.self).contains("sv-1/level_m"))
        #expect(try await httpGet(base + "/").status == 200)
        var post = URLRequest(url: URL(string: base + "/write")!)   // the daemon's line-protocol write
        post.httpMethod = "POST"
        post.httpBody = Data("m,sensor=sv-1 level_m=1".utf8)
        let (_, response) = try await URLSession.shared.data(for: post)
        #expect((response as? HTTPURLResponse)?.statusCode == 404)
        #expect(try await httpGet(base + "/api/v1/series?format=json").status == 200)
        // The alerts the collectors stored (one here, written on the primary), listed and
        // grouped; an acknowledgement is a write, and not taken.
        let alerts = PostgresAlertStore(store: try PostgresStore(url: pg.url, timeZone: TimeZoneID("Asia/Ho_Chi_Minh")!), owner: "north", origin: "test")
        let hot = Alert(rule: "forest-hot", subject: "ft-1", severity: .critical, state: "firing", since: 1000, summary: "hot")
        let id = try #require(try alerts.apply([AlertEvent(action: .fire, alert: hot)], now: 1000).first?.alert.id)
        let listed = try #require(try JSONSerialization.jsonObject(with: try await httpGet(base + "/api/v1/alerts").body) as? [[String: Any]])
        #expect(listed.map { $0["subject"] as? String } == ["ft-1"])
        #expect(String(decoding: try await httpGet(base + "/api/v1/alert-groups").body, as: UTF8.self).contains(#""count":1"#))
        var ack = URLRequest(url: URL(string: base + "/api/v1/alerts/\(id)/ack")!)
        ack.httpMethod = "POST"
        ack.httpBody = Data(#"{"by": "duty"}"#.utf8)
        #expect(((try await URLSession.shared.data(for: ack)).1 as? HTTPURLResponse)?.statusCode == 404)
        // The standby's replay paused while the primary writes (a commit that does not wait
        // for it): once it has not applied for --max-lag what it received, it is not ready;
        // resumed, it is again.
        _ = try pg.psql(pg.replicaPort.port, "SELECT pg_wal_replay_pause()")
        for k in 0..<8 {
            _ = try pg.psql(pg.primaryPort.port, "SET synchronous_commit = local; INSERT INTO store_meta VALUES ('probe-\(k)', 'x')")
            try await Task.sleep(for: .milliseconds(500))
            _ = try await httpGet(base + "/readyz")   // a check: the positions it has received so far
        }
        try await waitUntil("a lagging standby's /readyz to fail", seconds: 20) { try await httpGet(base + "/readyz").status == 503 }
        let lagging = String(decoding: try await httpGet(base + "/readyz").body, as: UTF8.self)
        #expect(lagging.contains("has not yet applied"), "\(lagging)")
        _ = try pg.psql(pg.replicaPort.port, "SELECT pg_wal_replay_resume()")
        try await waitUntil("the standby ready again", seconds: 20) { try await httpGet(base + "/readyz").status == 200 }
        // The primary lost (and no replica promoted): the standby stops streaming, and says so
        // in its readiness, while it goes on answering what it has.
        try pg.killPrimary()
        try await waitUntil("the standby's /readyz to fail", seconds: 30) { try await httpGet(base + "/readyz").status == 503 }
        let ready = String(decoding: try await httpGet(base + "/readyz").body, as: UTF8.self)
        #expect(ready.contains("does not stream from the primary"), "\(ready)")
        #expect(try await hours().count == 24)
    }

    /// Tokens guard serve as they guard the daemon, and SIGHUP reads the tokens file again: a
    /// removed token stops working at once.
    @Test(.timeLimit(.minutes(2))) func aRemovedTokenStopsWorkingOnSIGHUP() async throws {
        let (dir, pg) = try await PostgresCluster.started()
        defer { pg.remove(dir) }
        try FileManager.default.createDirectory(atPath: dir + "/none", withIntermediateDirectories: true)
        func tokens(_ name: String, _ token: String) throws {
            try "tokens:\n  - {name: \(name), role: viewer, token: \"\(token)\"}\n"
                .write(toFile: dir + "/tokens.yaml", atomically: true, encoding: .utf8)
            chmod(dir + "/tokens.yaml", 0o600)
        }
        try tokens("ops-screen", TestTokens.viewer)
        try "sensors: \(dir)/none\nhttp: {listen: \"127.0.0.1:0\", tokens_file: \(dir)/tokens.yaml}\n"
            .write(toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
        try "im-1/temp_c,\(Int(Date().timeIntervalSince1970) - 600),1".write(toFile: dir + "/a.csv", atomically: true, encoding: .utf8)
        _ = try await collectorCLI(["import", "--config", dir + "/c.yaml", "--postgres", pg.url, dir + "/a.csv"], dir: dir)
        let (serve, port) = try await Self.startServe(in: dir, ["--config", dir + "/c.yaml", "--postgres", pg.url])
        defer { serve.stop() }
        func status(_ token: String?) async throws -> Int {
            var req = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/api/v1/series")!)
            if let token { req.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
            let (_, response) = try await URLSession.shared.data(for: req)
            return (response as? HTTPURLResponse)?.statusCode ?? 0
        }
        #expect(try await status(nil) == 401)
        #expect(try await status(TestTokens.viewer) == 200)
        let newcomer = "newcomer-token-0123456789"
        try tokens("newcomer", newcomer)
        serve.signal(SIGHUP)
        try await waitUntil("the old token revoked", seconds: 10) { try await status(TestTokens.viewer) == 401 }
        #expect(try await status(newcomer) == 200)
    }

    /// `collector serve` with `args` (and a port file in `dir`), once it listens; its port.
    static func startServe(in dir: String, _ args: [String]) async throws -> (SpawnedProcess, Int) {
        let serve = try SpawnedProcess(try checkedCollectorBinary(), ["serve", "--port-file", dir + "/serve.port"] + args,
                                       logPath: dir + "/serve.log")
        var port = 0
        try await waitUntil("serve's port file", seconds: 20) {
            guard serve.isRunning else { throw HarnessError("serve exited: \((try? String(contentsOfFile: dir + "/serve.log", encoding: .utf8)) ?? "")") }
            port = Int((try? String(contentsOfFile: dir + "/serve.port", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
            return port != 0
        }
        return (serve, port)
    }
}
