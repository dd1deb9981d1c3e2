import Foundation
import Telemetry
import Testing

/// Ingest for real field networks, end to end through a real broker.
@Suite(.serialized) struct IngestTests {
    static let day = 86_400

    /// SenML, line protocol and JSON all land; bad messages go to quarantine with their reason,
    /// visible at /api/v1/quarantine, and the daemon stays ready.
    @Test func formatsLandAndBadMessagesAreQuarantined() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-formats")
        try c.start()
        try await c.waitReady()

        try broker.publish(topic: "telemetry/lai-chau-city/hydro/gw-01",
                           lines: [#"[{"bn":"hy-lc-0002:","bt":1795000000,"n":"level_m","v":2.5},{"n":"level_m","t":60,"v":2.6}]"#])
        try broker.publishOne(topic: "telemetry/lai-chau-city/traffic/tr-lc-0001", payload: """
            # two readings from a junction counter
            traffic,sensor=tr-lc-0001,junction=j1 flow=12i,speed_kmh=31.5 1795000000000000000
            traffic,sensor=tr-lc-0001,junction=j1 flow=15i,speed_kmh=28.0 1795000060000000000
            """)
        try broker.publish(topic: "telemetry/x/bad", lines: [
            #"{"v": 1"#, "m,sensor=a v=nan", #"[{"bver":11,"n":"a:b","v":1}]"#, #"{"ts": 32503680000, "v": 1}"#,
        ])
        var q: [String: Any] = [:]
        try await waitUntil("four quarantined messages", seconds: 15) {
            q = try await httpJSON(c.baseURL + "/api/v1/quarantine")
            return (q["messages"] as? [Any])?.count == 4
        }
        let counts = (q["counts"] as? [String: Any] ?? [:]).mapValues { ($0 as? NSNumber)?.intValue ?? -1 }
        #expect(counts == ["bad_json": 1, "bad_line_protocol": 1, "bad_senml": 1, "time_out_of_range": 1])
        let first = (q["messages"] as? [[String: Any]])?.first
        #expect(first?["topic"] as? String == "telemetry/x/bad")
        #expect(first?["payload"] as? String == #"{"ts": 32503680000, "v": 1}"#)

        let hydro = try await httpJSON(c.baseURL + "/api/v1/raw?series=hy-lc-0002/level_m&from=1794999000&to=1795001000")
        #expect((hydro["points"] as? [[String: Any]])?.map { ($0["t"] as! NSNumber).intValue } == [1_795_000_000, 1_795_000_060])
        let flow = try await httpJSON(c.baseURL + "/api/v1/raw?series=tr-lc-0001/flow&from=1794999000&to=1795001000")
        #expect((flow["points"] as? [[String: Any]])?.map { ($0["value"] as! NSNumber).doubleValue } == [12, 15])
        #expect(try await httpGet(c.baseURL + "/readyz").status == 200)
        _ = try await c.terminate()
    }

    /// MQTT 3.1.1 with a persistent session and a shared subscription: SIGKILL, restart, and
    /// everything published meanwhile arrives.
    @Test func mqtt311SharedSubscriptionPersistentSession() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-311",
                                     mqttExtra: [#"protocol: "3.1.1""#, "clean_session: false"],
                                     subscriptions: [#"{topic: "$share/collectors/telemetry/#"}"#])
        try c.start()
        try await c.waitReady()
        let rs = EndToEndTests.readings(3000)
        try broker.publish(topic: "telemetry/ws-311", lines: rs[0..<1000].map { EndToEndTests.line(sensor: "ws-311", $0) })
        let (from, to) = (EndToEndTests.t0 - 86_400, EndToEndTests.t0 + 86_400)
        try await waitUntil("the first 1000", seconds: 20) {
            try await EndToEndTests.storedCount(c, series: "ws-311/temp_c", from: from, to: to) == 1000
        }
        try await c.kill()
        try broker.publish(topic: "telemetry/ws-311", lines: rs[1000..<3000].map { EndToEndTests.line(sensor: "ws-311", $0) })
        try c.start()
        try await c.waitReady()
        try await waitUntil("all 3000 after the restart", seconds: 30) {
            try await EndToEndTests.storedCount(c, series: "ws-311/temp_c", from: from, to: to) >= 3000
        }
        #expect(try await EndToEndTests.storedCount(c, series: "ws-311/temp_c", from: from, to: to) == 3000)
        _ = try await c.terminate()
    }

    /// A topic pattern names the sensor and labels new series with district and kind.
    @Test func topicPatternsFillSensorAndLabels() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-pattern",
                                     subscriptions: [#"{topic: "field/{district}/{kind}/{sensor}/up", format: influx, precision: s}"#,
                                                     #"{topic: "pack/{district}/{kind}/{sensor}", format: senml}"#,
                                                     #"{topic: "telemetry/#"}"#])
        try c.start()
        try await c.waitReady()
        try broker.publish(topic: "field/sin-ho/hydro/rg-sh-0007/up", lines: ["rain rain_mm=4.5 1795000000"])
        try broker.publish(topic: "telemetry/sin-ho/rg-sh-0008", lines: [#"{"ts": 1795000000, "rain_mm": 1}"#])
        // Plain SenML packs (read by their names' bytes): named by the topic's sensor, or their own.
        try broker.publish(topic: "pack/sin-ho/hydro/rg-sh-0009", lines: [#"[{"bt": 1795000000, "n": "rain_mm", "v": 2}]"#,
                                                                          #"[{"bt": 1795000060, "n": "rg-sh-0010/rain_mm", "v": 3}]"#])
        var series: [[String: Any]] = []
        try await waitUntil("four series", seconds: 10) {
            let (_, body) = try await httpGet(c.baseURL + "/api/v1/series?metric=rain_mm")
            series = ((try? JSONSerialization.jsonObject(with: body) as? [[String: Any]]) ?? [])
                .filter { ($0["series"] as? String)?.hasPrefix("rg-sh-") == true }
            return series.count == 4
        }
        let byName = Dictionary(uniqueKeysWithValues: series.map { ($0["series"] as! String, $0) })
        #expect(byName["rg-sh-0007/rain_mm"]?["unit"] as? String == "sin-ho")
        #expect(byName["rg-sh-0007/rain_mm"]?["kind"] as? String == "hydro")
        #expect((byName["rg-sh-0007/rain_mm"]?["last_t"] as? NSNumber)?.intValue == 1_795_000_000)
        #expect(byName["rg-sh-0008/rain_mm"]?["unit"] is NSNull)
        for packed in ["rg-sh-0009/rain_mm", "rg-sh-0010/rain_mm"] {
            #expect(byName[packed]?["unit"] as? String == "sin-ho", "\(packed)")
            #expect(byName[packed]?["kind"] as? String == "hydro", "\(packed)")
        }
        let (_, filtered) = try await httpGet(c.baseURL + "/api/v1/series?district=sin-ho&metric=rain_mm")
        #expect(String(decoding: filtered, as: UTF8.self).contains("rg-sh-0007") && !String(decoding: filtered, as: UTF8.self).contains("rg-sh-0008"))
        _ = try await c.terminate()
    }

    /// A gateway's backlog: three days old, shuffled, with 5 % duplicates, as SenML packs of 50
    /// and line-protocol batches. Every tier equals a recompute from the unique readings.
    @Test func backlogReplayIsExactTierByTier() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-backlog")
        try c.start()
        try await c.waitReady()

        let base = 1_794_800_017   // not aligned to anything
        var rng = SplitMix64(seed: 7)
        let a = (0..<2160).map { (t: base + $0 * 120, v: Double(Int(rng.next() % 4000) - 2000) / 4) }
        let b = (0..<2160).map { (t: base + 30 + $0 * 120, v: Double(Int(rng.next() % 4000)) / 8) }
        var replayA = a + a.prefix(108)
        var replayB = b + b.suffix(108)
        replayA.shuffle(using: &rng)
        replayB.shuffle(using: &rng)
        let packs = stride(from: 0, to: replayA.count, by: 50).map { i in
            "[" + replayA[i..<min(i + 50, replayA.count)].enumerated().map { j, r in
                (j == 0 ? #"{"bn":"ft-bk-0001:","n":"temp_c","#: #"{"n":"temp_c","#) + #""t":\#(r.t),"v":\#(r.v)}"#
            }.joined(separator: ",") + "]"
        }
        try broker.publish(topic: "telemetry/muong-te/forest/gw-bk", lines: packs)
        for i in stride(from: 0, to: replayB.count, by: 200) {
            let body = replayB[i..<min(i + 200, replayB.count)].map { "rain,sensor=hy-bk-0002 rain_mm=\($0.v) \($0.t)000000000" }
            try broker.publishOne(topic: "telemetry/muong-te/hydro/gw-bk", payload: body.joined(separator: "\n"))
        }
        let (from, to) = (base - 2 * Self.day, base + 5 * Self.day)
        try await waitUntil("the whole backlog", seconds: 60) {
            let na = try await EndToEndTests.storedCount(c, series: "ft-bk-0001/temp_c", from: from, to: to)
            let nb = try await EndToEndTests.storedCount(c, series: "hy-bk-0002/rain_mm", from: from, to: to)
            return na == a.count && nb == b.count
        }
        for (step, width) in [("1m", 60), ("15m", 900), ("1h", 3600)] {
            let got = try await EndToEndTests.rollups(c, series: "ft-bk-0001/temp_c", step: step, from: from, to: to)
            #expect(EndToEndTests.same(got, EndToEndTests.expected(a, width: width)), "tier \(step)")
            let gotB = try await EndToEndTests.rollups(c, series: "hy-bk-0002/rain_mm", step: step, from: from, to: to)
            #expect(EndToEndTests.same(gotB, EndToEndTests.expected(b, width: width)), "tier \(step)")
        }
        // 1d buckets start at local midnight in Asia/Ho_Chi_Minh (UTC+7).
        let shifted = a.map { (t: $0.t + 7 * 3600, v: $0.v) }
        let expectedDays = EndToEndTests.expected(shifted, width: Self.day).map { row in
            row.merging(["t": row["t"]! - 7 * 3600]) { $1 }
        }
        let days = try await EndToEndTests.rollups(c, series: "ft-bk-0001/temp_c", step: "1d", from: from, to: to)
        #expect(EndToEndTests.same(days, expectedDays))
        #expect(days.count == 4)
        _ = try await c.terminate()
        try await verifyStore(configPath: c.configPath, dir: dir)
    }

    /// The broker restarts mid-stream (its persistence keeps our session): nothing is lost.
    @Test func brokerRestartMidStreamLosesNothing() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let broker = try MosquittoBroker(dir: dir, persistent: true)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-restart")
        try c.start()
        try await c.waitReady()

        let rs = EndToEndTests.readings(12_000)
        for (i, start) in stride(from: 0, to: rs.count, by: 1000).enumerated() {
            try broker.publish(topic: "telemetry/ws-rs-01", lines: rs[start..<start + 1000].map { EndToEndTests.line(sensor: "ws-rs-01", $0) })
            if i == 4 { try await broker.restart() }
        }
        let (from, to) = (EndToEndTests.t0 - Self.day, EndToEndTests.t0 + Self.day)
        try await waitUntil("all readings after the broker restart", seconds: 60) {
            try await EndToEndTests.storedCount(c, series: "ws-rs-01/temp_c", from: from, to: to) >= rs.count
        }
        try await waitUntil("collector ready again", seconds: 40) { (try? await httpGet(c.baseURL + "/readyz").status) == 200 }
        #expect(try await EndToEndTests.storedCount(c, series: "ws-rs-01/temp_c", from: from, to: to) == rs.count)
        let hour = try await EndToEndTests.rollups(c, series: "ws-rs-01/temp_c", step: "1h", from: from, to: to)
        #expect(EndToEndTests.same(hour, EndToEndTests.expected(rs, width: 3600)))
        #expect(c.log().contains("mqtt link down"), "broker log: \((try? String(contentsOfFile: dir + "/mosquitto.log", encoding: .utf8)) ?? "")")
        _ = try await c.terminate()
        try await verifyStore(configPath: c.configPath, dir: dir)
    }

    /// TLS with server verification against the test's own CA, and a password file.
    @Test func tlsWithPasswordFile() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
                            "-days", "2", "-subj", "/CN=collector-test-ca"], in: dir)
        try run("openssl", ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
                            "-subj", "/CN=127.0.0.1"], in: dir)
        try "subjectAltName=IP:127.0.0.1\n".write(toFile: dir + "/san.ext", atomically: true, encoding: .utf8)
        try run("openssl", ["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                            "-out", "server.crt", "-days", "2", "-extfile", "san.ext"], in: dir)
        try run("mosquitto_passwd", ["-b", "-c", "passwd", "collector", "s3cret-collector"], in: dir)
        try run("mosquitto_passwd", ["-b", "passwd", "gateway", "gw-pass"], in: dir)
        let broker = try MosquittoBroker(dir: dir) { port in
            """
            listener \(port) 127.0.0.1
            cafile \(dir)/ca.crt
            certfile \(dir)/server.crt
            keyfile \(dir)/server.key
            allow_anonymous false
            password_file \(dir)/passwd
            """
        }
        broker.clientOptions = ["--cafile", dir + "/ca.crt", "-u", "gateway", "-P", "gw-pass"]
        defer { broker.stop() }
        try await broker.waitReady()

        let pw = dir + "/collector.pw"
        try "s3cret-collector\n".write(toFile: pw, atomically: true, encoding: .utf8)
        chmod(pw, 0o600)
        let okDir = dir + "/ok"
        try FileManager.default.createDirectory(atPath: okDir, withIntermediateDirectories: true)
        let c = try CollectorProcess(dir: okDir, brokerPort: broker.port, clientID: "it-tls",
                                     url: "mqtts://127.0.0.1:\(broker.port)",
                                     mqttExtra: ["ca_file: \(dir)/ca.crt", "username: collector", "password_file: \(pw)"])
        try c.start()
        try await c.waitReady()
        try broker.publish(topic: "telemetry/tls/ws-tls-1", lines: [#"{"ts": 1795000000, "temp_c": 21.5}"#])
        try await waitUntil("the reading over TLS", seconds: 10) {
            try await EndToEndTests.storedCount(c, series: "ws-tls-1/temp_c", from: 1_794_900_000, to: 1_795_100_000) == 1
        }
        _ = try await c.terminate()

        // A wrong password: the broker refuses, /readyz says so, the daemon keeps trying.
        let badPW = dir + "/bad.pw"
        try "wrong\n".write(toFile: badPW, atomically: true, encoding: .utf8)
        chmod(badPW, 0o600)
        let badDir = dir + "/bad"
        try FileManager.default.createDirectory(atPath: badDir, withIntermediateDirectories: true)
        let bad = try CollectorProcess(dir: badDir, brokerPort: broker.port, clientID: "it-tls-bad",
                                       url: "mqtts://127.0.0.1:\(broker.port)",
                                       mqttExtra: ["ca_file: \(dir)/ca.crt", "username: collector", "password_file: \(badPW)"])
        try bad.start()
        try await waitUntil("a refusal in /readyz", seconds: 15) {
            guard let (s, body) = try? await httpGet(bad.baseURL + "/readyz") else { return false }
            return s == 503 && String(decoding: body, as: UTF8.self).contains("refused")
        }
        _ = try await bad.terminate()

        // A world-readable password file: a configuration error, found by `check` as by `run`
        // (exit 2 both; before, `check` passed it and `run` exited 1).
        chmod(badPW, 0o644)
        let checked = try await collectorCLI(["check", "--config", bad.configPath], dir: badDir)
        #expect(checked.code == 2 && checked.out.contains("password_file '\(badPW)' is world-readable"), "\(checked.out)")
        try bad.start()
        try await waitUntil("exit on a world-readable password file", seconds: 15) { !bad.isRunning }
        #expect(bad.exitStatus == 2)
        #expect(bad.log().contains("world-readable"))
    }
}
