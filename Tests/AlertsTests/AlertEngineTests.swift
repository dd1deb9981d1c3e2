import Alerts
import Testing
import Telemetry

@Suite struct AlertEngineTests {
    let catalogue = Catalogue(
        zones: [Zone(id: "z1", kind: .forest, unit: "muong-te", areaHa: 10)],
        sensors: [SensorEntry(id: "ft-1", kind: .forest, unit: "muong-te", zone: "z1", intervalMillis: 600_000),
                  SensorEntry(id: "hy-1", kind: .hydro, unit: "sin-ho", intervalMillis: 300_000)])

    func name(_ s: String) -> SeriesName { try! SeriesName(parsing: s) }

    @Test func thresholdWithHysteresisAndSummary() {
        let rule = Rule(name: "hot", severity: .critical, match: RuleMatch(kind: .forest, metric: "temp_c"),
                        when: .above(35), clear: .below(33), summary: "{value} C at {sensor} in {zone} ({district})")
        let e = AlertEngine(rules: [rule], catalogue: catalogue, now: 0)
        func feed(_ v: Double, _ t: EpochMillis) -> [AlertEvent] {
            e.observe(series: name("ft-1/temp_c"), sample: Sample(time: t, value: v), now: t) { [] }
        }
        #expect(feed(34, 1000).isEmpty)
        let fired = feed(36, 2000)
        #expect(fired.map(\.action) == [.fire])
        #expect(fired.first?.alert.summary == "36 C at ft-1 in z1 (muong-te)")
        #expect(fired.first?.alert.topic == "alerts/critical/hot/ft-1")
        // A firing alert takes each reading of its series: not announced, listed with it.
        #expect(feed(37.5, 2500).isEmpty)
        #expect(e.liveAlerts.map(\.summary) == ["37.5 C at ft-1 in z1 (muong-te)"])
        #expect(e.liveAlerts.map(\.value) == [37.5])
        #expect(feed(34, 3000).isEmpty)                 // between clear and fire: still firing
        #expect(e.liveAlerts.count == 1)
        #expect(e.liveAlerts.map(\.summary) == ["37.5 C at ft-1 in z1 (muong-te)"])
        #expect(feed(32, 4000).map(\.action) == [.resolve])
        #expect(e.liveAlerts.isEmpty)
        // other metrics and kinds do not match
        #expect(e.observe(series: name("ft-1/rh_pct"), sample: Sample(time: 5000, value: 99), now: 5000) { [] }.isEmpty)
        #expect(e.observe(series: name("hy-1/temp_c"), sample: Sample(time: 5000, value: 99), now: 5000) { [] }.isEmpty)
    }

    /// Every placeholder in one pass; an unknown one and an unclosed brace stay as written, and
    /// a substituted value is not expanded again.
    @Test func summaryTemplate() {
        let rule = Rule(name: "wet", severity: .info, match: RuleMatch(metric: "rh_pct"), when: .above(90),
                        summary: "{rule}: {metric}={value} {sensor}/{zone}/{district} {nope} {value {")
        let e = AlertEngine(rules: [rule], catalogue: catalogue, now: 0)
        let fired = e.observe(series: name("ft-1/rh_pct"), sample: Sample(time: 1, value: 97.5), now: 1) { [] }
        #expect(fired.first?.alert.summary == "wet: rh_pct=97.5 ft-1/z1/muong-te {nope} {value {")
        let plain = Rule(name: "also", severity: .info, match: RuleMatch(metric: "rh_pct"), when: .above(90),
                         summary: "{sensor} {zone}{district}")
        let e2 = AlertEngine(rules: [plain], catalogue: catalogue, now: 0)
        let other = e2.observe(series: name("hy-1/rh_pct"), sample: Sample(time: 1, value: 99), now: 1) { [] }
        #expect(other.first?.alert.summary == "hy-1 -sin-ho")
    }

