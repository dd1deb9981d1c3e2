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
    /// A rain gauge with no reading arriving for this long (and two of its intervals) has
    /// its 24 h sum moved by the clock (YAML `derived.rain_quiet_after`).
    public var rainQuietAfterMillis: EpochMillis = 600_000
    /// A meter is silent for outage detection after this many intervals.
    public var outageSilentIntervals: Int64 = 2

    public init() {}

    /// Where a station stands for its flood-risk level: the susceptibility of its zone, else
    /// its own (nil when neither says), and the region of its zone, else its own, else the
    /// province's.
    public func floodArea(of entry: SensorEntry?, in catalogue: Catalogue) -> (susceptibility: Susceptibility?, region: Int) {
        let zone = entry?.zone.flatMap { catalogue.zone($0) }
        return (zone?.susceptibility ?? entry?.susceptibility, zone?.region ?? entry?.region ?? provinceRegion)
    }

    /// The configured cases for a station: its zone's table, else the one for all; nil when
    /// none is configured (Article 46's cases for its region apply).
    public func configuredFloodRisk(for entry: SensorEntry?) -> FloodRiskTable? {
        entry?.zone.flatMap { floodRiskZones[$0] } ?? floodRisk
    }
}
