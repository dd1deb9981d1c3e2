import Foundation
import Testing
@testable import Collector

/// The hostile corpus: malformed and abusive payloads, each quarantined whole with the right
/// reason, while the daemon keeps serving and storing good messages.
@Suite(.serialized) struct HostileInputTests {
    struct Case {
        let name: String
        let payload: [UInt8]
        let reason: String
        init(_ name: String, _ payload: String, _ reason: String) { self.init(name, Array(payload.utf8), reason) }
        init(_ name: String, _ payload: [UInt8], _ reason: String) {
            self.name = name
            self.payload = payload
            self.reason = reason
        }
    }

    /// Each case goes to `telemetry/hostile/<name>`, so the topic's sensor is the case name.
    static let cases: [Case] = [
        // JSON
        Case("json-truncated", #"{"ts": 1795000000, "temp_c": 2"#, "bad_json"),
        Case("json-truncated-array", #"[{"temp_c": 1},"#, "bad_json"),
        Case("json-nan", #"{"temp_c": NaN}"#, "bad_json"),
        Case("json-infinity", #"{"temp_c": Infinity}"#, "bad_json"),
        Case("json-minus-infinity", #"{"temp_c": -Infinity}"#, "bad_json"),
        Case("json-overflow", #"{"temp_c": 1e999}"#, "bad_json"),
        Case("json-deep-arrays", String(repeating: "[", count: 100_000), "bad_json"),
        Case("json-deep-objects", String(repeating: #"{"a":"#, count: 10_000) + "1" + String(repeating: "}", count: 10_000), "bad_json"),
        Case("json-invalid-utf8", Array(#"{"temp_c": 1, "note": ""#.utf8) + [0xFF, 0xFE] + Array(#""}"#.utf8), "bad_json"),
        Case("json-control-char", Array(#"{"sensor": "a"#.utf8) + [0x01] + Array(#"b", "temp_c": 1}"#.utf8), "bad_json"),
        Case("json-leading-zero", #"{"temp_c": 01}"#, "bad_json"),
        Case("json-trailing-garbage", #"{"temp_c": 1} x"#, "bad_json"),
        Case("json-no-readings", #"{"ts": 1795000000}"#, "no_readings"),
        Case("json-string-value", #"{"temp_c": "hot"}"#, "no_readings"),
        Case("json-bad-ts", #"{"ts": "yesterday", "temp_c": 1}"#, "bad_time"),
        Case("json-year-3000", #"{"ts": 32503680000, "temp_c": 1}"#, "time_out_of_range"),
        Case("json-year-3000-ms", #"{"ts": 32503680000000, "temp_c": 1}"#, "time_out_of_range"),
        Case("json-topic-injection", #"{"sensor": "a/../../b", "temp_c": 1}"#, "bad_name"),
        Case("json-wildcards", #"{"sensor": "alerts/#", "temp_c": 1}"#, "bad_name"),
        Case("json-sql", #"{"sensor": "x'; DROP TABLE raw;--", "temp_c": 1}"#, "bad_name"),
        Case("json-space-in-metric", #"{"temp c": 1}"#, "bad_name"),
        Case("json-long-metric", #"{""# + String(repeating: "m", count: 300) + #"": 1}"#, "bad_name"),
        Case("json-reserved-sensor", #"{"sensor": "coverage.province", "forest_monitored_pct": 100}"#, "bad_name"),
        Case("json-duplicate-key", #"{"temp_c": 1, "temp_c": 99}"#, "bad_json"),
        Case("json-too-many-readings", "[" + (0..<1001).map { #"{"ts": \#(1_795_000_000 + $0), "temp_c": 1}"# }.joined(separator: ",") + "]", "too_large"),
        // Sizes
        Case("empty", "", "empty"),
        Case("ten-megabytes", String(repeating: "x", count: 10_000_000), "too_large"),
        Case("million-readings", String(repeating: "t v=1\n", count: 1_000_000), "too_large"),
        // SenML
        Case("senml-newer-bver", #"[{"bn": "s1/", "bver": 99, "n": "t", "v": 1}]"#, "bad_senml"),
        Case("senml-must-understand", #"[{"n": "s1/t", "v": 1, "x_": 1}]"#, "bad_senml"),
        Case("senml-two-values", #"[{"n": "s1/t", "v": 1, "vs": "a"}]"#, "bad_senml"),
        Case("senml-no-name", #"[{"v": 1, "u": "Cel"}]"#, "bad_name"),
        Case("senml-bad-name", #"[{"n": "s1/t€", "v": 1}]"#, "bad_name"),
        Case("senml-string-v", #"[{"n": "s1/t", "v": "1"}]"#, "bad_senml"),
        Case("senml-no-value", #"[{"n": "s1/t", "u": "Cel"}]"#, "bad_senml"),
        // Plain packs (read by their names' bytes) that the general path refuses.
        Case("senml-reserved-sensor", #"[{"n": "coverage.province/forest_monitored_pct", "v": 100}]"#, "bad_name"),
        Case("senml-future", #"[{"n": "s1/t", "bt": 32503680000, "v": 1}]"#, "time_out_of_range"),
        Case("senml-too-many-readings", "[" + (0..<1001).map { #"{"n": "s1/t", "t": \#(-$0), "v": 1}"# }.joined(separator: ",") + "]", "too_large"),
        // Influx line protocol
        Case("lp-no-fields", "m,sensor=a 1795000000000000000", "bad_line_protocol"),
        Case("lp-unterminated-string", #"m,sensor=a s="abc"#, "bad_line_protocol"),
        Case("lp-bad-number", "m,sensor=a v=1x", "bad_line_protocol"),
        Case("lp-tag-without-value", "m,sensor v=1", "bad_line_protocol"),
        Case("lp-bad-escape", #"m,sensor=a v=1 17950000\00000000000"#, "bad_line_protocol"),
        Case("lp-trailing-comma", "m,sensor=a v=1,", "bad_line_protocol"),
        Case("lp-year-3000", "m,sensor=a v=1 32503680000000000000", "bad_line_protocol"),   // past Int64 nanoseconds
        Case("lp-year-2200", "m,sensor=a v=1 7258118400000000000", "time_out_of_range"),
        Case("lp-injected-sensor", "m,sensor=a/../b v=1", "bad_name"),
        Case("invalid-utf8", [0xFF, 0xFE, 0xFD, 0x20, 0x76, 0x3D, 0x31], "bad_line_protocol"),
    ]

    @Test func everyHostilePayloadQuarantinedWithItsReason() async throws {
        #expect(Self.cases.count >= 40)
        #expect(Set(Self.cases.map(\.name)).count == Self.cases.count)
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-hostile", extraYAML: """
            limits: {max_payload_bytes: 8388608, max_readings_per_message: 1000}
            """)
        try c.start()
        try await c.waitReady()
        for k in Self.cases {
            try broker.publishFile(topic: "telemetry/hostile/\(k.name)", payload: k.payload)
        }
        let now = Int(Date().timeIntervalSince1970)
        try broker.publish(topic: "telemetry/hx-good", lines: [#"{"ts": \#(now), "temp_c": 21.5}"#])

        var records: [[String: Any]] = []
        do {
            try await waitUntil("every case quarantined", seconds: 30) {
                let o = try await httpJSON(c.baseURL + "/api/v1/quarantine?limit=1000")
                records = (o["messages"] as? [[String: Any]]) ?? []
                return records.count >= Self.cases.count
            }
        } catch {
            Issue.record(error)   // and say below which ones are missing
        }
        let byTopic = Dictionary(records.map { ($0["topic"] as? String ?? "", $0) }, uniquingKeysWith: { a, _ in a })
        for k in Self.cases {
            let r = byTopic["telemetry/hostile/\(k.name)"]
            #expect(r?["reason"] as? String == k.reason, "\(k.name): \(r?["reason"] ?? "not quarantined") — \(r?["detail"] ?? "")")
        }
        #expect(records.count == Self.cases.count, "only the hostile messages are quarantined")
        // Still serving, and the good message is stored; none of the hostile ones left a series.
        #expect(try await httpGet(c.baseURL + "/healthz").status == 200)
        #expect(try await httpGet(c.baseURL + "/readyz").status == 200)
        try await waitUntil("the good reading stored", seconds: 10) {
            let o = try? await httpJSON(c.baseURL + "/api/v1/raw?series=hx-good/temp_c&from=\(now - 10)&to=\(now + 10)")
            return (o?["points"] as? [[String: Any]])?.count == 1
        }
        let series = String(decoding: try await httpGet(c.baseURL + "/api/v1/series").body, as: UTF8.self)
        #expect(!series.contains("hostile") && !series.contains("s1/") && !series.contains("DROP"))
        let (status, _) = try await c.terminate()
        #expect(status == 0)
    }

    /// `{district}` and `{kind}` from topics must read like names (before, `evil<script>`, a
    /// 400-character district and one holding commas were stored as labels and came back in
    /// CSV answers unescaped): quarantined as `bad_label`; a good topic on the same pattern is
    /// stored with its labels.
    @Test func topicLabelsMustReadLikeNames() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let broker = try MosquittoBroker(dir: dir)
        defer { broker.stop() }
        try await broker.waitReady()
        let c = try CollectorProcess(dir: dir, brokerPort: broker.port, clientID: "it-labels",
                                     subscriptions: [#"{topic: "telemetry/{district}/{kind}/{sensor}"}"#])
        try c.start()
        try await c.waitReady()
        let now = Int(Date().timeIntervalSince1970)
        let bad = ["evil<script>", String(repeating: "d", count: 400), "a,b=1", "=cmd|calc"]
        for (i, d) in bad.enumerated() {
            try broker.publish(topic: "telemetry/\(d)/forest/lb-\(i)", lines: [#"{"ts": \#(now), "temp_c": 1}"#])
        }
        try broker.publish(topic: "telemetry/sin-ho/forest/lb-ok", lines: [#"{"ts": \#(now), "temp_c": 1}"#])
        try await waitUntil("the bad labels quarantined", seconds: 10) {
            let o = try await httpJSON(c.baseURL + "/api/v1/quarantine")
            return ((o["messages"] as? [[String: Any]]) ?? []).filter { $0["reason"] as? String == "bad_label" }.count == bad.count
        }
        try await waitUntil("the good one stored with its district", seconds: 10) {
            let (_, body) = try await httpGet(c.baseURL + "/api/v1/rollups?metric=temp_c&group_by=district&agg=count&step=1h&from=\(now - 3600)&to=\(now + 3600)&format=csv")
            return String(decoding: body, as: UTF8.self).hasPrefix("key,t,value\nsin-ho,")
        }
        _ = try await c.terminate()
    }

    /// CSV cells (RFC 4180): quoted when they hold a comma, quote or line break; a leading
    /// `=`, `+`, `-`, `@` gets a `'` so a spreadsheet does not run it; numbers stay numbers.
    @Test func csvCellsAreQuotedAndNeutralised() {
        #expect(CSVText.field("sin-ho") == "sin-ho")
        #expect(CSVText.field("a,b") == "\"a,b\"")
        #expect(CSVText.field("say \"hi\"") == "\"say \"\"hi\"\"\"")
        #expect(CSVText.field("=HYPERLINK(\"x\")") == "\"'=HYPERLINK(\"\"x\"\")\"")
        #expect(CSVText.field("+1") == "'+1" && CSVText.field("@SUM(A1)") == "'@SUM(A1)")
        #expect(CSVText.cell("-1.5") == "-1.5" && CSVText.cell("-x") == "'-x")
    }
}
