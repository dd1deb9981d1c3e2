import Testing
@testable import Telemetry

@Suite struct LineProtocolDecoderTests {
    let now: EpochMillis = 1_795_000_000_000
    func context(_ p: TimePrecision = .ns) -> DecodeContext {
        var c = DecodeContext(topic: "telemetry/muong-te/ft-mt-0009", now: now, acceptAge: 30 * 86_400_000)
        c.precision = p
        return c
    }

    func decode(_ s: String, _ p: TimePrecision = .ns) throws(DecodeError) -> [Reading] {
        var out: [Reading] = []
        try LineProtocolDecoder().decode(Array(s.utf8), context: context(p), into: &out)
        return out
    }

    func r(_ series: String, _ t: EpochMillis, _ v: Double) -> Reading {
        Reading(series: try! SeriesName(parsing: series), time: t, value: v)
    }

    /// Field values and timestamps read straight from the bytes (plain decimals, digit-only
    /// times) are the Doubles and integers parsing their text gives, bit for bit: random
    /// decimals of every length and both signs, leading zeros, -0, more digits than the fast
    /// path takes, exponents; times of every precision, and one past Int64.
    @Test func numbersReadFromTheBytesEqualParsingTheText() throws {
        var rng = SplitMix64(seed: 17)
        var fields: [String] = ["0", "-0", "-0.0", "007.50", ".5", "5.", "-.25", "+3.5", "1e3", "2.5E-3",
                                "123456789012345", "1234567890123456", "0.1234567890123456789", "99999999999999.9"]
        for _ in 0..<3_000 {
            let intDigits = Int(rng.next() % 10), fracDigits = Int(rng.next() % 24)
            var t = rng.next() % 2 == 0 ? "-" : ""
            t += String((0..<max(1, intDigits)).map { _ in Character(String(rng.next() % 10)) })
            if fracDigits > 0 { t += "." + String((0..<fracDigits).map { _ in Character(String(rng.next() % 10)) }) }
            fields.append(t)
        }
        for f in fields {
            let got = try decode("m,sensor=s-1 v=\(f) 1795000000000000000")
            let want = try #require(Double(f), "\(f)")
            #expect(got.first?.value.bitPattern == want.bitPattern, "\(f): \(String(describing: got.first?.value)) against \(want)")
        }
        #expect(try decode("m,sensor=s-1 v=1 1795000000123456789").first?.time == 1_795_000_000_123)
        #expect(try decode("m,sensor=s-1 v=1 1795000000123", .ms).first?.time == 1_795_000_000_123)
        #expect(try decode("m,sensor=s-1 v=1 1795000000", .s).first?.time == 1_795_000_000_000)
        #expect(try decode("m,sensor=s-1 v=1 1795000000123456", .us).first?.time == 1_795_000_000_123)
        #expect(throws: DecodeError.self) { try decode("m,sensor=s-1 v=1 9223372036854775808") }   // Int64.max + 1
        #expect(throws: DecodeError.self) { try decode("m,sensor=s-1 v=1 17950000001x") }
    }

