import Telemetry

/// Parameters of the derived series (`docs/domain.md`; YAML `derived:` and `province:`). The
/// defaults are the collector's own.
public struct DerivedConfig: Sendable {
    /// A local day with at least this much rain counts as a rainy day for flood risk.
    public var rainyDayMM = 10.0
    /// The province's natural-disaster region (khu vực 1-4 of Decision 18/2021; YAML
    /// `province.region`), for every index that depends on it; zones and stations may
    /// override it (a merged province can span two).
    public var provinceRegion = 1
    /// A table replacing Article 46's cases everywhere (nil: Article 46 for each region).
    public var floodRisk: FloodRiskTable?
    /// Per-zone tables replacing both.
    public var floodRiskZones: [String: FloodRiskTable] = [:]
    /// A meter is silent for outage detection after this many intervals.
    public var outageSilentIntervals: Int64 = 2

    public init() {}
}
