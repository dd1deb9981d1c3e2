/// A rollup resolution. 1m, 15m and 1h buckets align to the epoch in UTC; 1d buckets start
/// at local midnight in the configured time zone.
public enum Tier: Int, CaseIterable, Sendable, CustomStringConvertible {
    case minute = 0, quarterHour, hour, day

    /// Bucket width in milliseconds (for `day`, the nominal 24 h; real days may differ by DST).
    public var widthMillis: Int64 {
        switch self {
        case .minute: 60_000
        case .quarterHour: 900_000
        case .hour: 3_600_000
        case .day: 86_400_000
        }
    }

    /// The `step` spelling used by the API: 1m, 15m, 1h, 1d.
    public var description: String {
        switch self {
        case .minute: "1m"
        case .quarterHour: "15m"
        case .hour: "1h"
        case .day: "1d"
        }
    }

    /// SQLite table holding this tier's rows.
    var table: String {
        switch self {
        case .minute: "rollup_1m"
        case .quarterHour: "rollup_15m"
        case .hour: "rollup_1h"
        case .day: "rollup_1d"
        }
    }
}

extension Tier {
    /// The bucket of this tier that holds `t`, `[start, end)`: epoch-aligned for 1m, 15m and
    /// 1h, the local day from `days` for 1d. (The downsampler's hot path keeps its own,
    /// cached, lookups.)
    public func bucket(containing t: EpochMillis, days: LocalDays) -> (start: EpochMillis, end: EpochMillis) {
        if self == .day { return days.lookup(t) }
        let start = EpochMillis.floorDiv(t, widthMillis) * widthMillis
        return (start, start + widthMillis)
    }

    /// Where the readings of the buckets that start before `to` end: the end of the bucket
    /// holding `to - 1` (`.max` for a `to` at the end of time).
    public func readingsEnd(ofBucketsBefore to: EpochMillis, days: LocalDays) -> EpochMillis {
        to > EpochMillis.max - 2 * 86_400_000 ? .max : bucket(containing: to - 1, days: days).end
    }
}