    @Test func typesTagsAndTimestamp() throws {
        let got = try decode(#"weather,sensor=ft-mt-0001,district=muong-te temp_c=31.2,rh_pct=40i,ok=true,note="dry, hot",count=7u 1795000000123456789"#)
        #expect(got == [r("ft-mt-0001/temp_c", 1_795_000_000_123, 31.2), r("ft-mt-0001/rh_pct", 1_795_000_000_123, 40),
                        r("ft-mt-0001/ok", 1_795_000_000_123, 1), r("ft-mt-0001/count", 1_795_000_000_123, 7)])
    }

    @Test func sensorFromIdTagThenTopic() throws {
        #expect(try decode("m,id=hy-01 level_m=2.5").map(\.series.description) == ["hy-01/level_m"])
        #expect(try decode("m level_m=2.5") == [r("ft-mt-0009/level_m", now, 2.5)])
    }

    /// Escapes resolve before the id rules apply: the error shows the unescaped text.
    @Test func escapedTagValueAndFieldKeyResolve() {
        #expect(throws: DecodeError("bad_name", "line 1: sensor id 'a=b,c d' has a character outside A-Z a-z 0-9 - _ . :")) {
            _ = try decode(#"m,sensor=a\=b\,c\ d v=1"#)
        }
        #expect(throws: DecodeError("bad_name", "line 1: metric name 'f=1,a b' has a character outside A-Z a-z 0-9 - _ .")) {
            _ = try decode(#"m,sensor=s f\=1\,a\ b=1"#)
        }
    }

    @Test func escapedMeasurementTagKeyAndStringField() throws {
        let got = try decode(#"my\ meas\,x,k\ 1=v\,w,sensor=s-1 s="q\"uo\\te, x=1",g=2 1795000000000000000"#)
        #expect(got == [r("s-1/g", 1_795_000_000_000, 2)])
    }

    @Test func commentsBlankLinesAndCRLF() throws {
        let got = try decode("# a comment\r\n\r\nm,sensor=a v=1 1795000000000000000\r\n  # indented comment\nm,sensor=a v=2 1795000001000000000\n")
        #expect(got.map(\.value) == [1, 2])
    }

    @Test(arguments: [(TimePrecision.ns, "1795000000000000000"), (.us, "1795000000000000"), (.ms, "1795000000000"), (.s, "1795000000")])
    func precisions(p: TimePrecision, ts: String) throws {
        #expect(try decode("m,sensor=a v=1 \(ts)", p).first?.time == 1_795_000_000_000)
    }

    @Test(arguments: [
        ("m,sensor=a v=1 x", "line 1, column 16: bad timestamp 'x' (an integer in ns)"),
        ("m,sensor=a v", "line 1, column 13: expected '=' after field key 'v'"),
        ("m,sensor=a", "line 1, column 11: expected a space before the fields"),
        ("m,sensor v=1", "line 1, column 9: expected '=' after tag key 'sensor'"),
        ("m v=nan", "line 1, column 5: bad float field 'nan'"),
        ("m v=1e999", "line 1, column 5: bad float field '1e999'"),
        ("m v=12x", "line 1, column 5: bad float field '12x'"),
        ("m v=-1u", "line 1, column 5: bad unsigned field '-1u'"),
        ("m v=99999999999999999999i", "line 1, column 5: bad integer field '99999999999999999999i'"),
        ("m v=\"open", "line 1, column 10: unterminated string field"),
        ("m v=1\nm v=1 1 extra", "line 2, column 9: unexpected text after the timestamp"),
        (",sensor=a v=1", "line 1, column 1: empty measurement"),
    ])
    func errorsSayWhere(line: String, detail: String) {
        do {
            _ = try decode(line)
            Issue.record("accepted: \(line)")
        } catch {
            #expect(error.detail == detail, "\(line)")
        }
    }

    @Test func onlyStringsIsNoReadings() {
        #expect(throws: DecodeError("no_readings", "no numeric or boolean fields")) { _ = try decode(#"m s="x""#) }
    }

    @Test func timeWindow() {
        #expect(throws: DecodeError.self) { _ = try decode("m v=1 32503680000", .s) }
    }

    /// Against a naive oracle: random well-formed lines with escaped keys round-trip.
    @Test(arguments: [1, 2, 3])
    func randomEscapedFieldKeys(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let alphabet = Array("abc_-.")
        for _ in 0..<200 {
            let key = String((0..<Int(rng.next(below: 6) + 1)).map { _ in alphabet[Int(rng.next(below: UInt64(alphabet.count)))] })
            guard key.first!.isLetter else { continue }
            let v = Double(Int(rng.next(below: 20000)) - 10000) / 8
            let got = try decode("m\\ x,tag\\=1=a\\,b,sensor=s-1 \(key)=\(v) 1795000000000000000")
            #expect(got == [r("s-1/\(key)", 1_795_000_000_000, v)])
        }
    }
}
