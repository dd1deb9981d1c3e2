import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// Readings over HTTP (InfluxDB's v2 and v1 write APIs, SenML), from real clients (curl and
/// InfluxDB's Python client) against the running collector: answered after the durable
/// commit, partial writes as InfluxDB makes them, roles, limits after decompression, and
/// concurrent writers losing nothing.
@Suite struct HTTPWriteTests {
    /// curl's answer: the status and the body.
    static func curl(_ args: [String], in dir: String) throws -> (status: Int, body: String) {
        let out = dir + "/curl-\(UUID().uuidString).body"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let code = try run("curl", ["-s", "-S", "-o", out, "-w", "%{http_code}"] + args, in: dir)
        let body = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        return (Int(code.trimmingCharacters(in: .whitespacesAndNewlines).suffix(3)) ?? 0, body)
    }

    static func post(_ c: CollectorProcess, _ path: String, token: String?, body: String, dir: String,
                     extra: [String] = []) throws -> (status: Int, body: String) {
        let file = dir + "/body-\(UUID().uuidString)"
        try body.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        return try curl(["-X", "POST", "--data-binary", "@" + file] + (token.map { ["-H", "Authorization: Token \($0)"] } ?? []) + extra
                        + [c.baseURL + path], in: dir)
    }

    static func points(_ c: CollectorProcess, _ series: String) async throws -> [Double] {
        let o = try await httpJSON(c.baseURL + "/api/v1/raw?series=\(series)&from=1794900000&to=1796000000")
        return ((o["points"] as? [[String: Any]]) ?? []).compactMap { ($0["value"] as? NSNumber)?.doubleValue }
    }

    @Test func writesAnsweredAfterTheCommitWithPartialWritesRolesAndLimits() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/none", withIntermediateDirectories: true)
        let (broker, c) = try await TestTokens.startCollector("it-http-write", in: dir,
                                                              extraYAML: "sensors: \(dir)/none\nlimits: {new_series_per_minute: 60}")
        defer { broker.stop() }
        let writer = TestTokens.writer

        // A good batch: 204, and every line readable the moment the answer comes (the
        // answer waits for the commit, as a PUBACK does).
        let good = (0..<5).map { "river,sensor=hy-w1 level_m=\(2 + Double($0) / 10) \(1_795_000_000 + 60 * $0)" }.joined(separator: "\n")
        #expect(try Self.post(c, "/api/v2/write?org=lai-chau&bucket=gw-lc&precision=s", token: writer, body: good, dir: dir).status == 204)
        let raw = try Self.curl(["-H", "Authorization: Bearer \(TestTokens.viewer)",
                                 c.baseURL + "/api/v1/raw?series=hy-w1/level_m&from=1794900000&to=1796000000"], in: dir)
        #expect(raw.status == 200 && raw.body.components(separatedBy: "\"t\"").count - 1 == 5, "\(raw.body)")

        // A bad line among good ones: the good are stored, the bad one quarantined and named
        // with its line and column; 400, as InfluxDB answers a partial write.
        let mixed = "river,sensor=hy-w2 level_m=1.5 1795000000\nriver,sensor=hy-w2 level_m=oops 1795000060\n\n# a comment\nriver,sensor=hy-w2 level_m=1.7 1795000120"
        let (status, body) = try Self.post(c, "/api/v2/write?bucket=gw-lc&precision=s", token: writer, body: mixed, dir: dir)
        #expect(status == 400 && body.contains("partial write: 2 lines stored, 1 refused") && body.contains("line 2, column 28: bad float field"), "\(body)")
        let answer = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        #expect(answer?["stored"] as? Int == 2 && (answer?["refused"] as? [[String: Any]])?.first?["line"] as? Int == 2)
        let quarantine = try Self.curl(["-H", "Authorization: Bearer \(TestTokens.viewer)", c.baseURL + "/api/v1/quarantine"], in: dir)
        #expect(quarantine.body.contains("http/gw-lc") && quarantine.body.contains("line 2, column 28"), "\(quarantine.body)")
        // A line naming no sensor is the bucket's.
        #expect(try Self.post(c, "/api/v2/write?bucket=gw-lc&precision=s", token: writer, body: "air pm25_ugm3=12 1795000000", dir: dir).status == 204)

