import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// Limits, each counted: topic length (quarantine by reason), HTTP body size (413, counted by
/// status), and slow HTTP clients (closed after `http.idle_timeout`).
@Suite(.serialized) struct LimitsTests {
    /// A TCP connection to `127.0.0.1:port` (its descriptor; the caller closes it), nil if refused.
    static func connectLoopback(port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard ok == 0 else { close(fd); return nil }
        return fd
    }

    /// Opens a TCP connection, sends `text`, and returns how many seconds until the server
    /// closes it (nil if it is still open after `seconds`).
    static func secondsUntilClosed(port: Int, sending text: String, seconds: Double) -> Double? {
        guard let fd = connectLoopback(port: port) else { return nil }
        defer { close(fd) }
        _ = text.withCString { send(fd, $0, strlen($0), 0) }
        let started = Date()
        var buf = [UInt8](repeating: 0, count: 4096)
        while Date().timeIntervalSince(started) < seconds {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 100) > 0 {
                let n = recv(fd, &buf, buf.count, 0)
                if n <= 0 { return Date().timeIntervalSince(started) }
            }
        }
        return nil
    }

    /// Opens a TCP connection, sends `head`, then one byte of body every `every` seconds;
    /// returns how many seconds until the server closes it (nil if still open after `seconds`).
    static func secondsUntilClosedTrickling(port: Int, head: String, every: Double, seconds: Double) -> Double? {
        guard let fd = connectLoopback(port: port) else { return nil }
        defer { close(fd) }
        _ = head.withCString { send(fd, $0, strlen($0), 0) }
        let started = Date()
        var buf = [UInt8](repeating: 0, count: 4096)
        var nextByte = started
        while Date().timeIntervalSince(started) < seconds {
            if Date() >= nextByte {
                var x: UInt8 = UInt8(ascii: "x")
                if send(fd, &x, 1, Int32(MSG_NOSIGNAL)) < 0 { return Date().timeIntervalSince(started) }
                nextByte = Date().addingTimeInterval(every)
            }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 50) > 0 {
                let n = recv(fd, &buf, buf.count, 0)
                if n <= 0 { return Date().timeIntervalSince(started) }
            }
        }
        return nil
    }

    /// A request body trickled a byte at a time is cut off (before, any body byte counted as
    /// activity and the connection stayed open forever, unauthenticated, on any route), while a
    /// body that arrives at a few KB/s gets its answer.
    @Test func aTrickledBodyIsCutOff() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-trickle", httpExtra: ["idle_timeout: 1s"])
        try c.start()
        try await c.waitReady()
        let head = "POST /api/v1/alerts/1/ack HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n"
        let cut = Self.secondsUntilClosedTrickling(port: c.httpPort, head: head, every: 0.3, seconds: 8)
        #expect(cut != nil && cut! < 4, "closed after \(String(describing: cut)) s")
        let metrics = String(decoding: try await httpGet(c.baseURL + "/metrics").body, as: UTF8.self)
        #expect(metrics.contains(#"collector_http_idle_closed_total{reason="slow_body"} 1"#),
                "\(metrics.split(separator: "\n").filter { $0.contains("idle") })")
        // 4 KiB in pieces of 1 KiB a tenth of a second apart (10 KB/s, well above the limit;
        // the pauses block this thread, so a busy test process cannot stretch them much):
        // answered, not cut.
        let body = #"{"by": "duty-officer", "note": ""# + String(repeating: "n", count: 4000) + #""}"#
        let fd = try #require(Self.connectLoopback(port: c.httpPort))
        defer { close(fd) }
        let request = Array(("POST /api/v1/alerts/1/ack HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body).utf8)
        for chunk in stride(from: 0, to: request.count, by: 1024) {
            _ = request[chunk..<min(chunk + 1024, request.count)].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            usleep(100_000)
        }
        var answer = [UInt8](repeating: 0, count: 4096)
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        #expect(poll(&p, 1, 5000) > 0)
        let n = recv(fd, &answer, answer.count, 0)
        #expect(n > 0 && String(decoding: answer.prefix(max(n, 0)), as: UTF8.self).hasPrefix("HTTP/1.1 "),
                "\(String(decoding: answer.prefix(max(n, 0)), as: UTF8.self))")
        _ = try await c.terminate()
    }

    /// Out of descriptors (the daemon run with 150, then 200 idle connections): before, the
    /// event loop spun a core on the connection it could not accept and `/healthz` stopped
    /// answering. Connections beyond what the descriptor limit leaves are now closed at once
    /// (counted); nothing spins, and once the clients go the daemon answers again.
    @Test func runningOutOfDescriptorsNeitherSpinsNorStops() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-nofile")
        try c.start(wrapper: ["prlimit", "--nofile=150:150"])
        try await c.waitReady()
        #expect(c.log().contains("http.max_connections lowered"))
        var fds: [Int32] = []
        defer { for fd in fds { close(fd) } }
        for _ in 0..<200 {
            if let fd = Self.connectLoopback(port: c.httpPort) { fds.append(fd) }
            try await Task.sleep(for: .milliseconds(10))
        }
        try await Task.sleep(for: .seconds(1))
        let before = try #require(c.cpuSeconds)
        try await Task.sleep(for: .seconds(2))
        let used = try #require(c.cpuSeconds) - before
        #expect(used < 0.5, "\(used) CPU seconds in 2 s with every descriptor taken")
        for fd in fds { close(fd) }
        fds = []
        try await waitUntil("/healthz answers again", seconds: 10) { (try? await httpGet(c.baseURL + "/healthz").status) == 200 }
        let metrics = String(decoding: try await httpGet(c.baseURL + "/metrics").body, as: UTF8.self)
        let refused = metrics.split(separator: "\n").first { $0.hasPrefix("collector_http_connections_refused_total ") }
        #expect((refused.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0) > 0, "\(refused ?? "no refusal counted")")
        _ = try await c.terminate()
    }

    /// One publisher cannot create series faster than `limits.new_series_per_minute`
    /// (before, about 13 messages of default size reached the 200,000-series cap and ~1 GB):
    /// a message that would exceed it is quarantined whole (`series_rate`); known series go on.
    @Test func newSeriesAreRateLimited() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-series-rate",
                                     extraYAML: "limits: {new_series_per_minute: 100}")
        try c.start()
        try await c.waitReady()
        let now = Int(Date().timeIntervalSince1970)
        func pack(_ first: Int, _ count: Int) -> String {
            "[" + (first..<first + count).map { #"{"sensor": "nr-\#($0)", "ts": \#(now), "temp_c": 1}"# }.joined(separator: ",") + "]"
        }
        try broker.publishOne(topic: "telemetry/flood", payload: pack(0, 80))      // fits
        try broker.publishOne(topic: "telemetry/flood", payload: pack(80, 80))     // 80 more: over the minute's 100
        try broker.publishOne(topic: "telemetry/flood", payload: pack(0, 80))      // known series: fine
        try await waitUntil("the second pack quarantined", seconds: 10) {
            let o = try await httpJSON(c.baseURL + "/api/v1/quarantine")
            return ((o["messages"] as? [[String: Any]]) ?? []).contains {
                $0["reason"] as? String == "series_rate" && ($0["detail"] as? String)?.contains("80 new series") == true
            }
        }
        try await waitUntil("the first pack stored", seconds: 10) {
            try await EndToEndTests.storedCount(c, series: "nr-79/temp_c", from: now - 60, to: now + 60) == 1
        }
        #expect(try await EndToEndTests.storedCount(c, series: "nr-80/temp_c", from: now - 60, to: now + 60) == 0)
        _ = try await c.terminate()
    }

    @Test func topicBodyAndSlowClientLimits() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-limits", httpExtra: ["idle_timeout: 1s"],
                                     extraYAML: "limits: {max_topic_bytes: 64}")
        try c.start()
        try await c.waitReady()
        let now = Int(Date().timeIntervalSince1970)
        let longTopic = "telemetry/" + String(repeating: "t", count: 100)
        try broker.publish(topic: longTopic, lines: [#"{"ts": \#(now), "temp_c": 1}"#])
        try broker.publish(topic: "telemetry/lim-ok", lines: [#"{"ts": \#(now), "temp_c": 1}"#])
        try await waitUntil("the long topic quarantined", seconds: 10) {
            let o = try await httpJSON(c.baseURL + "/api/v1/quarantine")
            return ((o["messages"] as? [[String: Any]]) ?? []).contains {
                $0["reason"] as? String == "too_large" && ($0["detail"] as? String)?.contains("topic of 110 bytes") == true
            }
        }
        try await waitUntil("the short topic stored", seconds: 10) {
            let o = try? await httpJSON(c.baseURL + "/api/v1/raw?series=lim-ok/temp_c&from=\(now - 1)&to=\(now + 1)")
            return (o?["points"] as? [[String: Any]])?.count == 1
        }

        // A body over the limit: 413, counted.
        var req = URLRequest(url: URL(string: c.baseURL + "/api/v1/alerts/1/ack")!)
        req.httpMethod = "POST"
        req.httpBody = Data(repeating: UInt8(ascii: "x"), count: 64 * 1024)
        let (_, resp) = try await URLSession.shared.data(for: req)
        #expect((resp as? HTTPURLResponse)?.statusCode == 413)
        let metrics = String(decoding: try await httpGet(c.baseURL + "/metrics").body, as: UTF8.self)
        #expect(metrics.contains(#"collector_http_requests_total{path="/api/v1/alerts/{id}/ack",status="413"} 1"#), "\(metrics.split(separator: "\n").filter { $0.contains("http_requests") })")
        #expect(metrics.contains(#"collector_http_request_duration_seconds_count{path="/api/v1/quarantine"}"#))
        #expect(metrics.contains(#"collector_quarantine_total{reason="too_large"} 1"#))

        // A slow client that never finishes its request head is cut off after the idle timeout;
        // the server goes on answering others.
        let closedAfter = Self.secondsUntilClosed(port: c.httpPort, sending: "GET /healthz HTTP/1.1\r\nHost: x\r\n", seconds: 6)
        #expect(closedAfter != nil && closedAfter! < 4, "closed after \(String(describing: closedAfter)) s")
        #expect(try await httpGet(c.baseURL + "/healthz").status == 200)
        let after = String(decoding: try await httpGet(c.baseURL + "/metrics").body, as: UTF8.self)
        #expect(after.contains(#"collector_http_idle_closed_total{reason="no_request"} 1"#), "\(after.split(separator: "\n").filter { $0.contains("idle") })")
        // An open alert stream is a request in progress: still open after twice the timeout.
        let stream = Self.secondsUntilClosed(port: c.httpPort, sending: "GET /api/v1/alerts/stream HTTP/1.1\r\nHost: x\r\n\r\n", seconds: 2.5)
        #expect(stream == nil, "the alert stream was closed after \(String(describing: stream)) s")
        _ = try await c.terminate()
    }

    /// A publisher creating series up to `limits.max_series` does not stop the derived
    /// series of a catalogued gauge: they have room of their own (before, a gauge's derived
    /// readings were all dropped once one of them needed a new series at the cap). Counted in
    /// `/metrics`, with nothing dropped here.
    @Test func derivedSeriesAreStoredWhenPublishersFillTheSeriesCap() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (broker, c) = try await DerivedEndToEndTests.gaugeOnly("hy-cap", susceptibility: "high", clientID: "it-derived-cap", dir: dir,
                                                                   extraYAML: "limits: {max_series: 10}")
        defer { broker.stop() }
        try c.start()
        try await c.waitReady()
        let now = Int(Date().timeIntervalSince1970)
        // Nine series from a publisher, then the gauge's rain: the cap is reached.
        try broker.publish(topic: "telemetry/junk", lines: (1...9).map { #"{"sensor": "junk-\#($0)", "ts": \#(now), "temp_c": 1}"# })
        try await waitUntil("the publisher's series", seconds: 10) {
            try await EndToEndTests.storedCount(c, series: "junk-9/temp_c", from: now - 60, to: now + 60) == 1
        }
        // A wet day, then 150 mm: level 2 in a high area.
        try broker.publishOne(topic: "telemetry/hy-cap", payload: #"[{"bn": "hy-cap:", "n": "rain_mm", "t": \#(now - 86_400 - 3_600), "v": 20}, {"n": "rain_mm", "t": \#(now - 3_600), "v": 150}]"#)
        try await waitUntil("the gauge's 24 h sum and flood-risk level, beyond the cap", seconds: 15) {
            let sum = try? await DerivedEndToEndTests.points(c, "hy-cap/rain_24h_mm").last?.v
            let level = try? await DerivedEndToEndTests.points(c, "hy-cap/flood_risk_level").last?.v
            return sum == 150 && level == 2
        }
        // The network is still capped.
        try broker.publishOne(topic: "telemetry/junk", payload: #"{"sensor": "junk-10", "ts": \#(now), "temp_c": 1}"#)
        try await waitUntil("the eleventh network series quarantined", seconds: 10) {
            let o = try await httpJSON(c.baseURL + "/api/v1/quarantine")
            return ((o["messages"] as? [[String: Any]]) ?? []).contains { $0["reason"] as? String == "series_limit" }
        }
        let (_, metrics) = try await httpGet(c.baseURL + "/metrics")
        #expect(String(decoding: metrics, as: UTF8.self).contains("collector_derived_dropped_total 0"))
        _ = try await c.terminate()
    }
}
