import Testing
@testable import Collector

/// The API's JSON writer: escaping, integers, doubles and epoch seconds, checked by hand.
struct JSONTextTests {
    func text(_ body: (inout JSONText) -> Void) -> String {
        var j = JSONText()
        body(&j)
        return String(decoding: j.bytes, as: UTF8.self)
    }

    @Test func stringsAreEscaped() {
        #expect(text { $0.string(#"a"b\c"#) } == #""a\"b\\c""#)
        #expect(text { $0.string("line\nnext\r\ttab") } == #""line\nnext\r\ttab""#)
        #expect(text { $0.string("\u{01}\u{1f}") } == #""\u0001\u001f""#)
        #expect(text { $0.string("Lò Văn A · 🌧") } == "\"Lò Văn A · 🌧\"")
    }

    @Test func numbers() {
        #expect(text { $0.int(0) } == "0")
        #expect(text { $0.int(-42) } == "-42")
        #expect(text { $0.int(Int64.min) } == "-9223372036854775808")
        #expect(text { $0.int(Int64.max) } == "9223372036854775807")
        #expect(text { $0.double(3) } == "3")
        #expect(text { $0.double(-2.5) } == "-2.5")
        #expect(text { $0.double(0.1) } == "0.1")
        #expect(text { $0.double(1e300) } == "1e+300")
        #expect(text { $0.double(.nan) } == "null")
        #expect(text { $0.double(-.infinity) } == "null")
    }

    /// Short decimals are written without a String, and must read exactly as Swift's own
    /// shortest form: checked against `description` for sensor-like values, sums of them,
    /// every decimal count, the range's edges and random bit patterns.
    @Test func decimalsAreWrittenAsSwiftWritesThem() {
        var values: [Double] = [0.001, -0.001, 0.0011, 0.1 + 0.2, 1.0 / 3, 99_999_999_999_999.9, 12_345_678_901_234.5,
                                1e14 - 0.5, 1e-3.nextUp, 1e-3.nextDown, 0.000_999, 123.456_789_012, 2.5e-3, -0.0,
                                0.0001, 0.000_12, 0.000_05, 1.5e-6, 100_000_000_000_000.5]
        var rng = SystemRandomNumberGenerator()
        for places in 1...10 {
            let scale = (0..<places).reduce(1.0) { p, _ in p * 10 }
            for _ in 0..<2_000 {
                let m = Double(Int64.random(in: -10_000_000_000...10_000_000_000, using: &rng))
                values.append(m / scale)
                values.append(Double(Int.random(in: 1...99_999, using: &rng)) / scale)   // small ones
            }
        }
        for _ in 0..<20_000 {
            // Readings summed as a rollup sums them: the sum rarely is a short decimal.
            var sum = 0.0
            for _ in 0..<Int.random(in: 2...60, using: &rng) { sum += Double(Int.random(in: 1_500...3_500, using: &rng)) / 100 }
            values.append(sum)
            values.append(sum / 7)
            let bits = Double(bitPattern: UInt64.random(in: 0...UInt64.max, using: &rng))
            if bits.isFinite { values.append(bits) }
        }
        var wrong: [String] = []
        for v in values {
            let expected = v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : v.description
            let got = text { $0.double(v) }
            if got != expected { wrong.append("\(expected) written \(got)") }
        }
        #expect(wrong.isEmpty, "\(wrong.prefix(5))")
    }

    @Test func epochSeconds() {
        #expect(JSONText.seconds(1_795_000_000_000) == "1795000000")
        #expect(JSONText.seconds(1_500) == "1.5")
        #expect(JSONText.seconds(1_001) == "1.001")
        #expect(JSONText.seconds(1_010) == "1.01")
        #expect(JSONText.seconds(999) == "0.999")
        #expect(JSONText.seconds(-1_500) == "-1.5")
        #expect(JSONText.seconds(0) == "0")
    }

    @Test func structure() {
        let s = text { j in
            j.object {
                $0.field("a") { $0.array { a in a.int(1); a.null(); a.bool(true) } }
                $0.field("t") { $0.seconds(2_250) }
            }
        }
        #expect(s == #"{"a":[1,null,true],"t":2.25}"#)
    }

    /// A row of numbers reads as the same object written field by field, also when it is
    /// longer than the row's stack space (the spill).
    @Test func rowsAreObjectsOfNumbers() {
        let values: [Double] = [1, -0.25, 21.45, 1.0 / 3, .nan, 1e300, 123_456_789.125, -0.0]
        let names: [StaticString] = ["count", "sum", "min", "max", "avg", "first", "last",
                                     "a_name_of_forty_characters_or_thereabout", "another_name_of_forty_characters_or_so__"]
        for fields in [2, names.count] {
            for repeats in [1, 8] {
                let pairs = (0..<(fields * repeats)).map { (names[$0 % fields], values[$0 % values.count]) }
                let byRow = text { j in
                    j.array { a in
                        a.row { r in
                            r.seconds("t", 1_500)
                            r.int("n", -7)
                            for (n, v) in pairs { r.double(n, v) }
                        }
                        a.row { _ in }
                    }
                }
                let byField = text { j in
                    j.array { a in
                        a.object { o in
                            o.field("t") { $0.seconds(1_500) }
                            o.field("n") { $0.int(-7) }
                            for (n, v) in pairs { o.field(n) { $0.double(v) } }
                        }
                        a.object { _ in }
                    }
                }
                #expect(byRow == byField)
                if fields == names.count && repeats == 8 { #expect(byRow.count > 2 * JSONText.Row.capacity) }
            }
        }
    }
}
