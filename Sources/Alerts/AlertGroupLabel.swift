import Telemetry

/// A label alerts are grouped by, as Alertmanager groups them: by default the rule and the
/// district, so a storm of 37 fire-danger alerts in four districts reads as four lines.
public enum AlertGroupLabel: String, Sendable, CaseIterable {
    case rule, district, zone, severity

    /// The default grouping: one group per rule and district.
    public static let defaults: [AlertGroupLabel] = [.rule, .district]

    /// The alert's value of this label (nil: it has none, e.g. a province-wide alert's district).
    public func value(of a: Alert) -> String? {
        switch self {
        case .rule: a.rule
        case .district: a.district
        case .zone: a.zone
        case .severity: a.severity.rawValue
        }
    }
}
