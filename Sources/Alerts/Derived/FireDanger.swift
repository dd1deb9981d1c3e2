import Foundation
import Telemetry

/// Vietnamese forest-fire danger, the composite index P (docs/domain.md):
/// each day, from the readings nearest 13:00 local, t13 (°C) and the saturation deficit
/// d13 = E(t13) · (1 − RH13/100) hPa, with E(t) = 6.1078 · exp(17.27 t / (t + 237.3));
/// P = Σ t13 · d13 over the days since the last day with ≥ 5 mm of rain (that day: 0).
public enum FireDanger {
    /// Rain that resets P (mm in one day).
    public static let resetRainMM = 5.0

    /// Saturation vapour pressure over water, hPa (the Magnus formula of docs/domain.md).
    public static func saturationPressure(_ tC: Double) -> Double {
        6.1078 * exp(17.27 * tC / (tC + 237.3))
    }

    /// One day's contribution t13 · d13.
    public static func contribution(t13: Double, rh13: Double) -> Double {
        let d13 = saturationPressure(t13) * (1 - min(max(rh13, 0), 100) / 100)
        return max(0, t13 * d13)
    }

    /// Levels I–V: P ≤ 1000 · ≤ 2500 · ≤ 5000 · ≤ 10000 (dangerous) · above (extremely dangerous).
    public static func level(_ p: Double) -> Int {
        switch p {
        case ...1000: 1
        case ...2500: 2
        case ...5000: 3
        case ...10000: 4
        default: 5
        }
    }
}

/// The fire-danger state of one forest station, fed reading by reading (any order).
///
/// A day's t13 and RH13 are its readings nearest 13:00 local within `window` of it (11:00 to
/// 15:00): a day with readings only outside the window adds nothing to P (it is not a known
/// dry day), rather than using a night reading as if it were the afternoon's. Of two readings
/// equally near 13:00, the earlier one counts, whatever order they arrived in.
///
/// The last `maxDays` local days are kept in detail (late readings within them still count);
/// an older day is folded into the base index when it leaves, so P has no cap: a dry spell
/// of 200 days keeps growing for 200 days.
public struct FireDangerTracker: Sendable {
    struct Day: Sendable {
        var t13: Double?
        var tTime: EpochMillis = .max
        var tDistance: Int64 = .max
        var rh13: Double?
        var rhTime: EpochMillis = .max
        var rhDistance: Int64 = .max
        var rainMM = 0.0
    }

    /// Days kept in detail.
    public static let maxDays = 120
    /// How far from 13:00 local a reading may be and still stand for the day's afternoon.
    public static let window: Int64 = 2 * 3_600_000
    private var days: [EpochMillis: Day] = [:]
    /// The keys of `days` in order (a station keeps up to `maxDays` of them: not sorted again
    /// for every index, nor searched for the oldest at every reading).
    private var order: [EpochMillis] = []
    private var localDays: LocalDays
    /// P at the end of the day before `baseDay` (from storage after a restart).
    private var baseP = 0.0
    private var baseDay: EpochMillis = .min
    /// The newest local day with a reading.
    private var newestDay: EpochMillis = .min

    public init(timeZone: TimeZone) {
        localDays = LocalDays(timeZone: timeZone)
    }

    /// The start of the local day containing `t`.
    public mutating func dayStart(_ t: EpochMillis) -> EpochMillis { localDays.day(containing: t).start }

    /// Continues from a stored P: `p` was the index at the end of the day before `day`.
    public mutating func seed(p: Double, before day: EpochMillis) {
        baseP = p
        baseDay = day
    }

    /// Feeds a reading of `temp_c`, `rh_pct` or `rain_mm` (others are ignored); returns the
    /// start of the local day it belongs to, or nil when it does not concern the index (another
    /// metric, or a day already folded into the base).
    @discardableResult
    public mutating func record(metric: String, time: EpochMillis, value: Double) -> EpochMillis? {
        let day = localDays.day(containing: time).start
        guard day >= baseDay else { return nil }
        let distance = abs(time - (day + 13 * 3_600_000))
        var d = days[day] ?? Day()
        // Nearer 13:00, or as near and earlier: the reading that stands for the afternoon.
        switch metric {
        case "temp_c":
            guard distance <= Self.window, (distance, time) < (d.tDistance, d.tTime) else { return day }
            d.t13 = value
            d.tDistance = distance
            d.tTime = time
        case "rh_pct":
            guard distance <= Self.window, (distance, time) < (d.rhDistance, d.rhTime) else { return day }
            d.rh13 = value
            d.rhDistance = distance
            d.rhTime = time
        case "rain_mm":
            d.rainMM += value
        default:
            return nil
        }
        if days.updateValue(d, forKey: day) == nil { order.insert(day, at: order.firstIndex(notBefore: day) { $0 }) }
        // Days more than `maxDays` before the newest are folded into the base, oldest first:
        // P at the end of each carries on. (By age, not by count: a late reading for a gap
        // day inside the last `maxDays` days stays there for its other inputs.)
        if day > newestDay { newestDay = day }
        let horizon = newestDay - Int64(Self.maxDays) * 86_400_000
        while let oldest = order.first, oldest < horizon {
            baseP = p(on: oldest)
            baseDay = oldest + 1
            days[oldest] = nil
            order.removeFirst()
        }
        return day
    }

    /// P at the end of `day` (with what is known so far), from the base and the days kept.
    /// Each day's P is rounded to 0.1, the precision it is stored at: a tracker seeded from
    /// the stored P after a restart then carries on exactly as one that never stopped (`collector
    /// verify` compares them).
    public func p(on day: EpochMillis) -> Double {
        var p = day >= baseDay ? baseP : 0
        for start in order where start >= baseDay {
            if start > day { break }
            let d = days[start]!
            if d.rainMM >= FireDanger.resetRainMM {
                p = 0
            } else if let t = d.t13, let rh = d.rh13 {
                p = ((p + FireDanger.contribution(t13: t, rh13: rh)) * 10).rounded() / 10
            }
        }
        return p
    }
}
