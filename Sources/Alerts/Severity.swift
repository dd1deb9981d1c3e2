/// How urgent an alert is; also the second segment of its MQTT topic `alerts/<severity>/...`.
/// (The Alerts module is filled by the alerts issue: rules, alert state, derived indices, coverage.)
public enum Severity: String, Sendable, CaseIterable, Comparable {
    case info, warning, critical

    public static func < (a: Severity, b: Severity) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}
