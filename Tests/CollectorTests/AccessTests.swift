import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
@testable import Collector

/// Roles from http.tokens_file, enforced on every endpoint class.
@Suite(.serialized) struct AccessTests {
    static let viewer = "viewer-token-0123456789"
    static let operatorToken = "operator-token-0123456789"

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
        try """
            tokens:
              - {name: ops-screen, role: viewer, token: "\(Self.viewer)"}
              - {name: duty-officer, role: operator, token: "\(Self.operatorToken)"}
            """.write(toFile: dir + "/tokens.yaml", atomically: true, encoding: .utf8)
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-access",
                                     httpExtra: ["tokens_file: \(dir)/tokens.yaml"])
        try c.start()
        try await c.waitReady()
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

    @Test func tokensFileProblems() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
            tokens:
              - {name: a, role: boss, token: "0123456789abcdef"}
              - {name: b, role: viewer, token: "short"}
            """.write(toFile: dir + "/t.yaml", atomically: true, encoding: .utf8)
        #expect {
            _ = try AccessControl.load(path: dir + "/t.yaml", openMetrics: false)
        } throws: { error in
            (error as? ConfigProblems)?.problems.map(\.description) == [
                "\(dir)/t.yaml:2: role must be viewer, operator or admin",
                "\(dir)/t.yaml:3: a token must be at least 16 characters",
            ]
        }
        #expect(AccessControl.constantTimeEqual(Array("abc".utf8), Array("abc".utf8)))
        #expect(!AccessControl.constantTimeEqual(Array("abc".utf8), Array("abd".utf8)))
        #expect(!AccessControl.constantTimeEqual(Array("abc".utf8), Array("abcd".utf8)))
    }
}
