import Alerts
import Testing
@testable import Collector
import Telemetry

@Suite struct RuleLoaderTests {
    let catalogue = Catalogue(sensors: [SensorEntry(id: "ft-1", kind: .forest, unit: "d", zone: nil, intervalMillis: 600_000)])

    @Test func shippedRulesAreValid() throws {
        let cat = try CatalogueLoader.load(path: packageRoot + "/sensors/lai-chau")
        let rules = try RuleLoader.load(path: packageRoot + "/sensors/lai-chau", catalogue: cat)
        #expect(rules.count >= 5)
        #expect(Set(rules.compactMap(\.match.kind)) == Set(SensorKind.allCases))
        #expect(rules.first { $0.name == "river-rising-fast" }?.when == .rateAbove(delta: 0.5, perMillis: 3_600_000))
        #expect(rules.first { $0.name == "forest-station-silent" }?.when == .silentFor(millis: nil, intervals: 3))
        // A flood-risk level 1 is low risk, not critical; fire danger IV is dangerous, V extremely.
        let flood = try #require(rules.first { $0.name == "flood-risk" })
        #expect([1, 2, 3].map { flood.severity(for: $0) } == [.info, .warning, .critical])
        let fire = try #require(rules.first { $0.name == "forest-fire-danger" })
        #expect([4, 5].map { fire.severity(for: $0) } == [.warning, .critical])
        // Every shipped rule speaks Vietnamese too.
        #expect(rules.allSatisfy { !$0.summaryVi.isEmpty }, "\(rules.filter { $0.summaryVi.isEmpty }.map(\.name))")
    }

    @Test func severityByValue() throws {
        let good = """
            rules:
              - name: r
                severity: info
                severity_by_value: {3: critical, 2.5: warning}
                match: {metric: x}
                when: {at_least: 1}
            """
        let rules = try RuleLoader.parse([(file: "r.yaml", text: good)], catalogue: catalogue)
        #expect(rules.first?.severityByValue == [SeverityBand(atLeast: 2.5, severity: .warning), SeverityBand(atLeast: 3, severity: .critical)])
        let bad = """
            rules:
              - name: r
                severity: info
                severity_by_value: {two: warning, 3: loud}
                match: {metric: x}
                when: {at_least: 1}
              - name: s
                severity: info
                severity_by_value: {}
                match: {metric: x}
                when: {at_least: 1}
              - name: t
                severity: info
                severity_by_value: {2: warning, 2.0: critical}
                match: {metric: x}
                when: {at_least: 1}
            """
        #expect {
            _ = try RuleLoader.parse([(file: "r.yaml", text: bad)], catalogue: catalogue)
        } throws: { error in
            let got = (error as? ConfigProblems)?.problems.map(\.description) ?? []
            let want = [
                "r.yaml:4: severity_by_value keys are the values where a band starts, e.g. {2: warning, 3: critical}",
                "r.yaml:4: severity must be info, warning or critical",
                "r.yaml:9: severity_by_value needs at least one band, e.g. {2: warning, 3: critical}",
                "r.yaml:14: severity_by_value has two bands starting at 2.0",
            ]
            if got != want { Issue.record("got:\n\(got.joined(separator: "\n"))") }
            return got == want
        }
    }

    /// The shipped flood-risk rule hears every rain gauge (river and forest stations alike)
    /// and the zone and unit maxima.
    @Test func shippedFloodRiskRuleMatchesEveryRainGauge() throws {
        let cat = try CatalogueLoader.load(path: packageRoot + "/sensors/lai-chau")
        let rule = try #require(try RuleLoader.load(path: packageRoot + "/sensors/lai-chau", catalogue: cat).first { $0.name == "flood-risk" })
        let gauges = cat.sensors.filter { $0.metrics["rain_mm"] != nil }
        #expect(gauges.contains { $0.kind == .forest } && gauges.contains { $0.kind == .hydro })
        for s in gauges {
            #expect(rule.match.matches(try SeriesName(sensor: s.id, metric: "flood_risk_level"), s), "\(s.id)")
        }
        for scope in ["unit.xa-sin-ho", "zone.lc-sh-tk001"] {
            #expect(rule.match.matches(try SeriesName(sensor: scope, metric: "flood_risk_level"), nil), "\(scope)")
        }
    }

    @Test func problemsWithLines() {
        let text = """
            rules:
              - name: a
                severity: loud
                match: {metric: temp_c}
                when: {above: 1, below: 0}
              - name: b
                severity: info
                match: {kind: forest}
                when: {above: 1}
              - name: c
                severity: info
                match: {sensor: nobody, metric: x}
                when: {rising: 1}
                for: soon
              - name: c
                severity: info
                match: {metric: x}
                when: {silent_for: 10q}
            """
        #expect {
            _ = try RuleLoader.parse([(file: "r.yaml", text: text)], catalogue: catalogue)
        } throws: { error in
            let got = (error as? ConfigProblems)?.problems.map(\.description) ?? []
            let want = [
                "r.yaml:3: severity must be info, warning or critical",
                "r.yaml:5: when needs exactly one of above, below, at_least, at_most, rate_above, rate_below, silent_for",
                "r.yaml:8: rule 'b' needs match.metric",
                "r.yaml:12: unknown sensor 'nobody'",
                "r.yaml:13: unknown condition 'rising' (above, below, at_least, at_most, rate_above, rate_below, silent_for)",
                "r.yaml:14: 'for': bad duration 'soon' (use e.g. 500ms, 30s, 10m, 1h, 7d)",
                "r.yaml:18: silent_for must be a duration (30m) or a multiple of the sensor's interval (3x)",
            ]
            if got != want { Issue.record("got:\n\(got.joined(separator: "\n"))") }
            return got == want
        }
    }
}
