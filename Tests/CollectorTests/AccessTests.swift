import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
@testable import Collector

/// Roles from http.tokens_file, enforced on every endpoint class.
@Suite(.serialized) struct AccessTests {
    static let viewer = TestTokens.viewer
    static let operatorToken = TestTokens.operatorToken

    func request(_ url: String, method: String = "GET", token: String? = nil, body: String? = nil) async throws -> (Int, String) {
        var r = URLRequest(url: URL(string: url)!)
        r.httpMethod = method
        if let token { r.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let body { r.httpBody = Data(body.utf8) }
        let (data, resp) = try await URLSession.shared.data(for: r)
        return ((resp as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    @Test func rolesAreEnforced() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (broker, c) = try await TestTokens.startCollector("it-access", in: dir)
        defer { broker.stop() }
        let base = c.baseURL
        #expect(try await request(base + "/healthz").0 == 200)
        #expect(try await request(base + "/readyz").0 == 200)
        let denied = try await request(base + "/api/v1/series")
        #expect(denied.0 == 401 && denied.1.contains(#""error":"unauthorized""#))
        #expect(try await request(base + "/api/v1/series", token: "not-a-valid-token-at-all").0 == 401)
        #expect(try await request(base + "/api/v1/series", token: Self.viewer).0 == 200)
        #expect(try await request(base + "/api/v1/coverage", token: Self.operatorToken).0 == 200)
        #expect(try await request(base + "/metrics").0 == 401)
        #expect(try await request(base + "/metrics", token: Self.viewer).0 == 200)
        let ack = #"{"by": "x"}"#
        let forbidden = try await request(base + "/api/v1/alerts/999/ack", method: "POST", token: Self.viewer, body: ack)
        #expect(forbidden.0 == 403 && forbidden.1.contains(#""error":"forbidden""#))
        #expect(try await request(base + "/api/v1/alerts/999/ack", method: "POST", token: Self.operatorToken, body: ack).0 == 404)
        _ = try await c.terminate()
    }

    /// A body sent without a token is not waited for: the 401 goes out and the connection
    /// closes, however slowly the rest trickles (before, the trickle kept it open forever).
    @Test func anUnauthenticatedBodyIsNotWaitedFor() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (broker, c) = try await TestTokens.startCollector("it-access-early", in: dir)
        defer { broker.stop() }
        let head = "POST /api/v1/alerts/1/ack HTTP/1.1\r\nHost: x\r\nContent-Length: 10000\r\n\r\n"
        let closed = LimitsTests.secondsUntilClosedTrickling(port: c.httpPort, head: head, every: 0.3, seconds: 5)
        #expect(closed != nil && closed! < 2, "closed after \(String(describing: closed)) s")
        let metrics = try await request(c.baseURL + "/metrics", token: Self.viewer).1
        #expect(metrics.contains(#"collector_http_idle_closed_total{reason="answered_early"} 1"#))
        _ = try await c.terminate()
    }

    /// Every endpoint: no token 401, a viewer reads, only an operator acknowledges; tokens never
    /// reach the log; no CORS headers (a browser on another origin gets nothing).
    @Test func everyEndpointByRoleAndNoCORS() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (broker, c) = try await TestTokens.startCollector("it-roles", in: dir)
        defer { broker.stop() }
        let now = Int(Date().timeIntervalSince1970)
        try broker.publish(topic: "telemetry/r-1", lines: [#"{"ts": \#(now - 60), "temp_c": 20}"#])
        let reads = [
            "/api/v1/sensors", "/api/v1/series", "/api/v1/raw?series=r-1/temp_c&from=\(now - 600)&to=\(now)",
            "/api/v1/rollups?series=r-1/temp_c&step=1m&from=\(now - 600)&to=\(now)",
            "/api/v1/rollups?metric=temp_c&group_by=sensor&agg=avg&step=1h&from=\(now - 7200)&to=\(now)",
            "/api/v1/alerts?state=all", "/api/v1/coverage", "/api/v1/coverage/daily?indicator=forest_monitored_pct",
            "/api/v1/quarantine", "/metrics",
        ]
        for path in reads {
            let none = try await request(c.baseURL + path)
            #expect(none.0 == 401 && none.1.contains(#""error":"unauthorized""#), "\(path) without a token: \(none)")
            #expect(try await request(c.baseURL + path, token: Self.viewer).0 == 200, "\(path) as viewer")
            #expect(try await request(c.baseURL + path, token: Self.operatorToken).0 == 200, "\(path) as operator")
        }
        #expect(try await request(c.baseURL + "/api/v1/alerts/stream").0 == 401)
        let ack = #"{"by": "x"}"#
        #expect(try await request(c.baseURL + "/api/v1/alerts/1/ack", method: "POST", body: ack).0 == 401)
        #expect(try await request(c.baseURL + "/api/v1/alerts/1/ack", method: "POST", token: Self.viewer, body: ack).0 == 403)
        #expect(try await request(c.baseURL + "/api/v1/alerts/999999/ack", method: "POST", token: Self.operatorToken, body: ack).0 == 404)

        // CORS: off. Neither a simple request nor a preflight from another origin is allowed.
        var r = URLRequest(url: URL(string: c.baseURL + "/api/v1/series")!)
        r.setValue("Bearer \(Self.viewer)", forHTTPHeaderField: "Authorization")
        r.setValue("https://evil.example", forHTTPHeaderField: "Origin")
        let (_, resp) = try await URLSession.shared.data(for: r)
        #expect((resp as? HTTPURLResponse)?.value(forHTTPHeaderField: "Access-Control-Allow-Origin") == nil)
        var pre = URLRequest(url: URL(string: c.baseURL + "/api/v1/alerts/1/ack")!)
        pre.httpMethod = "OPTIONS"
        pre.setValue("https://evil.example", forHTTPHeaderField: "Origin")
        pre.setValue("POST", forHTTPHeaderField: "Access-Control-Request-Method")
        let (_, preResp) = try await URLSession.shared.data(for: pre)
        #expect((preResp as? HTTPURLResponse)?.value(forHTTPHeaderField: "Access-Control-Allow-Origin") == nil)
        #expect((preResp as? HTTPURLResponse)?.value(forHTTPHeaderField: "Access-Control-Allow-Methods") == nil)

        _ = try await c.terminate()
        let log = c.log()
        #expect(!log.contains(Self.viewer) && !log.contains(Self.operatorToken), "a token reached the log")
    }

    @Test func tokensFileProblems() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
            tokens:
              - {name: a, role: boss, token: "0123456789abcdef"}
              - {name: b, role: viewer, token: "short"}
            """.write(toFile: dir + "/t.yaml", atomically: true, encoding: .utf8)
        chmod(dir + "/t.yaml", 0o600)
        #expect {
            _ = try AccessControl.load(path: dir + "/t.yaml", openMetrics: false)
        } throws: { error in
            (error as? ConfigProblems)?.problems.map(\.description) == [
                "\(dir)/t.yaml:2: role must be viewer, operator, admin or writer",
                "\(dir)/t.yaml:3: a token must be at least 16 characters",
            ]
        }
        #expect(AccessControl.constantTimeEqual(Array("abc".utf8), Array("abc".utf8)))
        #expect(!AccessControl.constantTimeEqual(Array("abc".utf8), Array("abd".utf8)))
        #expect(!AccessControl.constantTimeEqual(Array("abc".utf8), Array("abcd".utf8)))
        // A length difference of 256 is a difference (it was folded to 8 bits: 0).
        let token = Array("viewer-token-0123456789".utf8)
        #expect(!AccessControl.constantTimeEqual(token, token + [UInt8](repeating: 0, count: 256)))
    }

    /// A world-readable tokens file is refused; a YAML error names its line and never shows it.
    @Test func tokensFileSecretsStaySecret() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/t.yaml"
        try "tokens:\n  - {name: a, role: viewer, token: \"0123456789abcdef\"}\n".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o644)
        #expect {
            _ = try AccessControl.load(path: path, openMetrics: false)
        } throws: { error in
            (error as? ConfigProblems)?.problems.map(\.description) == ["\(path):1: the tokens file is world-readable; chmod o-r it first (it holds secrets)"]
        }
        try "tokens:\n  - {name: a, role: viewer, token: \"super-secret-value-42\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
        #expect {
            _ = try AccessControl.load(path: path, openMetrics: false)
        } throws: { error in
            let text = (error as? ConfigProblems)?.problems.map(\.description).joined() ?? ""
            return !text.contains("super-secret") && !text.contains(":1:") && text.contains("\(path):")
        }
    }
}
