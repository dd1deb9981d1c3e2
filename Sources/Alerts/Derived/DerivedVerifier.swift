import Telemetry

/// Compares stored derived series with their recompute (`DerivedReplay`), for
/// `collector verify --derived`. How a series is compared follows how it is stamped:
/// - `points`: one value per input reading or per hour, at its time (congestion, AQI, energy
///   loss, ...): the stored points from the horizon on are exactly the recomputed ones;
/// - `settled`: a level stored when it changes, or a value "as of" several inputs (a 24 h
///   sum, fire danger): at each recomputed point, the stored value in force once that
///   reading time's commits are done (within `settle`, before the next point) is the
///   recomputed one. A commit split in two may store an intermediate value a millisecond
///   earlier; a restart may store an unchanged level again; neither is a difference.
/// Zone, unit and junction maxima of fire danger and congestion are `settled`: the maximum of
/// their members' values in force at each member's time (`DerivedSeries+Scopes`). Not
/// compared: a zone's or unit's flood level (its stations' levels also fall with the clock,
/// which a replay does not run) and the meters' silence (clock-driven).
public struct DerivedVerifier {
    public enum Comparison: Sendable { case points, settled }

    /// How a stored settled value may lag its reading time (commits of one reading time).
    public static let settle: EpochMillis = 1000
    /// How a province-wide scope computed apart from its members (`recomputeScopes`) may lag
    /// the replay: a member value leaving its window is noticed at the next stored member
    /// value, at most a level heartbeat after the next computed one.
    public static let provinceLag: EpochMillis = DerivedSeries.levelHeartbeat

    /// How `name` is compared; nil for series that are not (see the type's doc).
    public static func comparison(of name: SeriesName) -> Comparison? {
        for prefix in ["zone.", "unit.", "junction."] where name.sensor.hasPrefix(prefix) {
            return ["fire_danger_p", "fire_danger_level", "congestion"].contains(name.metric) ? .settled : nil
        }
        if name.sensor.hasPrefix("district.") { return nil }   // (a former name of `unit.`)
        switch name.metric {
        case "congestion", "travel_time_index", "level_rise_m_h", "aqi", "aqi_24h", "energy_loss_pct", "feeder_meter_fault",
             "nrw_pct", "inflow_m3", "inflow_meter_fault", "min_night_flow_m3h", "night_flow_rise_pct", "night_flow_rising_nights":
            return .points
        case "water_alarm_level", "rain_24h_mm", "flood_risk_level", "fire_danger_p", "fire_danger_level":
            return .settled
        default:
            return nil
        }
    }

    public struct Report: Sendable {
        public var series = 0
        public var points = 0
        public var mismatchCount = 0
        /// The first mismatches, described.
        public var mismatches: [String] = []
        public var isExact: Bool { mismatchCount == 0 }
        public init() {}
    }

    public let maxReported: Int
    public private(set) var report = Report()

    public init(maxReported: Int) { self.maxReported = maxReported }

    /// Compares one series: `recomputed` from the horizon on, `stored` from at least a level
    /// heartbeat before it (a level in force at the horizon), both oldest first.
    /// `settle`: how long after a recomputed point the stored value may take to agree (a
    /// province-wide scope computed apart from its members: `provinceLag`).
    public mutating func compare(_ name: SeriesName, recomputed: [Sample], stored: [Sample], from horizon: EpochMillis,
                                 settle: EpochMillis = DerivedVerifier.settle) {
        guard let how = Self.comparison(of: name) else { return }
        report.series += 1
        switch how {
        case .points:
            var byTime: [EpochMillis: Double] = [:]
            for s in stored where s.time >= horizon { byTime[s.time] = s.value }
            for r in recomputed {
                report.points += 1
                switch byTime.removeValue(forKey: r.time) {
                case nil: mismatch("\(name) at \(r.time): missing, recomputed \(r.value)")
                case let v? where v != r.value: mismatch("\(name) at \(r.time): stored \(v), recomputed \(r.value)")
                default: break
                }
            }
            for (t, v) in byTime.sorted(by: { $0.key < $1.key }) { mismatch("\(name) at \(t): stored \(v), not recomputed") }
        case .settled:
            var j = 0
            var inForce: Sample?
            for (i, r) in recomputed.enumerated() {
                report.points += 1
                let next = i + 1 < recomputed.count ? recomputed[i + 1].time : .max
                let at = min(r.time + settle, next - 1)
                while j < stored.count && stored[j].time <= at { inForce = stored[j]; j += 1 }
                guard let s = inForce, s.value == r.value else {
                    mismatch("\(name) at \(r.time): stored \(inForce.map { "\($0.value) (since \($0.time))" } ?? "nothing"), recomputed \(r.value)")
                    continue
                }
            }
        }
    }

    private mutating func mismatch(_ text: String) {
        report.mismatchCount += 1
        if report.mismatches.count < maxReported { report.mismatches.append(text) }
    }
}
