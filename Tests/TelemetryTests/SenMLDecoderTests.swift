import Testing
@testable import Telemetry

/// RFC 8428's own examples (section 5.1), and its MUST rules.
@Suite struct SenMLDecoderTests {
    let now: EpochMillis = 1_795_000_000_000
    var context: DecodeContext {
        DecodeContext(topic: "telemetry/gw-01", now: now, acceptAge: 36_500 * 86_400_000)
    }

    func decode(_ s: String) throws(DecodeError) -> [Reading] {
        var out: [Reading] = []
        try SenMLDecoder().decode(Array(s.utf8), context: context, into: &out)
        return out
    }

    func r(_ series: String, _ t: EpochMillis, _ v: Double) -> Reading {
        Reading(series: try! SeriesName(parsing: series), time: t, value: v)
    }

    @Test func rfc5_1_1_singleDatapoint() throws {
        // No time: "roughly now". The name's last ':' separates sensor and metric.
        #expect(try decode(#"[{"n":"urn:dev:ow:10e2073a01080063","u":"Cel","v":23.1}]"#)
            == [r("urn:dev:ow/10e2073a01080063", now, 23.1)])
    }

    @Test func rfc5_1_2_multipleDatapoints() throws {
        let got = try decode("""
            [{"bn":"urn:dev:ow:10e2073a01080063:","n":"voltage","u":"V","v":120.1},
             {"n":"current","u":"A","v":1.2}]
            """)
        #expect(got == [r("urn:dev:ow:10e2073a01080063/voltage", now, 120.1),
                        r("urn:dev:ow:10e2073a01080063/current", now, 1.2)])
    }

    @Test func rfc5_1_3_multipleMeasurementsWithBaseTime() throws {
        let got = try decode("""
            [{"bn":"urn:dev:ow:10e2073a0108006:","bt":1.276020076001e+09,"bu":"A","bver":5,"n":"voltage","u":"V","v":120.1},
             {"n":"current","t":-5,"v":1.2},
             {"n":"current","t":-4,"v":1.3},
             {"n":"current","t":-3,"v":1.4},
             {"n":"current","t":-2,"v":1.5},
             {"n":"current","t":-1,"v":1.6},
             {"n":"current","v":1.7}]
            """)
        let bt: EpochMillis = 1_276_020_076_001
        #expect(got.count == 7)
        #expect(got[0] == r("urn:dev:ow:10e2073a0108006/voltage", bt, 120.1))
        #expect(got[1] == r("urn:dev:ow:10e2073a0108006/current", bt - 5000, 1.2))
        #expect(got[6] == r("urn:dev:ow:10e2073a0108006/current", bt, 1.7))
    }

    @Test func rfc5_1_6_collectionOfResources() throws {
        let got = try decode("""
            [{"bn":"urn:dev:ow:10e2073a01080063:","bt":1.320078429e+09,"n":"temperature","u":"Cel","v":27.2},
             {"n":"humidity","u":"%RH","v":80},
             {"n":"heater-on","vb":true},
             {"n":"status","vs":"ok"},
             {"n":"blob","vd":"aGkgCg"}]
            """)
        #expect(got == [r("urn:dev:ow:10e2073a01080063/temperature", 1_320_078_429_000, 27.2),
                        r("urn:dev:ow:10e2073a01080063/humidity", 1_320_078_429_000, 80)])
    }

    @Test func baseValueAndRelativeTime() throws {
        let got = try decode(#"[{"bn":"gw-01/","bv":100,"n":"kwh","v":0.5,"t":-60},{"n":"kwh","v":1.5}]"#)
        #expect(got == [r("gw-01/kwh", now - 60_000, 100.5), r("gw-01/kwh", now, 101.5)])
    }

    /// The sensor is bn + n up to the last `:` or `/`, wherever that falls; a new bn applies
    /// from its record on, and a bad character in bn is found in every record it names.
    @Test func nameSplitsAtTheLastSeparatorOfBnPlusN() throws {
        let got = try decode(#"""
            [{"bn":"st:a","n":"b","v":1},{"n":"x/c","v":2},{"bn":"","n":"d","v":3},{"bn":"gw","n":"e","v":4},
             {"bn":"z/","n":"f","v":5},{"n":"g","v":6}]
            """#)
        #expect(got == [r("st/ab", now, 1), r("st:ax/c", now, 2), r("gw-01/d", now, 3), r("gw-01/gwe", now, 4),
                        r("z/f", now, 5), r("z/g", now, 6)])
        for bad in [#"[{"bn":"a b:","n":"c","v":1}]"#, #"[{"bn":"a:","n":"c","v":1},{"n":"d e","v":2}]"#,
                    #"[{"bn":"-a:","n":"c","v":1}]"#, #"[{"bn":"","n":"","v":1}]"#] {
            #expect(throws: DecodeError.self, "\(bad)") { try decode(bad) }
        }
    }

    @Test func nameWithoutSeparatorUsesTopicSensor() throws {
        #expect(try decode(#"[{"n":"temp","v":1}]"#) == [r("gw-01/temp", now, 1)])
    }

    @Test(arguments: [
        (#"[{"n":"a:b","v":1,"vs":"x"}]"#, "bad_senml"),           // two value fields
        (#"[{"n":"a:b"}]"#, "bad_senml"),                           // no value field
        (#"[{"n":"a:b","v":1,"foo_":2}]"#, "bad_senml"),            // must-understand label
        (#"[{"bver":11,"n":"a:b","v":1}]"#, "bad_senml"),           // newer version
        (#"[{"n":"-a:b","v":1}]"#, "bad_name"),                     // must start alphanumeric
        (#"[{"n":"a b:c","v":1}]"#, "bad_name"),                    // bad character
        (#"[{"n":"a:b","v":"1"}]"#, "bad_senml"),                   // v must be a number
        (#"[{"bn":"a:","n":"b","v":1},{"n":"c","t":"x","v":2}]"#, "bad_senml"),
        (#"{"n":"a:b","v":1}"#, "bad_senml"),                       // not a pack
        (#"[]"#, "bad_senml"),
    ])
    func mustRules(payload: String, reason: String) {
        do {
            _ = try decode(payload)
            Issue.record("accepted: \(payload)")
        } catch {
            #expect(error.reason == reason, "\(payload): \(error)")
        }
    }

    /// A record with several faults reports the same one whatever the order of its fields:
    /// the decoder's order of checks (must-understand labels, version, types, value count).
    @Test(arguments: [
        ([#""n":5"#, #""v":1"#, #""vs":"x""#, #""zz_":1"#, #""aa_":1"#], #"unknown label "aa_""#),
        ([#""bver":11"#, #""bn":3"#, #""v":1"#], "bver 11.0 is newer"),
        ([#""bn":3"#, #""v":"x""#, #""n":"b""#], #""bn" must be a string"#),
        ([#""n":5"#, #""v":1"#, #""vs":"x""#], "needs exactly one of v, vs, vb, vd"),
        ([#""n":5"#, #""t":"x""#, #""v":1"#], #""n" must be a string"#),
    ])
    func severalFaultsReportTheFirstCheckedOne(fields: [String], message: String) {
        var orders = [fields, fields.reversed()]
        for k in 1..<fields.count { orders.append(Array(fields[k...] + fields[..<k])) }
        // Harmless labels change the dictionary's layout, so its iteration order too.
        orders += orders.map { $0 + [#""bu":"m""#, #""ut":1"#, #""bs":0"#] }
        for order in orders {
            let payload = "[{" + order.joined(separator: ",") + "}]"
            do {
                _ = try decode(payload)
                Issue.record("accepted: \(payload)")
            } catch {
                #expect(error.detail.contains(message), "\(payload): \(error)")
            }
        }
    }

    @Test func oneBadRecordRejectsThePack() {
        var out: [Reading] = []
        let p = #"[{"n":"a:ok","v":1},{"n":"a:bad","v":1,"x_":0}]"#
        #expect(throws: DecodeError.self) { try SenMLDecoder().decode(Array(p.utf8), context: context, into: &out) }
        #expect(out.isEmpty)
    }

    @Test func timeWindowApplies() {
        var out: [Reading] = []
        let c = DecodeContext(topic: "t", now: now, acceptAge: 86_400_000)
        #expect(throws: DecodeError.self) {
            try SenMLDecoder().decode(Array(#"[{"n":"a:b","v":1,"t":1.0e9}]"#.utf8), context: c, into: &out)
        }
    }
}
