import Testing
@testable import Telemetry

/// The backfill's line reader remembers series by their bytes; whatever the lines, its
/// answers must be the decoder's, reading for reading and error for error.
struct LineProtocolNamesTests {
    let now: EpochMillis = 1_795_000_000_000

    func context(_ precision: TimePrecision = .ns) -> DecodeContext {
        var c = DecodeContext(topic: "import/backlog.lp", now: now, acceptAge: 30 * 86_400_000, maxReadings: 100)
        c.precision = precision
        return c
    }

    /// Decodes `lines` with one table and with the decoder (the oracle), line by line;
    /// returns the lines where they differ.
    func differences(_ lines: [[UInt8]], precision: TimePrecision = .ns) -> [String] {
        var table = LineProtocolNames()
        let oracle = PayloadDecoder()
        let ctx = context(precision)
        var wrong: [String] = []
        for line in lines {
            var got: Result<[Reading], DecodeError>
            var expected: Result<[Reading], DecodeError>
            var indexed: [IndexedReading] = []
            got = line.withUnsafeBytes { b in
                do throws(DecodeError) {
                    try table.decode(line: b, context: ctx, into: &indexed)
                    let names = table.names
                    return .success(indexed.map { Reading(series: names[Int($0.name)], time: $0.time, value: $0.value) })
                } catch { return .failure(error) }
            }
            var out: [Reading] = []
            expected = line.withUnsafeBytes { b in
                do throws(DecodeError) {
                    try oracle.decode(b, format: .influx, context: ctx, into: &out)
                    return .success(out)
                } catch { return .failure(error) }
            }
            if got != expected {
                wrong.append("\(String(decoding: line, as: UTF8.self)): \(got) instead of \(expected)")
            }
        }
        return wrong
    }

    @Test func plainLinesAreReadFromTheirBytes() {
        let t = (now - 3_600_000) * 1_000_000
        let lines = (0..<3).flatMap { k in
            [
                "weather,sensor=bf-0001 temp_c=21.5 \(t + Int64(k) * 10_000_000_000)",
                "weather,sensor=bf-0002 temp_c=-0.25,rh_pct=81 \(t + Int64(k) * 10_000_000_000)",
                "weather,id=gw-7,site=x level_m=1.05 \(t + Int64(k) * 10_000_000_000 + 1)",
                "river level_m=2 \(t)",                                  // named after the topic
            ]
        }.map { Array($0.utf8) }
        #expect(differences(lines) == [])
        var table = LineProtocolNames()
        var out: [IndexedReading] = []
        for line in lines { line.withUnsafeBytes { try? table.decode(line: $0, context: context(), into: &out) } }
        #expect(table.names.map(\.description) == ["bf-0001/temp_c", "bf-0002/temp_c", "bf-0002/rh_pct", "gw-7/level_m", "backlog.lp/level_m"])
        #expect(out.count == 15)
    }

    /// Lines that look plain but are not what they were (an error, a time out of range, a
    /// bad name) after their key was remembered; and every other shape, checked against the
    /// decoder in random orders so that each is met both before and after its key is known.
    @Test func randomAndAdversarialLinesAnswerAsTheDecoder() {
        let t = (now - 3_600_000) * 1_000_000
        let series = ["weather,sensor=a", "weather,sensor=b,site=x", "w,id=c", "w,sensor=a,sensor=b", "w,sensor=", "w", "w,sensor=ở-1",
                      "w,sensor=a\\ b", "w\\,x,sensor=d", "#w,sensor=a", " w,sensor=a", "w,sensor=a\u{1}", "w,=x", "w,sensor=a/b",
                      "\u{FEFF}w,sensor=e", "w,sensor=\"q\"", "w,sensor=a=b", "w,sensor=a,id=b"]
        let keys = ["temp_c", "rh", "bad/metric", "", "t\\=x", "\"k\"", "ở"]
        let values = ["21.5", "-3", "0", "-0.0", "1e3", "12i", "7u", "-7u", "true", "F", "\"s\"", "nan", "inf", "1.2.3", "", "0x10",
                      "123456789012345.6", "1234567890123456", ".5", "5."]
        let times = ["\(t)", "\(t + 1)", "", "-\(t)", "99999999999999999999", "\(t) ", "\(t)x", " \(t)", "1", "\((now + 3_600_000) * 1_000_000)"]
        var rng = SystemRandomNumberGenerator()
        var lines: [[UInt8]] = []
        for _ in 0..<20_000 {
            var fields: [String] = []
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                fields.append("\(keys.randomElement(using: &rng)!)=\(values.randomElement(using: &rng)!)")
            }
            // Mostly plain pieces, so that keys repeat and are remembered.
            let plain = Int.random(in: 0..<4, using: &rng) > 0
            let s = plain ? series[Int.random(in: 0..<3, using: &rng)] : series.randomElement(using: &rng)!
            let f = plain ? "\(keys[Int.random(in: 0..<2, using: &rng)])=\(values[Int.random(in: 0..<4, using: &rng)])" : fields.joined(separator: ",")
            let time = plain && Int.random(in: 0..<8, using: &rng) > 0 ? times[Int.random(in: 0..<2, using: &rng)] : times.randomElement(using: &rng)!
            lines.append(Array("\(s) \(f)\(time.isEmpty ? "" : " " + time)".utf8))
        }
        lines.append([0xEF, 0xBB, 0xBF] + Array("weather,sensor=a temp_c=1 \(t)".utf8))   // a byte-order mark
        lines.append(Array("weather,sensor=a temp_c=1 \(t)".utf8) + [0xFF])                 // not UTF-8 at the end
        lines.append(Array("weather,sensor=\u{FF}".utf8) + [0xC3] + Array(" temp_c=1 \(t)".utf8))
        lines.append(Array("weather,sensor=a temp_c=1,temp_c=2 \(t)".utf8))                 // a field twice
        for precision in TimePrecision.allCases {
            #expect(differences(lines, precision: precision).prefix(3) == [], "\(precision)")
        }
    }

    @Test func aTableIsTiedToItsTopic() {
        var table = LineProtocolNames()
        var out: [IndexedReading] = []
        let line = Array("river level_m=2 \((now - 60_000) * 1_000_000)".utf8)
        var other = context()
        other.topic = "import/other.lp"
        line.withUnsafeBytes { b in
            try? table.decode(line: b, context: context(), into: &out)
            try? table.decode(line: b, context: other, into: &out)
        }
        #expect(out.map { table.names[Int($0.name)].sensor } == ["backlog.lp", "other.lp"])
    }
}
