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
}
