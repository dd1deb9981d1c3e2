import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
@testable import Collector

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
            ("/api/v1/rollups?series=s-1/v&step=1m&fields=avg,median", 400, "median"),
            ("/api/v1/rollups?series=s-1/v&step=1m&fields=", 400, "fields"),
            ("/api/v1/rollups?metric=v&step=1h&fields=avg", 400, "fields"),
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
        // `fields` picks a bucket's values, in the API's order whatever order they are asked in.
        let minute = "/api/v1/rollups?series=s-1/v&step=1m&from=1794999960&to=1795000020"
        try await waitUntil("the minute's rollup", seconds: 10) {
            (try? await httpGet(c.baseURL + minute).1).map { String(decoding: $0, as: UTF8.self).contains("\"count\":1") } == true
        }
        let (s1, some) = try await httpGet(c.baseURL + minute + "&fields=avg,count")
        #expect(s1 == 200)
        #expect(String(decoding: some, as: UTF8.self) == #"{"series":"s-1/v","step":"1m","points":[{"t":1794999960,"count":1,"avg":1}]}"#)
        let (s2, someCSV) = try await httpGet(c.baseURL + minute + "&fields=last,min&format=csv")
        #expect(s2 == 200)
        #expect(String(decoding: someCSV, as: UTF8.self) == "t,min,last\n1794999960,1,1\n")
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

    /// HEAD is served wherever GET is (monitoring probes; before, `HEAD /healthz` was 404);
    /// another method than a route serves gets 405 with `Allow`; an unknown path stays 404.
    @Test func headAndMethodNotAllowed() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-http-methods")
        try c.start()
        try await c.waitReady()
        func send(_ method: String, _ path: String) async throws -> (Int, HTTPURLResponse?, Data) {
            var r = URLRequest(url: URL(string: c.baseURL + path)!)
            r.httpMethod = method
            let (data, resp) = try await URLSession.shared.data(for: r)
            let h = resp as? HTTPURLResponse
            return (h?.statusCode ?? 0, h, data)
        }
        let (headStatus, _, headBody) = try await send("HEAD", "/healthz")
        #expect(headStatus == 200 && headBody.isEmpty)
        #expect(try await send("HEAD", "/api/v1/series").0 == 200)
        for (method, path, allow) in [("POST", "/healthz", "GET, HEAD"), ("DELETE", "/api/v1/series", "GET, HEAD"),
                                      ("GET", "/api/v1/alerts/7/ack", "POST"), ("HEAD", "/api/v1/alerts/stream", "GET")] {
            let (status, response, body) = try await send(method, path)
            #expect(status == 405, "\(method) \(path)")
            #expect(response?.value(forHTTPHeaderField: "Allow") == allow, "\(method) \(path)")
            #expect(method == "HEAD" || String(decoding: body, as: UTF8.self).contains("method_not_allowed"))
        }
        #expect(try await send("GET", "/api/v1/nothing").0 == 404)
        _ = try await c.terminate()
    }

    /// Every route the daemon registers is in the method table (or it would answer HEAD with
    /// 404 and other methods without `Allow`).
    @Test func everyRegisteredRouteIsInTheMethodTable() throws {
        let dir = packageRoot + "/Sources/Collector/HTTP"
        var registered: [(String, String)] = []
        for file in try FileManager.default.contentsOfDirectory(atPath: dir) where file.hasSuffix(".swift") {
            let text = try String(contentsOfFile: dir + "/" + file, encoding: .utf8)
            for m in text.matches(of: /router\.(read|get|post|put|delete|patch)\("([^"]*)"/) {
                registered.append((String(m.1), String(m.2).replacingOccurrences(of: ":id", with: ":x")))
            }
        }
        #expect(registered.count >= 14)
        for (method, path) in registered {
            let table = RouteMethods.routes.first { $0.path == path }?.methods.map(\.rawValue) ?? []
            let served = method == "read" ? ["GET", "HEAD"] : [method.uppercased()]
            #expect(Set(served).isSubset(of: table), "\(method) \(path)")
        }
    }
}
