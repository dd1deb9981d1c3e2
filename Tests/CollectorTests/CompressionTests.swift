import Foundation
import Testing

/// gzip when asked (`Accept-Encoding: gzip`), plain otherwise; small answers and streams stay plain.
@Suite(.serialized) struct CompressionTests {
    @Test func gzipWhenAsked() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-gzip")   // the shipped province: a long /api/v1/sensors
        try c.start()
        try await c.waitReady()
        let url = c.baseURL + "/api/v1/sensors"
        // curl --compressed asks for gzip and unpacks it; -D - prints the headers first.
        let zipped = try run("curl", ["-s", "--compressed", "-D", "-", url], in: dir)
        let (zHead, zBody) = Self.split(zipped)
        #expect(zHead.lowercased().contains("content-encoding: gzip"), "\(zHead)")
        #expect(zHead.lowercased().contains("vary: accept-encoding"))
        let sensors = try JSONSerialization.jsonObject(with: Data(zBody.utf8)) as? [[String: Any]]
        #expect((sensors?.count ?? 0) > 2000)
        // The same answer, plain, is what was compressed.
        let plain = try run("curl", ["-s", "-D", "-", url], in: dir)
        let (pHead, pBody) = Self.split(plain)
        #expect(!pHead.lowercased().contains("content-encoding"))
        #expect(pBody == zBody)
        // Compressed size on the wire: much smaller.
        let wire = try run("curl", ["-s", "-H", "Accept-Encoding: gzip", "-o", "/dev/null", "-w", "%{size_download}", url], in: dir)
        #expect((Int(wire) ?? .max) * 4 < pBody.utf8.count, "gzip \(wire) bytes for \(pBody.utf8.count)")
        // gzip;q=0 means no; a small answer stays plain.
        let refused = try run("curl", ["-s", "-H", "Accept-Encoding: gzip;q=0", "-D", "-", "-o", "/dev/null", url], in: dir)
        #expect(!refused.lowercased().contains("content-encoding"))
        let small = try run("curl", ["-s", "-H", "Accept-Encoding: gzip", "-D", "-", "-o", "/dev/null", c.baseURL + "/healthz"], in: dir)
        #expect(!small.lowercased().contains("content-encoding"))
        _ = try await c.terminate()
    }

    static func split(_ response: String) -> (head: String, body: String) {
        guard let r = response.range(of: "\r\n\r\n") else { return (response, "") }
        return (String(response[..<r.lowerBound]), String(response[r.upperBound...]))
    }
}
