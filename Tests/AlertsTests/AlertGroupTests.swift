import Alerts
import Testing
import Telemetry

@Suite struct AlertGroupTests {
    func alert(_ rule: String, _ subject: String, _ severity: Severity, district: String?, state: String = "firing",
               since: EpochMillis = 0, acked: Bool = false) -> Alert {
        var a = Alert(id: Int64(subject.hashValue & 0xffff), rule: rule, subject: subject, severity: severity, state: state, since: since)
        a.district = district
        a.acknowledgedBy = acked ? "duty" : nil
        return a
    }

    /// By rule and district (the default), the worst group first: severity, then how many
    /// fire, then how many; each group's members worst first, then newest.
    @Test func groupedByRuleAndDistrictWorstFirst() {
        let alerts = [
            alert("fire", "ft-1", .warning, district: "sin-ho", since: 10),
            alert("fire", "ft-2", .critical, district: "sin-ho", since: 5, acked: true),
            alert("fire", "ft-3", .warning, district: "sin-ho", state: "pending", since: 20),
            alert("fire", "ft-4", .warning, district: "muong-te"),
            alert("fire", "ft-5", .warning, district: "muong-te"),
            alert("flood", "hy-1", .info, district: "sin-ho"),
            alert("coverage", "coverage.province", .warning, district: nil),
        ]
        let groups = AlertGroup.group(alerts, by: AlertGroupLabel.defaults)
        #expect(groups.map { $0.labels.map(\.value) } == [["fire", "sin-ho"], ["fire", "muong-te"], ["coverage", nil], ["flood", "sin-ho"]])
        let first = groups[0]
        #expect(first.severity == .critical && first.alerts.count == 3 && first.firing == 2 && first.pending == 1)
        #expect(first.unacknowledged == 2 && first.since == 5)
        #expect(first.alerts.map(\.subject) == ["ft-2", "ft-3", "ft-1"])
        // By severity alone: three groups.
        #expect(AlertGroup.group(alerts, by: [.severity]).map { $0.labels[0].value } == ["critical", "warning", "info"])
        // A selector names a group; a nil value matches alerts without the label.
        #expect(alerts.filter { AlertGroup.member($0, of: [(.rule, "fire"), (.district, "sin-ho")]) }.count == 3)
        #expect(alerts.filter { AlertGroup.member($0, of: [(.district, nil)]) }.map(\.subject) == ["coverage.province"])
    }

    /// Subjects are placed by the catalogue, a zone scope by its zone, a district scope by its name.
    @Test func placesOfSubjects() {
        let catalogue = Catalogue(zones: [Zone(id: "z1", kind: .forest, district: "muong-te", areaHa: 1)],
                                  sensors: [SensorEntry(id: "ft-1", kind: .forest, district: "sin-ho", zone: "z9", intervalMillis: 1)])
        #expect(AlertPlace.of(sensor: "ft-1", entry: catalogue.sensor("ft-1"), catalogue: catalogue) == ("sin-ho", "z9"))
        #expect(AlertPlace.of(sensor: "zone.z1", entry: nil, catalogue: catalogue) == ("muong-te", "z1"))
        #expect(AlertPlace.of(sensor: "district.than-uyen", entry: nil, catalogue: catalogue) == ("than-uyen", nil))
        #expect(AlertPlace.of(sensor: "coverage.province", entry: nil, catalogue: catalogue) == (nil, nil))
    }
}
