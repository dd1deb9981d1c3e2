import Telemetry

/// Vietnam's air-quality index, VN_AQI (Decision 1459/QĐ-TCMT, 2019; DOMAIN.md), for PM2.5
/// and PM10: each sub-index is linear between breakpoints; the AQI is the larger one.
public enum VNAQI {
    public enum Pollutant: String, Sendable, CaseIterable {
        case pm25 = "pm25_ugm3"
        case pm10 = "pm10_ugm3"

        /// Concentration breakpoints (µg/m³) matching `VNAQI.indexBreakpoints`.
        public var breakpoints: [Double] {
            switch self {
            case .pm25: [0, 25, 50, 80, 150, 250, 350, 500]
            case .pm10: [0, 50, 150, 250, 350, 420, 500, 600]
            }
        }
    }

    public static let indexBreakpoints: [Double] = [0, 50, 100, 150, 200, 300, 400, 500]

    /// The sub-index of one concentration, rounded to a whole number as the Decision publishes
    /// it. Above the last breakpoint the last segment is extended (the index keeps rising past
    /// 500 rather than hiding how bad it is); below zero gives 0.
    public static func subIndex(_ p: Pollutant, _ c: Double) -> Double {
        let bp = p.breakpoints, ix = indexBreakpoints
        guard c > 0 else { return 0 }
        var i = 0
        while i < bp.count - 2 && c >= bp[i + 1] { i += 1 }
        let v = (ix[i + 1] - ix[i]) / (bp[i + 1] - bp[i]) * (c - bp[i]) + ix[i]
        return v.rounded()
    }

    /// The AQI: the maximum sub-index; nil when neither PM2.5 nor PM10 is known.
    public static func aqi(pm25: Double?, pm10: Double?) -> Double? {
        let subs = [pm25.map { subIndex(.pm25, $0) }, pm10.map { subIndex(.pm10, $0) }].compactMap { $0 }
        return subs.max()
    }

    /// Category 1–6: good, moderate, poor, bad, very bad, hazardous.
    public static func category(_ aqi: Double) -> Int {
        switch aqi {
        case ...50: 1
        case ...100: 2
        case ...150: 3
        case ...200: 4
        case ...300: 5
        default: 6
        }
    }
}

/// The 12-hour NowCast of hourly means (DOMAIN.md). `hourly[0]` is the latest hour, up to 12
/// entries, nil where an hour has no reading. w* = Cmin/Cmax, w = max(w*, 0.5);
/// w > 0.5: Σ w^(i−1)·cᵢ / Σ w^(i−1); w = 0.5: Σ 0.5^i·cᵢ (missing hours contribute
/// nothing). Needs at least 2 of the latest 3 hours; nil otherwise.
public enum NowCast {
    public static func value(_ hourly: [Double?]) -> Double? {
        let h = Array(hourly.prefix(12))
        guard h.prefix(3).compactMap({ $0 }).count >= 2 else { return nil }
        let present = h.compactMap { $0 }
        guard let cmax = present.max(), let cmin = present.min() else { return nil }
        let w = cmax > 0 ? max(cmin / cmax, 0.5) : 1
        var num = 0.0, den = 0.0
        for (k, c) in h.enumerated() {
            guard let c else { continue }
            if w > 0.5 {
                let f = pow(w, k)
                num += f * c
                den += f
            } else {
                num += pow(0.5, k + 1) * c
            }
        }
        return w > 0.5 ? num / den : num
    }

    private static func pow(_ x: Double, _ n: Int) -> Double {
        var r = 1.0
        for _ in 0..<n { r *= x }
        return r
    }
}

/// The air-quality state of one station, fed reading by reading (any order): hourly means
/// of PM2.5 and PM10 over the last 24 hours, from which the hourly AQI (by NowCast) and the
/// 24-hour AQI are computed for the hour of the newest reading.
public struct AirQualityTracker: Sendable {
    struct Hour: Sendable { var sum = 0.0; var count = 0 }
    private var hours: [VNAQI.Pollutant: [EpochMillis: Hour]] = [:]
    public private(set) var newestHour: EpochMillis = .min

    public init() {}

    /// Adds a PM reading; returns false (and ignores it) for other metrics or readings more
    /// than 24 hours older than the newest.
    @discardableResult
    public mutating func record(metric: String, time: EpochMillis, value: Double) -> Bool {
        guard let p = VNAQI.Pollutant(rawValue: metric), value.isFinite else { return false }
        let hour = time - ((time % 3_600_000) + 3_600_000) % 3_600_000
        guard newestHour == .min || hour > newestHour - 24 * 3_600_000 else { return false }
        hours[p, default: [:]][hour, default: Hour()].sum += value
        hours[p, default: [:]][hour, default: Hour()].count += 1
        if hour > newestHour {
            newestHour = hour
            let cutoff = hour - 24 * 3_600_000
            for q in hours.keys { hours[q] = hours[q]?.filter { $0.key > cutoff } }
        }
        return true
    }

    /// Hourly means, latest first, for `count` hours ending at the newest hour.
    public func hourlyMeans(_ p: VNAQI.Pollutant, count: Int = 12) -> [Double?] {
        let h = hours[p] ?? [:]
        return (0..<count).map { k in h[newestHour - Int64(k) * 3_600_000].map { $0.sum / Double($0.count) } }
    }

    /// The hourly AQI: VN_AQI of each pollutant's NowCast; nil without enough recent hours.
    public var hourlyAQI: Double? {
        VNAQI.aqi(pm25: NowCast.value(hourlyMeans(.pm25)), pm10: NowCast.value(hourlyMeans(.pm10)))
    }

    /// The 24-hour AQI: VN_AQI of each pollutant's mean over the 24 hours ending with the
    /// newest hour (mean of the readings).
    public var dailyAQI: Double? {
        func mean(_ p: VNAQI.Pollutant) -> Double? {
            let h = (hours[p] ?? [:]).values
            let n = h.reduce(0) { $0 + $1.count }
            return n == 0 ? nil : h.reduce(0) { $0 + $1.sum } / Double(n)
        }
        return VNAQI.aqi(pm25: mean(.pm25), pm10: mean(.pm10))
    }
}
