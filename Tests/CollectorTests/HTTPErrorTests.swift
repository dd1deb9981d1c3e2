import Foundation
import Testing

/// Bad query parameters are 400s with a JSON error naming the parameter; never a 500.
@Suite(.serialized) struct HTTPErrorTests {
    @Test func badParametersAreClear400s() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-http")
        try c.start()
        try await c.waitReady()
        try broker.publish(topic: "telemetry/x", lines: ["{\"sensor\":\"s-1\",\"ts\":1795000000,\"v\":1}"])
        try await waitUntil("one reading", seconds: 10) {
            (try? await httpGet(c.baseURL + "/api/v1/raw?series=s-1/v&from=1794999999&to=1795000001").status) == 200
        }
        let cases: [(String, Int, String)] = [
            ("/api/v1/rollups?step=1m", 400, "series"),
            ("/api/v1/rollups?series=s-1/v", 400, "step"),
            ("/api/v1/rollups?series=s-1/v&step=7s", 400, "step"),
            ("/api/v1/rollups?metric=v&step=1h&agg=median", 400, "agg"),
            ("/api/v1/rollups?metric=v&step=1h&group_by=zone", 400, "group_by"),
            ("/api/v1/rollups?series=s-1/v&step=1m&from=yesterday", 400, "from"),
            ("/api/v1/raw?series=s-1/v&from=0x10&to=1795000001", 400, "from"),          // not epoch 16
            ("/api/v1/raw?series=s-1/v&from=nan&to=1795000001", 400, "from"),
            ("/api/v1/rollups?series=s-1/v&step=1m&from=1795000000&to=1794000000", 400, "from"),
            ("/api/v1/rollups?series=s-1/v&step=1m&from=0&to=1795000000", 400, "from"),
            ("/api/v1/raw?series=no-slash", 400, "series"),
            ("/api/v1/raw?series=s-1/v&points=2", 400, "points"),
            ("/api/v1/raw?series=s-1/v&format=xml", 400, "format"),
            ("/api/v1/raw?series=nobody/v", 404, "nobody"),
        ]
        for (path, status, mention) in cases {
            let (s, body) = try await httpGet(c.baseURL + path)
            #expect(s == status, "\(path)")
            let o = try JSONSerialization.jsonObject(with: body) as? [String: Any]
            #expect((o?["detail"] as? String)?.contains(mention) == true, "\(path): \(String(decoding: body, as: UTF8.self))")
        }
        let (s, csv) = try await httpGet(c.baseURL + "/api/v1/raw?series=s-1/v&from=1794999999&to=1795000001&format=csv")
        #expect(s == 200)
        #expect(String(decoding: csv, as: UTF8.self) == "t,value\n1795000000,1\n")
        _ = try await c.terminate()
    }

    @Test func readyzSaysWhyWhenBrokerIsDown() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let noBroker = try ReservedPort()   // reserved, and nothing listens there
        defer { withExtendedLifetime(noBroker) {} }
        let c = try CollectorProcess(dir: dir, brokerPort: noBroker.port, clientID: "it-ready")
        try c.start()
        try await c.waitListening()
        try await waitUntil("healthz", seconds: 20) { (try? await httpGet(c.baseURL + "/healthz").status) == 200 }
        let (s, body) = try await httpGet(c.baseURL + "/readyz")
        #expect(s == 503)
        #expect(String(decoding: body, as: UTF8.self).contains("mqtt"))
        let stop = try await c.terminate()
        #expect(stop.status == 0)
    }
}
