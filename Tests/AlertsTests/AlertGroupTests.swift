import Alerts
import Testing
import Telemetry

@Suite struct AlertGroupTests {
    func alert(_ rule: String, _ subject: String, _ severity: Severity, unit: String?, state: String = "firing",
               since: EpochMillis = 0, acked: Bool = false) -> Alert {
        var a = Alert(id: Int64(subject.hashValue & 0xffff), rule: rule, subject: subject, severity: severity, state: state, since: since)
        a.unit = unit
        a.acknowledgedBy = acked ? "duty" : nil
        return a
    }

    /// By rule and unit (the default), the worst group first: severity, then how many
    /// fire, then how many; each group's members worst first, then newest.
    @Test func groupedByRuleAndUnitWorstFirst() {
        let alerts = [
            alert("fire", "ft-1", .warning, unit: "sin-ho", since: 10),
            alert("fire", "ft-2", .critical, unit: "sin-ho", since: 5, acked: true),
            alert("fire", "ft-3", .warning, unit: "sin-ho", state: "pending", since: 20),
            alert("fire", "ft-4", .warning, unit: "muong-te"),
            alert("fire", "ft-5", .warning, unit: "muong-te"),
            alert("flood", "hy-1", .info, unit: "sin-ho"),
            alert("coverage", "coverage.province", .warning, unit: nil),
        ]
        let groups = AlertGroup.group(alerts, by: AlertGroupLabel.defaults, in: Catalogue())
        #expect(groups.map { $0.labels.map(\.value) } == [["fire", "sin-ho"], ["fire", "muong-te"], ["coverage", nil], ["flood", "sin-ho"]])
        let first = groups[0]
        #expect(first.severity == .critical && first.alerts.count == 3 && first.firing == 2 && first.pending == 1)
        #expect(first.unacknowledged == 2 && first.since == 5)
        #expect(first.alerts.map(\.subject) == ["ft-2", "ft-3", "ft-1"])
        // By severity alone: three groups.
        #expect(AlertGroup.group(alerts, by: [.severity], in: Catalogue()).map { $0.labels[0].value } == ["critical", "warning", "info"])
        // A selector names a group; a nil value matches alerts without the label.
        #expect(alerts.filter { AlertGroup.member($0, of: [(.rule, "fire"), (.unit, "sin-ho")], in: Catalogue()) }.count == 3)
        #expect(alerts.filter { AlertGroup.member($0, of: [(.unit, nil)], in: Catalogue()) }.map(\.subject) == ["coverage.province"])
    }

    /// Grouped at a level the catalogue declares (the former districts), communes fold into
    /// their district; an alert stored before the reorganisation, carrying the former
    /// district itself, joins the same group; a unit in no group of the level has none.
    @Test func groupedAtADeclaredLevelWithOldAlerts() {
        let catalogue = Catalogue(
            units: [AdminUnit(id: "xa-sin-ho", type: .commune, groups: ["district": "sin-ho"]),
                    AdminUnit(id: "xa-pa-tan", type: .commune, groups: ["district": "sin-ho"]),
                    AdminUnit(id: "xa-mu-ca", type: .commune, groups: ["district": "muong-te"]),
                    AdminUnit(id: "xa-moi", type: .commune)],
            levels: [AdminLevel(id: "district", groups: [.init(id: "sin-ho"), .init(id: "muong-te")])])
        let alerts = [
            alert("fire", "ft-1", .warning, unit: "xa-sin-ho"),
            alert("fire", "ft-2", .warning, unit: "xa-pa-tan"),
            alert("fire", "ft-old", .warning, unit: "sin-ho"),     // stored with its former district
            alert("fire", "ft-3", .warning, unit: "xa-mu-ca"),
            alert("fire", "ft-4", .warning, unit: "xa-moi"),
        ]
        let district = try! #require(AlertGroupLabel("district", catalogue: catalogue))
        #expect(district == .level("district") && district.name == "district")
        let groups = AlertGroup.group(alerts, by: [district], in: catalogue)
        #expect(groups.map { $0.labels[0].value } == ["sin-ho", nil, "muong-te"])
        #expect(groups[0].alerts.map(\.subject).sorted() == ["ft-1", "ft-2", "ft-old"])
        #expect(alerts.filter { AlertGroup.member($0, of: [(district, "sin-ho")], in: catalogue) }.count == 3)
        // Without a declared `district` level, `district` means the units (older catalogues).
        #expect(AlertGroupLabel("district", catalogue: Catalogue()) == .unit)
        #expect(AlertGroupLabel("board", catalogue: catalogue) == nil)
    }

    /// Subjects are placed by the catalogue, a zone scope by its zone, a unit scope (or a
    /// stored district scope) by its id.
    @Test func placesOfSubjects() {
        let catalogue = Catalogue(zones: [Zone(id: "z1", kind: .forest, unit: "muong-te", areaHa: 1)],
                                  sensors: [SensorEntry(id: "ft-1", kind: .forest, unit: "sin-ho", zone: "z9", intervalMillis: 1)])
        #expect(AlertPlace.of(sensor: "ft-1", entry: catalogue.sensor("ft-1"), catalogue: catalogue) == ("sin-ho", "z9"))
        #expect(AlertPlace.of(sensor: "zone.z1", entry: nil, catalogue: catalogue) == ("muong-te", "z1"))
        #expect(AlertPlace.of(sensor: "unit.xa-than-uyen", entry: nil, catalogue: catalogue) == ("xa-than-uyen", nil))
        #expect(AlertPlace.of(sensor: "district.than-uyen", entry: nil, catalogue: catalogue) == ("than-uyen", nil))
        #expect(AlertPlace.of(sensor: "coverage.province", entry: nil, catalogue: catalogue) == (nil, nil))
    }

    /// After the move to units, restored alerts are brought along: one placed with its former
    /// district is placed again in its commune; one on a district scope (whose maxima are no
    /// longer derived, so it could never clear) is resolved on the first tick.
    @Test func restoredAlertsMoveToUnits() {
        let catalogue = Catalogue(
            sensors: [SensorEntry(id: "ft-1", kind: .forest, unit: "xa-pa-u", zone: "z1", intervalMillis: 600_000)],
            units: [AdminUnit(id: "xa-pa-u", type: .commune, groups: ["district": "muong-te"])],
            levels: [AdminLevel(id: "district", groups: [.init(id: "muong-te")])])
        let rule = Rule(name: "fire", severity: .warning, match: RuleMatch(metric: "fire_danger_level"), when: .atLeast(4))
        var old = Alert(id: 1, rule: "fire", subject: "ft-1:fire_danger_level", severity: .warning, state: "firing", since: 10)
        old.unit = "muong-te"
        var scope = Alert(id: 2, rule: "fire", subject: "district.muong-te:fire_danger_level", severity: .warning, state: "firing", since: 10)
        scope.unit = "muong-te"
        let e = AlertEngine(rules: [rule], catalogue: catalogue, restored: [old, scope], now: 100)
        #expect(e.liveAlerts.map(\.subject) == ["ft-1:fire_danger_level"])
        #expect(e.liveAlerts.first?.unit == "xa-pa-u" && e.liveAlerts.first?.zone == "z1")
        let events = e.tick(now: 200)
        #expect(events.map(\.action) == [.resolve] && events.first?.alert.subject == "district.muong-te:fire_danger_level")
        #expect(events.first?.alert.state == "resolved" && events.first?.alert.since == 200)
        #expect(e.tick(now: 300).isEmpty)
    }
}
