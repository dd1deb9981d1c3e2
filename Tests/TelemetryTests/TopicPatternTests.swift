import Testing
@testable import Telemetry

@Suite struct TopicPatternTests {
    @Test func placeholdersBecomePlusAndFillIn() throws {
        let p = try TopicPattern("telemetry/{district}/{kind}/{sensor}")
        #expect(p.filter == "telemetry/+/+/+")
        #expect(p.values(in: "telemetry/muong-te/forest/ft-mt-0001") == TopicLabels(sensor: "ft-mt-0001", unit: "muong-te", kind: "forest"))
        let q = try TopicPattern("gw/{sensor}/up/#")
        #expect(q.filter == "gw/+/up/#")
        #expect(q.values(in: "gw/hy-01/up/a/b") == TopicLabels(sensor: "hy-01"))
        #expect(try TopicPattern("telemetry/#").values(in: "telemetry/x") == TopicLabels())
    }

    /// MQTT's `+` matches an empty level: it gives no value, not an empty one (found by `make fuzz`).
    @Test func emptyLevelGivesNoValue() throws {
        let p = try TopicPattern("telemetry/{district}/{sensor}")
        #expect(p.values(in: "telemetry//x") == TopicLabels(sensor: "x"))
        #expect(p.values(in: "telemetry/sin-ho/") == TopicLabels(unit: "sin-ho"))
    }

    @Test(arguments: ["t/{zone}", "t/{sensor}/{sensor}", "t/x{sensor}", "t/{sensor"])
    func refused(topic: String) {
        #expect(throws: TopicPatternError.self) { _ = try TopicPattern(topic) }
    }

    @Test func patternSensorIsTheDefaultSensor() throws {
        var c = DecodeContext(topic: "telemetry/muong-te/forest/ft-9/up", now: 1_795_000_000_000)
        c.patternSensor = "ft-9"
        var out: [Reading] = []
        try JSONPayloadDecoder().decode(Array(#"{"v": 1}"#.utf8), context: c, into: &out)
        try JSONPayloadDecoder().decode(Array(#"{"sensor": "named", "v": 1}"#.utf8), context: c, into: &out)
        #expect(out.map(\.series.description) == ["ft-9/v", "named/v"])
    }
}