    /// A rule's severity may follow the value's band (`severity_by_value`): a flood-risk level 1
    /// is `info`, 2 `warning`, 3 `critical`. A firing alert whose level moves is announced again
    /// with the severity it had (`previousSeverity`); a pending one just takes the new severity.
    @Test func severityFollowsTheValueBand() {
        let rule = Rule(name: "flood-risk", severity: .info,
                        severityByValue: [SeverityBand(atLeast: 3, severity: .critical), SeverityBand(atLeast: 2, severity: .warning)],
                        match: RuleMatch(metric: "flood_risk_level"), when: .atLeast(1), clear: .below(1))
        #expect(rule.severityByValue.map(\.atLeast) == [2, 3])
        #expect([0, 1, 1.5, 2, 2.9, 3, 7].map { rule.severity(for: $0) } == [.info, .info, .info, .warning, .warning, .critical, .critical])
        #expect(rule.severity(for: nil) == .info)
        let e = AlertEngine(rules: [rule], catalogue: catalogue, now: 0)
        func feed(_ v: Double, _ t: EpochMillis) -> [AlertEvent] {
            e.observe(series: name("hy-1/flood_risk_level"), sample: Sample(time: t, value: v), now: t) { [] }
        }
        let fired = feed(1, 1000)
        #expect(fired.map(\.action) == [.fire] && fired.first?.alert.severity == .info && fired.first?.previousSeverity == nil)
        #expect(fired.first?.alert.topic == "alerts/info/flood-risk/hy-1")
        #expect(feed(1, 2000).isEmpty)                           // the same band: nothing new
        let up = feed(3, 3000)
        #expect(up.map(\.action) == [.fire] && up.first?.alert.severity == .critical && up.first?.previousSeverity == .info)
        #expect(up.first?.isEscalation == true && up.first?.alert.since == 1000)   // firing since its start
        let down = feed(2, 4000)
        #expect(down.first?.alert.severity == .warning && down.first?.previousSeverity == .critical && down.first?.isEscalation == false)
        #expect(e.liveAlerts.first?.severity == .warning)
        let resolved = feed(0, 5000)
        #expect(resolved.map(\.action) == [.resolve] && resolved.first?.alert.severity == .warning)

        // Pending: the severity moves with a `.pending` event (stored, not announced), and the
        // alert fires with the latest.
        let slow = Rule(name: "slow", severity: .info, severityByValue: [SeverityBand(atLeast: 2, severity: .critical)],
                        match: RuleMatch(metric: "flood_risk_level"), when: .atLeast(1), forMillis: 10_000)
        let e2 = AlertEngine(rules: [slow], catalogue: catalogue, now: 0)
        func feed2(_ v: Double, _ t: EpochMillis) -> [AlertEvent] {
            e2.observe(series: name("hy-1/flood_risk_level"), sample: Sample(time: t, value: v), now: t) { [] }
        }
        #expect(feed2(1, 0).map(\.action) == [.pending])
        let moved = feed2(2, 5000)
        #expect(moved.map(\.action) == [.pending] && moved.first?.alert.severity == .critical && moved.first?.previousSeverity == .info)
        let late = feed2(2, 10_000)
        #expect(late.map(\.action) == [.fire] && late.first?.alert.severity == .critical && late.first?.previousSeverity == nil)
    }

