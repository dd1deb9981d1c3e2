import Testing
@testable import Telemetry

/// Where our decoders must agree with the formats' specifications and reference parsers
/// (InfluxDB's line protocol, RFC 8428 SenML). The cases are ours, written from what those
/// specifications and the peers' public test suites check, in our own data.
@Suite struct ConformanceTests {
    let now: EpochMillis = 1_795_000_000_000

    func context(topic: String = "telemetry/gw-01") -> DecodeContext {
        DecodeContext(topic: topic, now: now, acceptAge: 36_500 * 86_400_000)
    }

    func lineProtocol(_ s: String) throws(DecodeError) -> [Reading] {
        var out: [Reading] = []
        try LineProtocolDecoder().decode(Array(s.utf8), context: context(), into: &out)
        return out
    }

    func senml(_ s: String) throws(DecodeError) -> [Reading] {
        var out: [Reading] = []
        try SenMLDecoder().decode(Array(s.utf8), context: context(), into: &out)
        return out
    }

    func r(_ series: String, _ t: EpochMillis, _ v: Double) -> Reading {
        Reading(series: try! SeriesName(parsing: series), time: t, value: v)
    }

    func reason(_ body: () throws -> [Reading]) -> String? {
        do { _ = try body(); return nil } catch { return (error as? DecodeError)?.reason ?? "\(error)" }
    }

    // MARK: Line protocol

