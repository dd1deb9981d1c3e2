import Testing
@testable import Telemetry

@Suite struct PayloadDecoderTests {
    let context = DecodeContext(topic: "telemetry/x/gw-9", now: 1_795_000_000_000, acceptAge: 86_400_000)

    func detect(_ s: String) throws(DecodeError) -> PayloadFormat {
        var out: [Reading] = []
        return try PayloadDecoder().decode(Array(s.utf8), format: .auto, context: context, into: &out)
    }

    @Test func autoDetection() throws {
        #expect(try detect(#"{"v": 1}"#) == .json)
        #expect(try detect(#"  [{"sensor": "a", "v": 1}]"#) == .json)
        #expect(try detect(#"[{"ts": 1795000000, "v": 1}]"#) == .json)
        #expect(try detect(#"[{"bn": "a:", "n": "v", "v": 1}]"#) == .senml)
        #expect(try detect(#"[{"n": "a:v", "v": 1}]"#) == .senml)
        #expect(try detect("m,sensor=a v=1") == .influx)
        #expect(throws: DecodeError("empty", "empty payload")) { _ = try detect(" \n") }
    }

    @Test func fixedFormatIsNotSecondGuessed() {
        var out: [Reading] = []
        #expect(throws: DecodeError.self) {
            try PayloadDecoder().decode(Array(#"{"v": 1}"#.utf8), format: .influx, context: context, into: &out)
        }
    }

    /// A UTF-8 byte-order mark before the payload is skipped (it read as "expected '=' after
    /// tag key"): the same readings as without it, in every format.
    @Test func aByteOrderMarkIsSkipped() throws {
        for (text, format) in [(#"{"sensor": "a", "ts": 1795000000, "temp_c": 21.5}"#, PayloadFormat.auto),
                               (#"{"sensor": "a", "ts": 1795000000, "temp_c": 21.5}"#, .json),
                               ("m,sensor=a temp_c=21.5 1795000000000000000", .auto),
                               (#"[{"bn": "a:", "n": "temp_c", "t": 1795000000, "v": 21.5}]"#, .senml)] {
            var plain: [Reading] = [], marked: [Reading] = []
            let used = try PayloadDecoder().decode(Array(text.utf8), format: format, context: context, into: &plain)
            let usedMarked = try PayloadDecoder().decode([0xEF, 0xBB, 0xBF] + Array(text.utf8), format: format, context: context, into: &marked)
            #expect(plain.count == 1 && marked == plain && usedMarked == used, "\(text)")
        }
    }
}
