import Foundation

/// How a query `step` is answered from the stored tiers: the largest tier whose width
/// divides the step, merged into buckets of the step. `1m|15m|1h|1d` map to a tier directly;
/// `5m`, `30m`, `6h` and `7d` are merged from 1m, 15m, 1h and 1d. Minute and hour steps
/// align to the epoch (UTC); day steps to local midnight, counting days from 1970-01-01 local.
public struct StepPlan: Sendable, Equatable {
    public let tier: Tier
    public let stepMillis: Int64
    /// For day steps: how many days per bucket.
    public let days: Int

    public init?(step: String) {
        guard let ms = Self.millis(step), ms > 0 else { return nil }
        stepMillis = ms
        if ms % 86_400_000 == 0 { tier = .day; days = Int(ms / 86_400_000); return }
        days = 0
        if ms % 3_600_000 == 0 { tier = .hour }
        else if ms % 900_000 == 0 { tier = .quarterHour }
        else if ms % 60_000 == 0 { tier = .minute }
        else { return nil }
    }

    /// `30s`-free durations: `Nm`, `Nh`, `Nd`, `Nw`.
    static func millis(_ s: String) -> Int64? {
        guard let unit = s.last, let n = Int64(s.dropLast()), n > 0, n <= 100_000 else { return nil }
        switch unit {
        case "m": return n * 60_000
        case "h": return n * 3_600_000
        case "d": return n * 86_400_000
        case "w": return n * 604_800_000
        default: return nil
        }
    }

    /// The step's bucket start for a tier row starting at `t`.
    public func bucket(_ t: EpochMillis, timeZone: TimeZone) -> EpochMillis {
        guard tier == .day else { return EpochMillis.floorDiv(t, stepMillis) * stepMillis }
        if days == 1 { return t }
        let offset = EpochMillis(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(t) / 1000))) * 1000
        let dayNumber = EpochMillis.floorDiv(t + offset, 86_400_000)
        let first = EpochMillis.floorDiv(dayNumber, EpochMillis(days)) * EpochMillis(days)
        return t - (dayNumber - first) * 86_400_000   // ignores a DST change inside the bucket
    }

    /// Rough number of buckets in a range (for bounds checks).
    public func count(from: EpochMillis, to: EpochMillis) -> Int64 { (to - from) / stepMillis + 1 }
}
