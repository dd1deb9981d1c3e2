import Foundation
import Testing
@testable import Telemetry

@Suite struct JSONPayloadDecoderTests {
    let decoder = JSONPayloadDecoder()
    let now: EpochMillis = 1_795_000_100_000
    func ctx(_ topic: String = "telemetry/muong-te/forest/ft-mt-0001") -> DecodeContext {
        DecodeContext(topic: topic, now: now, acceptAge: 30 * 86_400_000)
    }

    func decode(_ s: String, _ c: DecodeContext? = nil) throws(DecodeError) -> [Reading] {
        var out: [Reading] = []
        try decoder.decode(Array(s.utf8), context: c ?? ctx(), into: &out)
        return out.sorted { $0.series.description < $1.series.description }
    }

    @Test func objectWithSensorFromTopic() throws {
        let r = try decode(#"{"ts": 1795000000, "temp_c": 31.2, "rh_pct": 40, "note": "ok", "flag": true}"#)
        #expect(r == [
            Reading(series: try SeriesName(parsing: "ft-mt-0001/rh_pct"), time: 1_795_000_000_000, value: 40),
            Reading(series: try SeriesName(parsing: "ft-mt-0001/temp_c"), time: 1_795_000_000_000, value: 31.2),
        ])
    }

    @Test func sensorFieldWinsAndArraysAreBatches() throws {
        let r = try decode(#"[{"sensor": "a-1", "ts": 1795000000123, "v": 1}, {"sensor": "b-2", "ts": "2026-11-18T18:06:40+07:00", "v": -2.5e0}]"#)
        #expect(r.map(\.series.description) == ["a-1/v", "b-2/v"])
        #expect(r.map(\.time) == [1_795_000_000_123, 1_795_000_000_000])
        #expect(r.map(\.value) == [1, -2.5])
    }

    @Test func missingTimeIsArrivalTime() throws {
        #expect(try decode(#"{"v": 3}"#).first?.time == now)
    }

    @Test(arguments: [
        (#"{"v": 1"#, "bad_json"),
        (#"42"#, "bad_json"),
        (#"[1, 2]"#, "bad_json"),
        (#"[]"#, "no_readings"),
        (#"{"ts": 1795000000, "name": "x"}"#, "no_readings"),
        (#"{"sensor": "a/b", "v": 1}"#, "bad_name"),
        (#"{"sensor": 7, "v": 1}"#, "bad_name"),
        (#"{"sensor": "ok", "bad metric": 1}"#, "bad_name"),
        (#"{"ts": "yesterday", "v": 1}"#, "bad_time"),
        (#"{"ts": 1, "v": 1}"#, "time_out_of_range"),
        (#"{"ts": 32503680000, "v": 1}"#, "time_out_of_range"),
        (#"{"ts": 1795000000, "v": 1e400}"#, "bad_json"),
    ])
    func rejections(payload: String, reason: String) {
        var out: [Reading] = [Reading(series: try! SeriesName(parsing: "keep/me"), time: 0, value: 0)]
        #expect(throws: DecodeError.self) { try decoder.decode(Array(payload.utf8), context: ctx(), into: &out) }
        do {
            try decoder.decode(Array(payload.utf8), context: ctx(), into: &out)
        } catch {
            #expect(error.reason == reason, "\(payload): \(error)")
        }
        #expect(out.count == 1, "a rejected message adds nothing")
    }

    @Test func oneBadRecordRejectsTheWholeArray() {
        var out: [Reading] = []
        let p = #"[{"sensor": "a", "v": 1}, {"sensor": "b", "ts": 1, "v": 2}]"#
        #expect(throws: DecodeError.self) { try decoder.decode(Array(p.utf8), context: ctx(), into: &out) }
        #expect(out.isEmpty)
    }

    @Test func readingsPerMessageAreBounded() {
        var c = ctx()
        c.maxReadings = 3
        let p = "[" + (0..<5).map { #"{"sensor": "s", "ts": \#(1795000000 + $0), "v": 1}"# }.joined(separator: ",") + "]"
        var out: [Reading] = []
        #expect(throws: DecodeError("too_large", "more than 3 readings in one message")) {
            try decoder.decode(Array(p.utf8), context: c, into: &out)
        }
    }
}

@Suite struct TimestampParserTests {
    @Test(arguments: [
        "2026-11-18T09:46:40Z", "2026-11-18T16:46:40+07:00", "2026-11-18t09:46:40.5z",
        "2024-02-29T23:59:59.999-05:30", "1970-01-01T00:00:00Z", "1969-12-31T23:59:59Z",
    ])
    func rfc3339AgreesWithFoundation(s: String) throws {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let g = ISO8601DateFormatter()
        let date = try #require(f.date(from: s.uppercased()) ?? g.date(from: s.uppercased()))
        #expect(TimestampParser.rfc3339(s) == EpochMillis((date.timeIntervalSince1970 * 1000).rounded(.down)))
    }

    @Test(arguments: ["2026-02-30T00:00:00Z", "2026-11-18T24:00:00Z", "2026-11-18T09:46:40", "2026-11-18", "x", "2026-11-18T09:46:40+0700"])
    func rfc3339Rejects(s: String) {
        #expect(TimestampParser.rfc3339(s) == nil)
    }

    @Test func epochSecondsAndMilliseconds() {
        #expect(TimestampParser.epoch(1_795_000_000) == 1_795_000_000_000)
        #expect(TimestampParser.epoch(1_795_000_000.25) == 1_795_000_000_250)
        #expect(TimestampParser.epoch(1_795_000_000_123) == 1_795_000_000_123)
        #expect(TimestampParser.epoch(.nan) == nil)
    }
}
