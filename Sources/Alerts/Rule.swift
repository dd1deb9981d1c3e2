import Telemetry

/// An alert rule (`sensors/**/rules*.yaml`, README, "Alerts").
public struct Rule: Sendable, Equatable {
    public var name: String
    /// The severity of its alerts, unless `severityByValue` gives another for the value.
    public var severity: Severity
    /// Severity by value band (`severity_by_value`), ascending by `atLeast`: a value at least
    /// a band's bound takes the severity of the highest such band, so a risk level 1 can be
    /// `info` while level 3 is `critical`. Empty: always `severity`.
    public var severityByValue: [SeverityBand]
    public var match: RuleMatch
    public var when: Condition
    /// Hysteresis: the alert resolves when this holds (default: when `when` no longer holds).
    public var clear: Condition?
    /// How long `when` must hold before the alert fires (pending meanwhile).
    public var forMillis: Int64
    /// Text with `{value}`, `{sensor}`, `{metric}`, `{zone}`, `{unit}`, `{rule}`, and the
    /// display names `{sensor_name}`, `{zone_name}`, `{unit_name}`; a level the catalogue
    /// declares gives `{<level>}` and `{<level>_name}` (`{district_name}`); in English.
    public var summary: String
    /// The same in Vietnamese (`summary_vi`); empty: none.
    public var summaryVi: String

    public init(name: String, severity: Severity, severityByValue: [SeverityBand] = [], match: RuleMatch, when: Condition,
                clear: Condition? = nil, forMillis: Int64 = 0, summary: String = "", summaryVi: String = "") {
        self.name = name
        self.severity = severity
        self.severityByValue = severityByValue.sorted { $0.atLeast < $1.atLeast }
        self.match = match
        self.when = when
        self.clear = clear
        self.forMillis = forMillis
        self.summary = summary
        self.summaryVi = summaryVi
    }
}


extension Rule {
    /// The severity of an alert whose latest value is `value` (no value, as for a silence:
    /// `severity`).
    public func severity(for value: Double?) -> Severity {
        guard let value, !severityByValue.isEmpty else { return severity }
        return severityByValue.last { value >= $0.atLeast }?.severity ?? severity
    }
}

/// Which series a rule looks at; every given field must match.
public struct RuleMatch: Sendable, Equatable {
    public var kind: SensorKind?
    public var metric: String?
    public var sensor: String?
    public var zone: String?
    /// The units the subject must stand in: `unit: X`, or a group of a level (`district:
    /// tam-duong`) resolved to its units when the rules are loaded.
    public var units: Set<String>?

    public init(kind: SensorKind? = nil, metric: String? = nil, sensor: String? = nil, units: Set<String>? = nil, zone: String? = nil) {
        self.kind = kind
        self.metric = metric
        self.sensor = sensor
        self.units = units
        self.zone = zone
    }

    public func matches(_ series: SeriesName, _ entry: SensorEntry?) -> Bool {
        if let metric, metric != series.metric { return false }
        if let sensor, sensor != series.sensor { return false }
        if let kind, kind != entry?.kind { return false }
        if let units, !units.contains(entry?.unit ?? "") { return false }
        if let zone, zone != entry?.zone { return false }
        return true
    }
}

/// A condition on a series.
public enum Condition: Sendable, Equatable {
    case above(Double)
    case below(Double)
    case atLeast(Double)
    case atMost(Double)
    /// The value rose by more than `delta` within `perMillis`.
    case rateAbove(delta: Double, perMillis: Int64)
    /// The value fell by more than `delta` within `perMillis`.
    case rateBelow(delta: Double, perMillis: Int64)
    /// No reading for this long (`intervals`: a multiple of the sensor's catalogue interval).
    case silentFor(millis: Int64?, intervals: Double?)

    /// Whether the condition holds for the newest sample, given recent ones (oldest first).
    public func holds(_ latest: Sample, recent: [Sample]) -> Bool {
        switch self {
        case .above(let x): return latest.value > x
        case .below(let x): return latest.value < x
        case .atLeast(let x): return latest.value >= x
        case .atMost(let x): return latest.value <= x
        case .rateAbove(let d, let per): return Self.change(latest, recent, per).map { $0 > d } ?? false
        case .rateBelow(let d, let per): return Self.change(latest, recent, per).map { -$0 > d } ?? false
        case .silentFor: return false   // decided by time, see AlertEngine.tick
        }
    }

    /// Whether deciding needs the series' recent samples (rates do; thresholds do not).
    public var needsHistory: Bool {
        switch self {
        case .rateAbove, .rateBelow: true
        default: false
        }
    }

    public var isSilence: Bool {
        if case .silentFor = self { return true }
        return false
    }

    /// latest - (the oldest value within `per` before latest); nil without such a value.
    static func change(_ latest: Sample, _ recent: [Sample], _ per: Int64) -> Double? {
        guard let base = recent.first(where: { $0.time >= latest.time - per && $0.time < latest.time }) else { return nil }
        return latest.value - base.value
    }
}
