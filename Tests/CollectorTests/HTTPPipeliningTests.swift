import Foundation
import Testing

/// GETs are answered from the connection's pipeline and everything else by Hummingbird's
/// connection task (`QuickGetHandler`): on one connection, pipelined requests of both kinds
/// are answered in their order, each through the same middlewares (tokens, 404s), and a
/// `Connection: close` ends the connection after its answer.
@Suite struct HTTPPipeliningTests {
    /// One answer read off the wire.
    struct Answer {
        var status: Int
        var headers: [String: String]
        var body: String
    }

    /// Sends `text` on one connection (then closes our side, with `halfClose`) and reads answers
    /// until the server closes it.
    static func exchange(port: Int, _ text: String, halfClose: Bool = false) throws -> [Answer] {
        guard let fd = LimitsTests.connectLoopback(port: port) else { throw HarnessError("cannot connect") }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw HarnessError("send failed") }
            sent += n
        }
        if halfClose { shutdown(fd, Int32(SHUT_WR)) }
        var received: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65_536)
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 200) > 0 else { continue }
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 { return try parse(received) }
            received += buf[0..<n]
        }
        throw HarnessError("the server did not close the connection; read so far:\n\(String(decoding: received, as: UTF8.self))")
    }

    /// Answers framed by `Content-Length` (none for 204).
    static func parse(_ bytes: [UInt8]) throws -> [Answer] {
        var answers: [Answer] = []
        var i = 0
        let crlf2: [UInt8] = [13, 10, 13, 10]
        while i < bytes.count {
            guard let end = (i...(bytes.count - 4)).first(where: { Array(bytes[$0..<$0 + 4]) == crlf2 }) else {
                throw HarnessError("a head without its end at byte \(i)")
            }
            let lines = String(decoding: bytes[i..<end], as: UTF8.self).components(separatedBy: "\r\n")
            let status = Int(lines[0].split(separator: " ")[1]) ?? 0
            var headers: [String: String] = [:]
            for line in lines.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            let length = Int(headers["content-length"] ?? "0") ?? 0
            let start = end + 4
            guard start + length <= bytes.count else { throw HarnessError("a body cut short") }
            answers.append(Answer(status: status, headers: headers, body: String(decoding: bytes[start..<start + length], as: UTF8.self)))
            i = start + length
        }
        return answers
    }

    static func get(_ path: String, token: String? = nil, close: Bool = false) -> String {
        "GET \(path) HTTP/1.1\r\nHost: test\r\n" + (token.map { "Authorization: Token \($0)\r\n" } ?? "")
            + (close ? "Connection: close\r\n" : "") + "\r\n"
    }

    static func post(_ path: String, token: String, body: String) -> String {
        "POST \(path) HTTP/1.1\r\nHost: test\r\nAuthorization: Token \(token)\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(body.utf8.count)\r\n\r\n" + body
    }

    /// A broker and a collector with the test tokens and no catalogue, and the collector's HTTP port.
    static func start(_ clientID: String, in dir: String) async throws -> (MosquittoBroker, CollectorProcess, Int) {
        try FileManager.default.createDirectory(atPath: dir + "/none", withIntermediateDirectories: true)
        let (broker, c) = try await TestTokens.startCollector(clientID, in: dir, extraYAML: "sensors: \(dir)/none")
        return (broker, c, Int(c.baseURL.split(separator: ":").last!)!)
    }

    @Test func pipelinedAnswersKeepTheirRequestsOrder() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (broker, c, port) = try await Self.start("it-pipelining", in: dir)
        defer { broker.stop() }
        let pack = { (t: Int) in #"[{"bn":"pipe-01:","n":"temp_c","t":\#(t),"v":21.5}]"# }
        let t0 = 1_795_000_000

        // Each kind after each other kind, a refusal by the access middleware among them.
        let first = try Self.exchange(port: port, [
            Self.get("/healthz"),
            Self.get("/api/v1/series"),                                   // no token: 401
            Self.post("/api/v1/senml", token: TestTokens.writer, body: pack(t0)),
            Self.get("/nope", token: TestTokens.viewer),
            Self.post("/api/v1/senml", token: TestTokens.viewer, body: pack(t0 + 1)),   // a viewer may not write: 403
            Self.get("/api/v1/raw?series=pipe-01/temp_c&from=\(t0 - 10)&to=\(t0 + 10)", token: TestTokens.viewer),
            Self.get("/healthz", close: true),
            Self.get("/healthz"),                                         // after the close: never answered
        ].joined())
        try #require(first.map(\.status) == [200, 401, 204, 404, 403, 200, 200])
        #expect(first[5].body.contains("\"t\":\(t0)") && first[5].body.contains("21.5"), "\(first[5].body)")
        #expect(first[0].headers["date"]?.hasSuffix(" GMT") == true && first[0].headers["server"] == "collector")
        #expect(first[6].headers["connection"] == "close")

        // Many, alternating: every answer in its place.
        var text = ""
        for k in 1...25 {
            text += Self.post("/api/v1/senml", token: TestTokens.writer, body: pack(t0 + k))
            text += Self.get("/api/v1/raw?series=pipe-01/temp_c&from=\(t0 + k)&to=\(t0 + k + 1)", token: TestTokens.viewer)
        }
        let many = try Self.exchange(port: port, text + Self.get("/healthz", close: true))
        try #require(many.count == 51, "\(many.map(\.status))")
        for k in 1...25 {
            #expect(many[2 * (k - 1)].status == 204)
            #expect(many[2 * k - 1].status == 200 && many[2 * k - 1].body.contains("\"t\":\(t0 + k)"), "answer \(2 * k - 1): \(many[2 * k - 1].body)")
        }

        // A write's body larger than one read, behind a GET: read once the GET is answered,
        // not taken for a body still arriving after its own answer.
        let records = (1...4_000).map { #"{"n":"temp_c","t":\#(t0 + 100 + $0),"v":\#(Double($0 % 50) / 2)}"# }
        let big = #"[{"bn":"pipe-02:"},"# + records.joined(separator: ",") + "]"
        let behind = try Self.exchange(port: port, Self.get("/healthz") + Self.post("/api/v1/senml", token: TestTokens.writer, body: big)
                                       + Self.get("/api/v1/raw?series=pipe-02/temp_c&from=\(t0)&to=\(t0 + 10_000)&points=5000", token: TestTokens.viewer)
                                       + Self.get("/healthz", close: true))
        try #require(behind.map(\.status) == [200, 204, 200, 200], "\(big.utf8.count) bytes: \(behind.map(\.status))")
        #expect(behind[2].body.components(separatedBy: "\"t\":").count - 1 == 4_000)

        // A client that closes its side once it has asked still gets its answers.
        let halfClosed = try Self.exchange(port: port, Self.get("/healthz") + Self.get("/api/v1/raw?series=pipe-01/temp_c&from=\(t0)&to=\(t0 + 1)", token: TestTokens.viewer),
                                           halfClose: true)
        #expect(halfClosed.map(\.status) == [200, 200])
        _ = try await c.terminate()
    }

    /// A client that pipelines requests and never reads the answers holds up its own next
    /// request once the socket's buffers are full: it cannot make the server answer (and hold)
    /// without end, and once it leaves, what it had asked is dropped.
    @Test func aClientThatNeverReadsIsNotAnsweredWithoutEnd() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (broker, c, port) = try await Self.start("it-pipelining-unread", in: dir)
        defer { broker.stop() }
        func answered() async throws -> Double {
            let m = try HTTPWriteTests.curl(["-H", "Authorization: Token \(TestTokens.viewer)", c.baseURL + "/metrics"], in: dir).body
            return m.split(separator: "\n").filter { $0.hasPrefix("collector_http_requests_total{") && $0.contains("path=\"/\"") }
                .compactMap { Double($0.split(separator: " ").last!) }.reduce(0, +)
        }
        let asked = 4_000
        let request = Array("GET / HTTP/1.1\r\nHost: test\r\nAccept-Encoding: gzip\r\n\r\n".utf8)
        guard let fd = LimitsTests.connectLoopback(port: port) else { throw HarnessError("cannot connect") }
        var sent = 0
        let deadline = Date().addingTimeInterval(10)
        while sent < asked && Date() < deadline {
            let n = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
            if n == request.count { sent += 1 } else { usleep(1_000) }
        }
        try await Task.sleep(for: .seconds(2))
        let held = try await answered()
        #expect(held > 0 && held < Double(asked) / 2, "answered \(held) of \(sent) sent without reading")
        close(fd)
        try await Task.sleep(for: .seconds(2))
        let after = try await answered()
        #expect(after < held + 50, "after the client left: \(after) answered (\(held) before)")
        _ = try await c.terminate()
    }
}