        // v1 (`db`, Basic auth as Telegraf's v1 output sends it), and SenML.
        #expect(try Self.curl(["-X", "POST", "--data-binary", "rain,sensor=rg-w3 rain_mm=0.5 1795000000000", "-u", "telegraf:\(writer)",
                               c.baseURL + "/write?db=gw-v1&precision=ms"], in: dir).status == 204)
        #expect(try Self.post(c, "/api/v1/senml", token: writer, body: #"[{"bn":"ws-w4:","bt":1.795e9,"n":"temp_c","v":21.5}]"#, dir: dir).status == 204)
        let badPack = try Self.post(c, "/api/v1/senml", token: writer, body: #"[{"n":"ws-w4:temp_c","v":1,"vs":"x"}]"#, dir: dir)
        #expect(badPack.status == 400 && badPack.body.contains("needs exactly one of v"), "\(badPack.body)")

        // Roles: a writer may only write; a viewer may not write; admin may; none: 401.
        #expect(try Self.curl(["-H", "Authorization: Token \(writer)", c.baseURL + "/api/v1/series"], in: dir).status == 403)
        #expect(try Self.post(c, "/api/v2/write?bucket=b", token: TestTokens.viewer, body: "m,sensor=s v=1", dir: dir).status == 403)
        #expect(try Self.post(c, "/api/v2/write?bucket=b", token: TestTokens.operatorToken, body: "m,sensor=s v=1", dir: dir).status == 403)
        #expect(try Self.post(c, "/api/v2/write?bucket=b", token: TestTokens.admin, body: "m,sensor=s-adm v=1", dir: dir).status == 204)
        #expect(try Self.post(c, "/api/v2/write?bucket=b", token: nil, body: "m,sensor=s v=1", dir: dir).status == 401)
        #expect(try Self.post(c, "/api/v1/alert-groups/ack", token: writer, body: "{}", dir: dir).status == 403)

        // Bad parameters, and bodies: a gzip body is read; one past max_payload_bytes once
        // decompressed (a small bomb) is 413; an empty one and a bad precision are 400.
        #expect(try Self.post(c, "/api/v2/write?bucket=b&precision=h", token: writer, body: "m,sensor=s v=1", dir: dir).status == 400)
        #expect(try Self.post(c, "/api/v2/write?bucket=a%20b", token: writer, body: "m,sensor=s v=1", dir: dir).status == 400)
        #expect(try Self.post(c, "/api/v2/write?bucket=b", token: writer, body: "\n\n", dir: dir).status == 400)
        try "river,sensor=hy-gz level_m=3.25 1795000000\n".write(toFile: dir + "/gz", atomically: true, encoding: .utf8)
        try run("gzip", ["-f", dir + "/gz"], in: dir)
        #expect(try Self.curl(["-X", "POST", "--data-binary", "@\(dir)/gz.gz", "-H", "Content-Encoding: gzip", "-H", "Authorization: Token \(writer)",
                               c.baseURL + "/api/v2/write?bucket=b&precision=s"], in: dir).status == 204)
        try String(repeating: "0", count: 4_000_000).write(toFile: dir + "/bomb", atomically: true, encoding: .utf8)
        try run("gzip", ["-f", dir + "/bomb"], in: dir)
        #expect((try FileManager.default.attributesOfItem(atPath: dir + "/bomb.gz")[.size] as? Int ?? .max) < 262_144)
        let bomb = try Self.curl(["-X", "POST", "--data-binary", "@\(dir)/bomb.gz", "-H", "Content-Encoding: gzip", "-H", "Authorization: Token \(writer)",
                                  c.baseURL + "/api/v2/write?bucket=b"], in: dir)
        #expect(bomb.status == 413 && bomb.body.contains("after decompression"), "\(bomb)")
        #expect(try Self.curl(["-X", "POST", "--data-binary", "@\(dir)/gz.gz", "-H", "Content-Encoding: br", "-H", "Authorization: Token \(writer)",
                               c.baseURL + "/api/v2/write?bucket=b"], in: dir).status == 415)
        #expect(try Self.curl(["-X", "GET", "-H", "Authorization: Token \(writer)", c.baseURL + "/api/v2/write"], in: dir).status == 405)
        // A body cut short in transit is refused, not read as a shorter one.
        let whole = try Data(contentsOf: URL(fileURLWithPath: dir + "/gz.gz"))
        try whole.prefix(whole.count - 4).write(to: URL(fileURLWithPath: dir + "/cut.gz"))
        let cut = try Self.curl(["-X", "POST", "--data-binary", "@\(dir)/cut.gz", "-H", "Content-Encoding: gzip", "-H", "Authorization: Token \(writer)",
                                 c.baseURL + "/api/v2/write?bucket=b&precision=s"], in: dir)
        #expect(cut.status == 400 && cut.body.contains("truncated"), "\(cut)")
        // Past the limit before decompression: a 413 that says so.
        try String(repeating: "m,sensor=s v=1\n", count: 20_000).write(toFile: dir + "/big", atomically: true, encoding: .utf8)
        let big = try Self.curl(["-X", "POST", "--data-binary", "@\(dir)/big", "-H", "Authorization: Token \(writer)", c.baseURL + "/api/v2/write?bucket=b"], in: dir)
        #expect(big.status == 413 && big.body.contains("max_payload_bytes"), "\(big)")
        // The role is the route's however the path is spelled.
        #expect(try Self.post(c, "//api/v2/write?bucket=b", token: TestTokens.operatorToken, body: "m,sensor=s v=1", dir: dir).status == 403)
        #expect(try Self.post(c, "/write/?db=b", token: TestTokens.operatorToken, body: "m,sensor=s v=1", dir: dir).status == 403)
        // What Telegraf and InfluxDB v1 clients also send: string fields only (nothing to
        // store, nothing wrong), `u`/`p` and `Token user:password`, /ping, CREATE DATABASE.
        #expect(try Self.post(c, "/write?db=b", token: writer, body: #"system,sensor=s uptime_format="3 days""#, dir: dir).status == 204)
        #expect(try Self.curl(["-X", "POST", "--data-binary", "m,sensor=s-p v=1", c.baseURL + "/write?db=b&u=telegraf&p=\(writer)"], in: dir).status == 204)
        #expect(try Self.curl(["-X", "POST", "--data-binary", "m,sensor=s-t v=1", "-H", "Authorization: Token telegraf:\(writer)",
                               c.baseURL + "/write?db=b"], in: dir).status == 204)
        #expect(try Self.curl([c.baseURL + "/ping"], in: dir).status == 204)
        #expect(try Self.curl(["-X", "POST", "-H", "Authorization: Token \(writer)", c.baseURL + "/query?q=CREATE%20DATABASE%20%22telegraf%22"], in: dir).status == 200)
        #expect(try Self.curl(["-X", "POST", "-H", "Authorization: Token \(writer)", c.baseURL + "/query?q=SELECT%201"], in: dir).status == 400)
        #expect(try Self.curl(["-X", "POST", "-H", "Authorization: Token \(writer)", "--data-urlencode", "q=CREATE DATABASE \"telegraf\"",
                               c.baseURL + "/query"], in: dir).status == 200)   // as Telegraf's v1 output sends it
        // Two gzip members (RFC 1952 allows it; some writers append): both read.
        try "river,sensor=hy-gz2 level_m=1.5 1795000000\n".write(toFile: dir + "/m2", atomically: true, encoding: .utf8)
        try run("gzip", ["-f", dir + "/m2"], in: dir)
        try (try Data(contentsOf: URL(fileURLWithPath: dir + "/gz.gz")) + Data(contentsOf: URL(fileURLWithPath: dir + "/m2.gz")))
            .write(to: URL(fileURLWithPath: dir + "/two.gz"))
        let two = try Self.curl(["-X", "POST", "--data-binary", "@\(dir)/two.gz", "-H", "Content-Encoding: gzip", "-H", "Authorization: Token \(writer)",
                                 c.baseURL + "/api/v2/write?bucket=b&precision=s"], in: dir)
        #expect(two.status == 204, "\(two)")
        let raw2 = try Self.curl(["-H", "Authorization: Bearer \(TestTokens.viewer)",
                                  c.baseURL + "/api/v1/raw?series=hy-gz2/level_m&from=1794900000&to=1796000000"], in: dir)
        #expect(raw2.body.contains("1.5"), "\(raw2.body)")
        // New series past limits.new_series_per_minute: a 429 to retry later, not a 400 that
        // Telegraf would drop the batch on.
        let many = (0..<80).map { "m,sensor=new-\($0) v=1 1795000000" }.joined(separator: "\n")
        let (rate, rateBody) = try Self.post(c, "/api/v2/write?bucket=b&precision=s", token: writer, body: many, dir: dir, extra: ["-D", dir + "/h"])
        let rateHeaders = try String(contentsOfFile: dir + "/h", encoding: .utf8).lowercased()
        #expect(rate == 429 && rateBody.contains("limits.new_series_per_minute") && !rateBody.contains("unable to parse")
                && rateHeaders.contains("retry-after: 60"), "\(rate) \(rateBody.prefix(300))")
        #expect(c.isRunning)
        _ = try await c.terminate()
    }

    /// Eight gateways writing at once, 40 batches of 25 lines each: every reading stored once.
    @Test func concurrentWritersLoseNothing() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/none", withIntermediateDirectories: true)
        let (broker, c) = try await TestTokens.startCollector("it-http-conc", in: dir, extraYAML: "sensors: \(dir)/none")
        defer { broker.stop() }
        let url = URL(string: c.baseURL + "/api/v2/write?bucket=conc&precision=s")!
        let statuses = try await withThrowingTaskGroup(of: [Int].self) { group in
            for g in 0..<8 {
                group.addTask {
                    var out: [Int] = []
                    for batch in 0..<40 {
                        let lines = (0..<25).map { k in "m,sensor=gw-\(g) v=\(batch * 25 + k) \(1_795_000_000 + batch * 25 + k)" }
                        var r = URLRequest(url: url)
                        r.httpMethod = "POST"
                        r.httpBody = Data(lines.joined(separator: "\n").utf8)
                        r.setValue("Token \(TestTokens.writer)", forHTTPHeaderField: "Authorization")
                        let (_, resp) = try await URLSession.shared.data(for: r)
                        out.append((resp as? HTTPURLResponse)?.statusCode ?? 0)
                    }
                    return out
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(statuses.count == 320 && statuses.allSatisfy { $0 == 204 }, "\(Set(statuses))")
        // (Rollups merge behind the commits: wait for them, then every count is exact.)
        var counts: [Int] = []
        try await waitUntil("the rollups of all 8,000 readings", seconds: 30) {
            counts = []
            for g in 0..<8 { counts.append(try await Self.storedCount(c, "gw-\(g)/v")) }
            return counts.allSatisfy { $0 >= 1_000 }
        }
        #expect(counts == Array(repeating: 1_000, count: 8), "\(counts)")
        _ = try await c.terminate()
    }

    /// Storage that cannot commit (a full disk, played by `storage.max_size`): a write is
    /// answered 503 with Retry-After, and nothing of it is stored.
    @Test func aWriteStorageCannotCommitIs503() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/none", withIntermediateDirectories: true)
        try """
            tokens:
              - {name: gateway-lc, role: writer, token: "\(TestTokens.writer)"}
              - {name: ops-screen, role: viewer, token: "\(TestTokens.viewer)"}
            """.write(toFile: dir + "/tokens.yaml", atomically: true, encoding: .utf8)
        chmod(dir + "/tokens.yaml", 0o600)
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-http-full", httpExtra: ["tokens_file: \(dir)/tokens.yaml"],
                                     storageExtra: ["max_size: 256KB"], extraYAML: "sensors: \(dir)/none")
        try c.start()
        try await c.waitReady()
        var answer: (status: Int, body: String) = (0, "")
        var headers = ""
        var last = 0
        for batch in 0..<60 {
            last = batch   // values of 16-17 digits: about 10 bytes a reading even in blocks
            let lines = (0..<2_000).map { k in "m,sensor=full-\(batch) v=\(sin(Double(batch * 2_000 + k))) \(1_795_000_000 + k)" }
            try lines.joined(separator: "\n").write(toFile: dir + "/batch", atomically: true, encoding: .utf8)
            answer = try Self.curl(["-X", "POST", "--data-binary", "@\(dir)/batch", "-D", dir + "/headers", "-H", "Authorization: Token \(TestTokens.writer)",
                                    c.baseURL + "/api/v2/write?bucket=b&precision=s"], in: dir)
            headers = (try? String(contentsOfFile: dir + "/headers", encoding: .utf8)) ?? ""
            if answer.status != 204 { break }
        }
        #expect(answer.status == 503 && answer.body.contains("nothing stored") && headers.lowercased().contains("retry-after: 5"), "\(answer)")
        let refused = try await Self.readJSON(c, "/api/v1/raw?series=full-\(last)/v&from=1794900000&to=1796000000")
        #expect(((refused["points"] as? [Any]) ?? []).isEmpty, "\(refused)")
        #expect(c.isRunning)
        _ = try await c.terminate()
    }

    /// InfluxDB's own Python client (from the virtualenv `make test-deps` creates), gzip on:
    /// its points are stored, and a bad line comes back to it as a 400.
    @Test func influxdbPythonClientWrites() async throws {
        let python = packageRoot + "/.build/test-venv/bin/python"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw HarnessError("\(python) is missing: `make test-deps` creates it (with influxdb-client)")
        }
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/none", withIntermediateDirectories: true)
        let (broker, c) = try await TestTokens.startCollector("it-http-py", in: dir, extraYAML: "sensors: \(dir)/none")
        defer { broker.stop() }
        let (status, out) = try runCapturing(python, [packageRoot + "/scripts/influx-client-write.py", c.baseURL, TestTokens.writer, "300"])
        #expect(status == 0, "\(out)")
        #expect(out.contains("points: stored") && out.contains("bad line: refused 400"), "\(out)")
        try await waitUntil("the client's 300 points in the rollups", seconds: 30) { try await Self.storedCount(c, "hy-py-1/level_m") >= 300 }
        #expect(try await Self.storedCount(c, "hy-py-1/level_m") == 300)
        _ = try await c.terminate()
    }

    /// Readings of `series` in the daily rollups.
    static func storedCount(_ c: CollectorProcess, _ series: String) async throws -> Int {
        let o = try await readJSON(c, "/api/v1/rollups?series=\(series)&step=1d&from=1794900000&to=1796000000")
        return ((o["points"] as? [[String: Any]]) ?? []).reduce(0) { $0 + (($1["count"] as? NSNumber)?.intValue ?? 0) }
    }

    static func readJSON(_ c: CollectorProcess, _ path: String) async throws -> [String: Any] {
        var r = URLRequest(url: URL(string: c.baseURL + path)!)
        r.setValue("Bearer \(TestTokens.viewer)", forHTTPHeaderField: "Authorization")
        let (data, _) = try await URLSession.shared.data(for: r)
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    }
}