    /// A string field may span lines: InfluxDB (its v1 and v2 parsers and IOx) reads the
    /// newline as part of the string, so the line's numeric fields and the next line count.
    @Test func aNewlineInsideAStringFieldDoesNotEndTheLine() throws {
        let got = try lineProtocol("""
            river,sensor=hy-1 note="gauge cleaned\nby the field team",level_m=2.5 1795000000000000000
            river,sensor=hy-1 note="quote \\" and \\\\ and\nagain",level_m=2.6 1795000060000000000
            river,sensor=hy-1 level_m=2.7 1795000120000000000
            """)
        #expect(got == [r("hy-1/level_m", 1_795_000_000_000, 2.5), r("hy-1/level_m", 1_795_000_060_000, 2.6),
                        r("hy-1/level_m", 1_795_000_120_000, 2.7)])
        // A comment's quote is not a string; a quote in a measurement is a character.
        #expect(try lineProtocol("# say \"hi\nm\"x,sensor=s v=1 1795000000000000000") == [r("s/v", 1_795_000_000_000, 1)])
        // Windows line ends still end lines.
        #expect(try lineProtocol("m,sensor=s v=1 1795000000000000000\r\nm,sensor=s v=2 1795000001000000000\r\n").count == 2)
        // A string never closed is still an error, with its line.
        #expect(reason { try lineProtocol("m,sensor=s note=\"open\nv=1") } == "bad_line_protocol")
    }

    /// InfluxDB refuses a point naming a tag twice (we let the last `sensor` win before).
    @Test func duplicateTagKeysAreRefused() {
        do {
            _ = try lineProtocol("m,sensor=a,site=x,sensor=b v=1")
            Issue.record("accepted")
        } catch {
            #expect(error.reason == "bad_line_protocol" && error.detail == "line 1, column 19: duplicate tag key 'sensor'", "\(error)")
        }
    }

    /// Control characters (NUL included) in a measurement, tag key, tag value or field key.
    @Test(arguments: ["m\u{1},sensor=a v=1", "m,sen\u{0}sor=a v=1", "m,sensor=a\u{1F} v=1", "m,sensor=a v\u{7F}x=1",
                      "m,sensor=a\\ \u{7} v=1"])
    func controlCharactersInNamesAreRefused(line: String) {
        do {
            _ = try lineProtocol(line)
            Issue.record("accepted: \(line.debugDescription)")
        } catch {
            #expect(error.reason == "bad_line_protocol" && error.detail.contains("control character"), "\(error)")
        }
    }

    // MARK: SenML (RFC 8428)

    /// Section 4.4: a pack's records share one version.
    @Test func oneVersionPerPack() throws {
        #expect(reason { try senml(#"[{"bver":10,"n":"a:b","v":1},{"bver":5,"n":"a:c","v":2}]"#) } == "bad_senml")
        #expect(reason { try senml(#"[{"n":"a:b","v":1},{"bver":5,"n":"a:c","v":2}]"#) } == "bad_senml")   // 10 unless given
        #expect(try senml(#"[{"bver":5,"n":"a:b","v":1},{"bver":5,"n":"a:c","v":2},{"n":"a:d","v":3}]"#).count == 3)
    }

    /// Sections 4.2 and 4.6: a record with a base value and no value of its own resolves to
    /// the base value; later records add theirs to it.
    @Test func aBaseValueAloneIsTheRecordsValue() throws {
        #expect(try senml(#"[{"bn":"mt-1:","n":"kwh","bv":1200.5},{"n":"kwh","t":-900,"v":0.25}]"#)
            == [r("mt-1/kwh", now, 1200.5), r("mt-1/kwh", now - 900_000, 1200.75)])
    }

    /// A record of base fields only (section 5.1.7 starts with one) sets them for the records
    /// after it and is no reading itself; a record naming a measurement without its value is
    /// still refused.
    @Test func aRecordOfBaseFieldsOnlySetsTheBase() throws {
        let got = try senml(#"""
            [{"bn":"ws-7:","bt":1.795e9,"bu":"Cel","bver":10},
             {"n":"temp_c","v":21.5},{"n":"temp_c","t":60,"v":21.7}]
            """#)
        #expect(got == [r("ws-7/temp_c", 1_795_000_000_000, 21.5), r("ws-7/temp_c", 1_795_000_060_000, 21.7)])
        #expect(reason { try senml(#"[{"bn":"ws-7:","n":"temp_c"}]"#) } == "bad_senml")
        #expect(reason { try senml(#"[{"bn":"ws-7:","bt":1.795e9}]"#) } == "no_readings")
    }

    /// A name measured in several units within a pack (a station telling its readings apart
    /// only by unit, as the RFC's multi-measurement examples do) becomes one series per unit:
    /// all 13 readings are kept, none lost to another's name.
    @Test func unitsTellMeasurementsApart() throws {
        let got = try senml(#"""
            [{"bn":"hy-9:loc","bt":1.795e9,"bu":"%RH","v":71},
             {"u":"lon","v":103.24101},
             {"u":"lat","v":22.36012},
             {"t":60,"v":72},
             {"u":"lon","t":60,"v":103.24102},
             {"u":"lat","t":60,"v":22.36013},
             {"t":120,"v":74},
             {"u":"lon","t":120,"v":103.24103},
             {"u":"lat","t":120,"v":22.36014},
             {"u":"%EL","t":150,"v":98},
             {"t":180,"v":75},
             {"u":"lon","t":180,"v":103.24104},
             {"u":"lat","t":180,"v":22.36015}]
            """#)
        #expect(got.count == 13)
        let bySeries = Dictionary(grouping: got, by: \.series.description).mapValues(\.count)
        #expect(bySeries == ["hy-9/loc.pctRH": 4, "hy-9/loc.lon": 4, "hy-9/loc.lat": 4, "hy-9/loc.pctEL": 1], "\(bySeries)")
        #expect(got.contains(r("hy-9/loc.lat", 1_795_000_120_000, 22.36014)))
        // One unit throughout: the plain name, as before.
        #expect(try senml(#"[{"bn":"ws-7:","bu":"Cel","n":"t","v":1},{"n":"t","t":-60,"v":2}]"#).map(\.series.description) == ["ws-7/t", "ws-7/t"])
        #expect(SenMLDecoder.unitSlug("m/s") == "m_s" && SenMLDecoder.unitSlug("") == "none")
    }

    /// Two different values for one series and time are refused with a reason, never one of
    /// them kept silently; the same value twice is one reading.
    @Test func collidingRecordsAreRefusedNotDropped() throws {
        #expect(reason { try senml(#"[{"n":"a:b","v":1},{"n":"a:b","v":2}]"#) } == "name_collision")
        #expect(try senml(#"[{"n":"a:b","v":1},{"n":"a:b","v":1}]"#) == [r("a/b", now, 1)])
        #expect(try senml(#"[{"n":"a:b","v":1},{"n":"a:b","t":-1,"v":2}]"#).count == 2)
    }

    /// A pack with no numeric value stores nothing: refused as `no_readings`, as line
    /// protocol and JSON refuse it.
    @Test func aPackWithoutNumbersIsNoReadings() {
        #expect(reason { try senml(#"[{"n":"sw-1:door","vb":true},{"n":"sw-1:note","vs":"ok"}]"#) } == "no_readings")
        #expect(reason { try lineProtocol(#"m,sensor=s note="ok""#) } == "no_readings")
    }

    /// Section 4.5.3: every time below 2^28, negative ones included, is relative to now.
    @Test func everyTimeBelowTwoToTheTwentyEightIsRelative() throws {
        #expect(try senml(#"[{"n":"a:b","t":-300000000,"v":1}]"#) == [r("a/b", now - 300_000_000_000, 1)])
        #expect(try senml(#"[{"n":"a:b","t":-60,"v":1}]"#) == [r("a/b", now - 60_000, 1)])
        #expect(try senml(#"[{"n":"a:b","t":1.795e9,"v":1}]"#) == [r("a/b", 1_795_000_000_000, 1)])
    }
}
