import Telemetry

/// Vietnam's air-quality index, VN_AQI (Decision 1459/QĐ-TCMT, 2019; docs/domain.md), for PM2.5
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

    /// The sub-index of one concentration, rounded half up to a whole number as the
    /// Decision's examples do (109.5 -> 110). At or above the last breakpoint the Decision's
    /// table gives 500, the top of its scale, and so does this (category 6, hazardous; the
    /// concentration itself is in the raw series). Below zero gives 0.
    public static func subIndex(_ p: Pollutant, _ c: Double) -> Double {
        let bp = p.breakpoints, ix = indexBreakpoints
        guard c > 0 else { return 0 }
        guard c < bp[bp.count - 1] else { return ix[ix.count - 1] }
        var i = 0
        while i < bp.count - 2 && c >= bp[i + 1] { i += 1 }
        let v = (ix[i + 1] - ix[i]) / (bp[i + 1] - bp[i]) * (c - bp[i]) + ix[i]
        return roundHalfUp(v)
    }

    /// Half up, after removing the binary representation's noise (109.49999999999999 is the
    /// 109.5 of decimal arithmetic): values are rounded to 1e-9 first.
    public static func roundHalfUp(_ v: Double) -> Double {
        ((v * 1e9).rounded() / 1e9 + 0.5).rounded(.down)
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

/// The 12-hour NowCast of complete hourly means. `hourly[0]` is the latest complete hour,
/// up to 12 entries, nil where an hour has no mean. w* = Cmin/Cmax, w = max(w*, 0.5),
/// NowCast = Σ w^(i−1)·cᵢ / Σ w^(i−1) over the hours present: a missing hour has weight 0
/// and the division is by the weights actually used, so a missing hour never halves the
/// value. (The Decision writes the w = 0.5 case as Σ 0.5^i·cᵢ with no division; with all 12
/// hours present that is within 0.03 % of this, and it reads half the true value when the
/// latest hour is missing.) Needs at least 2 of the latest 3 hours; nil otherwise.
public enum NowCast {
    public static func value(_ hourly: [Double?]) -> Double? {
        let h = Array(hourly.prefix(12))
        guard h.prefix(3).compactMap({ $0 }).count >= 2 else { return nil }
        let present = h.compactMap { $0 }
        guard let cmax = present.max(), let cmin = present.min() else { return nil }
        let w = cmax > 0 ? max(cmin / cmax, 0.5) : 1
        var num = 0.0, den = 0.0, f = 1.0
        for c in h {
            if let c {
                num += f * c
                den += f
            }
            f *= w
        }
        return num / den
    }
}

/// The air-quality state of one station, fed reading by reading (any order): hourly means
/// of PM2.5 and PM10 over the last 36 hours. The AQI of an hour is published once the hour
/// is complete, that is once a reading of a later hour has arrived (the hour in progress is
/// never used: one early spike would move it), and is stamped at that hour's start:
/// - hourly AQI: VN_AQI of each pollutant's NowCast over the 12 complete hours ending there;
/// - 24-hour AQI: VN_AQI of each pollutant's mean of the hourly means of the 24 hours ending
///   there, when at least `minDailyHours` of them have a mean (the Decision sets no minimum;
///   this is ours, so a day of two hours is not called a day).
public struct AirQualityTracker: Sendable {
    struct Hour: Sendable { var sum = 0.0; var count = 0 }
    private var hours: [VNAQI.Pollutant: [EpochMillis: Hour]] = [:]
    /// The start of the hour of the newest reading (in progress until a later one arrives).
    public private(set) var newestHour: EpochMillis = .min
    /// The last complete hour whose AQI was handed out by `takeCompleted`.
    private var reportedHour: EpochMillis = .min
    public static let minDailyHours = 18
    static let hourMillis: EpochMillis = 3_600_000

    public init() {}

    /// Adds a PM reading; returns false (and ignores it) for other metrics or readings more
    /// than 36 hours older than the newest.
    @discardableResult
    public mutating func record(metric: String, time: EpochMillis, value: Double) -> Bool {
        guard let p = VNAQI.Pollutant(rawValue: metric), value.isFinite else { return false }
        let hour = EpochMillis.floorDiv(time, Self.hourMillis) * Self.hourMillis
        guard newestHour == .min || hour > newestHour - 36 * Self.hourMillis else { return false }
        hours[p, default: [:]][hour, default: Hour()].sum += value
        hours[p, default: [:]][hour, default: Hour()].count += 1
        if hour > newestHour {
            newestHour = hour
            let cutoff = hour - 36 * Self.hourMillis
            for q in hours.keys { hours[q] = hours[q]?.filter { $0.key > cutoff } }
        }
        return true
    }

    /// The complete hours not handed out yet, oldest first, with their hourly and 24-hour AQI
    /// (nil without enough data). The first call after a start hands out the latest complete
    /// hour only (earlier ones were published before the restart, or are too old to matter);
    /// later calls each hour completed since, at most 24.
    public mutating func takeCompleted() -> [(hour: EpochMillis, hourly: Double?, daily: Double?)] {
        guard newestHour != .min else { return [] }
        let latest = newestHour - Self.hourMillis
        guard latest > reportedHour else { return [] }
        let first = reportedHour == .min ? latest : max(reportedHour + Self.hourMillis, latest - 23 * Self.hourMillis)
        reportedHour = latest
        return stride(from: first, through: latest, by: Int(Self.hourMillis)).map { h in
            (h, hourlyAQI(endingAt: h), dailyAQI(endingAt: h))
        }
    }

    /// Hourly means, latest first, for `count` hours ending at `hour`.
    public func hourlyMeans(_ p: VNAQI.Pollutant, endingAt hour: EpochMillis, count: Int = 12) -> [Double?] {
        let h = hours[p] ?? [:]
        return (0..<count).map { k in h[hour - Int64(k) * Self.hourMillis].map { $0.sum / Double($0.count) } }
    }

    /// The hourly AQI of the complete hour starting at `hour`; nil without enough recent hours.
    public func hourlyAQI(endingAt hour: EpochMillis) -> Double? {
        VNAQI.aqi(pm25: NowCast.value(hourlyMeans(.pm25, endingAt: hour)), pm10: NowCast.value(hourlyMeans(.pm10, endingAt: hour)))
    }

    /// The 24-hour AQI of the 24 hours ending with the one starting at `hour`: the mean of
    /// their hourly means, per pollutant; nil with fewer than `minDailyHours` of them.
    public func dailyAQI(endingAt hour: EpochMillis) -> Double? {
        func mean(_ p: VNAQI.Pollutant) -> Double? {
            let means = hourlyMeans(p, endingAt: hour, count: 24).compactMap { $0 }
            return means.count >= Self.minDailyHours ? means.reduce(0, +) / Double(means.count) : nil
        }
        return VNAQI.aqi(pm25: mean(.pm25), pm10: mean(.pm10))
    }
}
