import Telemetry

/// A label alerts are grouped by, as Alertmanager groups them: by default the rule and the
/// unit, so a storm of 37 fire-danger alerts in four communes reads as four lines; or by a
/// level the catalogue declares (`district`: the former districts).
public enum AlertGroupLabel: Sendable, Hashable {
    case rule, unit, zone, severity
    /// A grouping of units the catalogue declares; the value is the unit's group.
    case level(String)

    /// The default grouping: one group per rule and unit.
    public static let defaults: [AlertGroupLabel] = [.rule, .unit]

    /// The label a query names: rule, unit, zone, severity, or a level of `catalogue`
    /// (`district` in a catalogue without that level means its units).
    public init?(_ name: String, catalogue: Catalogue) {
        switch name {
        case "rule": self = .rule
        case "zone": self = .zone
        case "severity": self = .severity
        default:
            guard let level = catalogue.level(named: name) else { return nil }
            self = level == Catalogue.unitLevel ? .unit : .level(level)
        }
    }

    /// How it is written in queries and answers.
    public var name: String {
        switch self {
        case .rule: "rule"
        case .unit: "unit"
        case .zone: "zone"
        case .severity: "severity"
        case .level(let l): l
        }
    }

    /// The alert's value of this label (nil: it has none, e.g. a province-wide alert's unit).
    public func value(of a: Alert, in catalogue: Catalogue) -> String? {
        switch self {
        case .rule: a.rule
        case .unit: a.unit
        case .zone: a.zone
        case .severity: a.severity.rawValue
        case .level(let l): a.unit.flatMap { catalogue.place($0, at: l) }
        }
    }
}
