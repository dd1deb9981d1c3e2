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
}