    /// Summaries in English and Vietnamese, with display names (a zone scope's is its zone's);
    /// `summary` is in the configured language, and falls back to English without a Vietnamese text.
    @Test func summariesInBothLanguagesWithDisplayNames() {
        var station = SensorEntry(id: "ft-1", kind: .forest, unit: "muong-te", zone: "z1", intervalMillis: 600_000)
        station.name = "Trạm rừng Pa Ủ"
        var zone = Zone(id: "z1", kind: .forest, unit: "muong-te", areaHa: 10)
        zone.name = "Tiểu khu 1"
        let named = Catalogue(zones: [zone], sensors: [station], units: [AdminUnit(id: "muong-te", name: "Mường Tè", type: .district)])
        let rule = Rule(name: "fire", severity: .warning, match: RuleMatch(metric: "fire_danger_level"), when: .atLeast(4),
                        summary: "Fire danger level {value} at {sensor} ({district})",
                        summaryVi: "Cấp dự báo cháy rừng {value} tại {sensor_name} ({zone_name}, {district_name})")
        let plain = Rule(name: "plain", severity: .info, match: RuleMatch(metric: "fire_danger_level"), when: .atLeast(4),
                         summary: "level {value} at {sensor_name}")
        let e = AlertEngine(rules: [rule, plain], catalogue: named, now: 0, language: .vi)
        let events = e.observe(series: name("ft-1/fire_danger_level"), sample: Sample(time: 1, value: 4), now: 1) { [] }
        let fire = events.first { $0.alert.rule == "fire" }?.alert
        #expect(fire?.summaryEn == "Fire danger level 4 at ft-1 (muong-te)")
        #expect(fire?.summaryVi == "Cấp dự báo cháy rừng 4 tại Trạm rừng Pa Ủ (Tiểu khu 1, Mường Tè)")
        #expect(fire?.summary == fire?.summaryVi)
        let other = events.first { $0.alert.rule == "plain" }?.alert
        #expect(other?.summaryVi == nil && other?.summary == "level 4 at Trạm rừng Pa Ủ")
        // A zone scope: its unit's names.
        let scoped = e.observe(series: name("zone.z1/fire_danger_level"), sample: Sample(time: 2, value: 5), now: 2) { [] }
        #expect(scoped.first { $0.alert.rule == "fire" }?.alert.summaryVi == "Cấp dự báo cháy rừng 5 tại Tiểu khu 1 (Tiểu khu 1, Mường Tè)")
        // In English, `summary` is the English text.
        let en = AlertEngine(rules: [rule], catalogue: named, now: 0)
        #expect(en.observe(series: name("ft-1/fire_danger_level"), sample: Sample(time: 1, value: 4), now: 1) { [] }.first?.alert.summary
                == "Fire danger level 4 at ft-1 (muong-te)")
    }

    /// Observing by series id (the hot path: rules worked out once per series, last-seen kept by
    /// id) decides exactly as observing by name, and `lastSeen` agrees once read.
    @Test func observingByIDMatchesObservingByName() {
        let rules = [
            Rule(name: "hot", severity: .critical, match: RuleMatch(kind: .forest, metric: "temp_c"), when: .above(35), clear: .below(33)),
            Rule(name: "any-high", severity: .info, match: RuleMatch(units: ["sin-ho"]), when: .above(90)),
            Rule(name: "exact", severity: .warning, match: RuleMatch(metric: "temp_c", sensor: "ft-1"), when: .below(0)),
            Rule(name: "silent", severity: .warning, match: RuleMatch(kind: .forest), when: .silentFor(millis: 60_000, intervals: nil)),
        ]
        let byName = AlertEngine(rules: rules, catalogue: catalogue, now: 0)
        let byID = AlertEngine(rules: rules, catalogue: catalogue, now: 0)
        var rng = SplitMix64(seed: 9)
        let series = ["ft-1/temp_c", "ft-1/rh_pct", "hy-1/temp_c", "hy-1/level_m", "zz-9/temp_c"].map(name)
        for step in 0..<3000 {
            let k = Int(rng.next() % UInt64(series.count))
            let s = Sample(time: EpochMillis(step) * 1000 - EpochMillis(rng.next() % 5000), value: Double(rng.next() % 120) - 10)
            let t = EpochMillis(step) * 1000
            let a = byName.observe(series: series[k], sample: s, now: t) { [] }
            let b = byID.observe(id: SeriesID(Int32(k)), series: series[k], sample: s, now: t,
                                 entry: catalogue.sensor(series[k].sensor)) { [] }
            #expect(a == b, "step \(step)")
            if step % 500 == 0 { #expect(byName.tick(now: t) == byID.tick(now: t)) }
        }
        #expect(byName.lastSeen == byID.lastSeen && byName.lastSeen.count == 3)
    }

    /// Alerts stored before alerts had a place get theirs at a restart.
    @Test func restoredAlertsArePlaced() {
        let rule = Rule(name: "hot", severity: .critical, match: RuleMatch(metric: "temp_c"), when: .above(35))
        let old = Alert(id: 1, rule: "hot", subject: "ft-1", severity: .critical, state: "firing", since: 0)
        let e = AlertEngine(rules: [rule], catalogue: catalogue, restored: [old], now: 0)
        #expect(e.liveAlerts.first.map { ($0.unit, $0.zone) } ?? (nil, nil) == ("muong-te", "z1"))
    }

    @Test func rateOverAWindow() {
        let rule = Rule(name: "rising", severity: .warning, match: RuleMatch(metric: "level_m"),
                        when: .rateAbove(delta: 0.5, perMillis: 3_600_000))
        let e = AlertEngine(rules: [rule], catalogue: catalogue, now: 0)
        var history: [Sample] = []
        func feed(_ v: Double, _ minutes: Int64) -> [AlertEvent] {
            let s = Sample(time: minutes * 60_000, value: v)
            defer { history.append(s) }
            return e.observe(series: name("hy-1/level_m"), sample: s, now: s.time) { history }
        }
        #expect(feed(2.0, 0).isEmpty)
        #expect(feed(2.3, 30).isEmpty)
        #expect(feed(2.45, 59).isEmpty)                  // +0.45 within the hour
        #expect(feed(2.6, 61).isEmpty)                   // 2.6 - 2.3 (the oldest within the hour) = 0.3
        #expect(feed(2.9, 62).map(\.action) == [.fire]) // 2.9 - 2.3 = 0.6
    }

    @Test func pendingFiresOnTickAndSilenceFires() {
        let hot = Rule(name: "hot", severity: .warning, match: RuleMatch(metric: "temp_c"), when: .above(35), forMillis: 60_000)
        let silent = Rule(name: "silent", severity: .warning, match: RuleMatch(kind: .hydro), when: .silentFor(millis: nil, intervals: 3))
        let e = AlertEngine(rules: [hot, silent], catalogue: catalogue, lastSeen: ["hy-1": 0], now: 0)
        #expect(e.observe(series: name("ft-1/temp_c"), sample: Sample(time: 0, value: 40), now: 0) { [] }.map(\.action) == [.pending])
        #expect(e.tick(now: 30_000).isEmpty)
        let fired = e.tick(now: 60_000)
        #expect(fired.map(\.alert.rule) == ["hot"])
        // hy-1 interval 5 min: silent after 15 min
        #expect(e.tick(now: 900_000).isEmpty)
        let silence = e.tick(now: 900_001)
        #expect(silence.map { "\($0.action) \($0.alert.rule) \($0.alert.subject)" } == ["fire silent hy-1"])
        // a reading clears the silence at the next tick
        _ = e.observe(series: name("hy-1/level_m"), sample: Sample(time: 901_000, value: 2), now: 901_000) { [] }
        #expect(e.tick(now: 902_000).map(\.action) == [.resolve])
    }

    /// A tick limited to some alerts (the province's holder on a partition's standby: the
    /// province-wide scopes' timers only) fires only those, and judges no silence.
    @Test func aLimitedTickRunsOnlyThoseTimers() {
        let hot = Rule(name: "hot", severity: .warning, match: RuleMatch(metric: "temp_c"), when: .above(35), forMillis: 60_000)
        let silent = Rule(name: "silent", severity: .warning, match: RuleMatch(kind: .hydro), when: .silentFor(millis: nil, intervals: 3))
        let e = AlertEngine(rules: [hot, silent], catalogue: catalogue, lastSeen: ["hy-1": 0], now: 0)
        _ = e.observe(series: name("ft-1/temp_c"), sample: Sample(time: 0, value: 40), now: 0) { [] }
        _ = e.observe(series: name("zone.z1/temp_c"), sample: Sample(time: 0, value: 40), now: 0) { [] }
        let wide: (Alert) -> Bool = { DerivedScope.isProvinceWide($0.subject) }
        #expect(e.tick(now: 900_001, only: wide).map { "\($0.action) \($0.alert.subject)" } == ["fire zone.z1"])
        #expect(Set(e.tick(now: 900_002).map { "\($0.action) \($0.alert.subject)" }) == ["fire ft-1", "fire hy-1"])
    }

    /// A partition's standby that takes over: its last-seen times are old (the readings went to
    /// the other collector), so silences count from the takeover, not from the old times.
    @Test func restartedSilencesCountFromTheRestart() {
        let silent = Rule(name: "silent", severity: .warning, match: RuleMatch(kind: .hydro), when: .silentFor(millis: nil, intervals: 3))
        let e = AlertEngine(rules: [silent], catalogue: catalogue, lastSeen: ["hy-1": 0], now: 0)
        e.restartSilences(at: 5_000_000)
        #expect(e.tick(now: 5_000_000).isEmpty)                     // without the restart: silent for 83 minutes
        #expect(e.tick(now: 5_900_000).isEmpty)
        #expect(e.tick(now: 5_900_001).map { "\($0.action) \($0.alert.subject)" } == ["fire hy-1"])
    }

    @Test func restoredAlertsAreNotAnnouncedAgain() {
        let rule = Rule(name: "hot", severity: .warning, match: RuleMatch(metric: "temp_c"), when: .above(35))
        let restored = Alert(id: 7, rule: "hot", subject: "ft-1", severity: .warning, state: "firing", since: 100)
        let e = AlertEngine(rules: [rule], catalogue: catalogue, restored: [restored], now: 1000)
        #expect(e.observe(series: name("ft-1/temp_c"), sample: Sample(time: 2000, value: 40), now: 2000) { [] }.isEmpty)
        #expect(e.observe(series: name("ft-1/temp_c"), sample: Sample(time: 3000, value: 20), now: 3000) { [] }.map(\.action) == [.resolve])
    }
}
