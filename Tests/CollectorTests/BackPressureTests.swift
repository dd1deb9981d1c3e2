import Foundation
import Testing

/// When storage cannot commit, the collector acknowledges nothing: the broker keeps the
/// messages, /readyz says why, and once storage is back every reading arrives exactly once.
@Suite(.serialized) struct BackPressureTests {
    @Test func storageLockWithholdsAcknowledgements() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-lock")
        try c.start()
        try await c.waitReady()
        let rs = EndToEndTests.readings(6000)
        let series = "ws-lock-1/temp_c"
        let (from, to) = (EndToEndTests.t0 - 86_400, EndToEndTests.t0 + 86_400)
        try broker.publish(topic: "telemetry/ws-lock-1", lines: rs[0..<2000].map { EndToEndTests.line(sensor: "ws-lock-1", $0) })
        try await waitUntil("the first 2000", seconds: 20) {
            try await EndToEndTests.storedCount(c, series: series, from: from, to: to) == 2000
        }

        let sub = try SpawnedProcess(try which("mosquitto_sub"),
                                     ["-h", "127.0.0.1", "-p", String(broker.port), "-q", "1",
                                      "-t", "alerts/critical/storage-failing/#", "-v", "-C", "1", "-W", "60"],
                                     logPath: dir + "/alert.out")
        defer { sub.stop() }
        // Another process takes the write lock and holds it; it reads its commands from a FIFO
        // this test holds open.
        let fifo = dir + "/locker.in"
        guard mkfifo(fifo, 0o600) == 0 else { throw HarnessError("mkfifo failed") }
        let commands = open(fifo, O_RDWR | O_CLOEXEC)   // O_RDWR: opening does not wait for the reader
        guard commands >= 0 else { throw HarnessError("cannot open the FIFO") }
        var commandsOpen = true
        defer { if commandsOpen { close(commands) } }
        func send(_ text: String) { _ = text.withCString { write(commands, $0, strlen($0)) } }
        let locker = try SpawnedProcess(try which("sqlite3"), [dir + "/data/collector.sqlite"], logPath: dir + "/locker.out",
                                        stdinPath: fifo)
        send("PRAGMA busy_timeout=10000;\nBEGIN IMMEDIATE;\nSELECT 1;\n")

        try broker.publish(topic: "telemetry/ws-lock-1", lines: rs[2000..<6000].map { EndToEndTests.line(sensor: "ws-lock-1", $0) })
        try await waitUntil("/readyz to report the storage failure", seconds: 30) {
            let (s, body) = try await httpGet(c.baseURL + "/readyz")
            return s == 503 && String(decoding: body, as: UTF8.self).contains("storage")
        }
        #expect(try await EndToEndTests.storedCount(c, series: series, from: from, to: to) == 2000)
        // The alert reaches MQTT while the lock is still held (on the alert connection).
        try await waitUntil("the storage-failing alert on MQTT", seconds: 30) { !sub.isRunning }
        let line = (try? String(contentsOfFile: dir + "/alert.out", encoding: .utf8)) ?? ""
        #expect(line.hasPrefix("alerts/critical/storage-failing/it-lock "), "\(line)")

        send("ROLLBACK;\n.quit\n")
        close(commands)
        commandsOpen = false
        try await waitUntil("the locker to exit", seconds: 20) { !locker.isRunning }

        try await waitUntil("every reading after the lock is released", seconds: 90) {
            try await EndToEndTests.storedCount(c, series: series, from: from, to: to) >= 6000
        }
        try await waitUntil("ready again", seconds: 40) { (try? await httpGet(c.baseURL + "/readyz").status) == 200 }
        #expect(try await EndToEndTests.storedCount(c, series: series, from: from, to: to) == 6000)
        let hour = try await EndToEndTests.rollups(c, series: series, step: "1h", from: from, to: to)
        #expect(EndToEndTests.same(hour, EndToEndTests.expected(rs, width: 3600)))
        #expect(c.log().contains("commit failed"))
        _ = try await c.terminate()
    }
}
