import Foundation
import Telemetry

/// A flash-flood and landslide risk table (DOMAIN.md, after Decision 18/2021/QĐ-TTg): a list
/// of rows "at least this much rain in 24 h after at least this many earlier rainy days gives
/// this level"; the level is the highest row that holds, 0 when none does.
public struct FloodRiskTable: Sendable, Equatable {
    public struct Row: Sendable, Equatable {
        public var rain24hMM: Double
        public var earlierDays: Int
        public var level: Int

        public init(rain24hMM: Double, earlierDays: Int, level: Int) {
            self.rain24hMM = rain24hMM
            self.earlierDays = earlierDays
            self.level = level
        }
    }

    public var rows: [Row]

    public init(rows: [Row]) { self.rows = rows }

    /// The collector's defaults for Lai Châu (Region 1 of the Decision, low and medium
    /// susceptibility): level 1 starts at 100 mm in 24 h after 1–2 days of earlier rain.
    /// The higher rows are the collector's own choice, documented in the README; override
    /// them in config (`flood_risk`), per zone where susceptibility is high.
    public static let defaults = FloodRiskTable(rows: [
        Row(rain24hMM: 100, earlierDays: 1, level: 1),
        Row(rain24hMM: 200, earlierDays: 1, level: 2),
        Row(rain24hMM: 100, earlierDays: 3, level: 2),
        Row(rain24hMM: 300, earlierDays: 1, level: 3),
        Row(rain24hMM: 200, earlierDays: 3, level: 3),
        Row(rain24hMM: 400, earlierDays: 3, level: 4),
        Row(rain24hMM: 500, earlierDays: 3, level: 5),
    ])

    public func level(rain24hMM: Double, earlierDays: Int) -> Int {
        rows.reduce(0) { best, r in
            rain24hMM >= r.rain24hMM && earlierDays >= r.earlierDays ? max(best, r.level) : best
        }
    }
}

/// Daily rain totals of one station by local day, for counting the rainy days before a
/// 24-hour window. Fed reading by reading in any order; keeps the last `maxDays` days.
public struct RainyDays: Sendable {
    public let rainyDayMM: Double
    public let maxDays: Int
    private var days: LocalDays
    private var totals: [EpochMillis: Double] = [:]
    private var newestDay: EpochMillis = .min

    public init(rainyDayMM: Double = 10, timeZone: TimeZone, maxDays: Int = 10) {
        self.rainyDayMM = rainyDayMM
        self.maxDays = maxDays
        days = LocalDays(timeZone: timeZone)
    }

    /// The start of the local day holding `t`.
    public func dayStart(_ t: EpochMillis) -> EpochMillis { days.lookup(t).start }

    private func previousDay(_ day: EpochMillis) -> EpochMillis {
        dayStart(day - 3_600_000)
    }

    public mutating func add(time: EpochMillis, mm: Double) {
        let day = days.day(containing: time).start   // moves the day table here for `earlierDays`
        if day > newestDay {
            newestDay = day
            let cutoff = day - Int64(maxDays + 1) * 86_400_000
            totals = totals.filter { $0.key > cutoff }
        } else if newestDay != .min && day <= newestDay - Int64(maxDays + 1) * 86_400_000 {
            return
        }
        totals[day, default: 0] += mm
    }

    /// Consecutive rainy days (≥ `rainyDayMM`) before the 24-hour window ending at `t`: counted
    /// back from the local day before the one holding `t − 24 h`, so the window's own rain is
    /// never counted twice.
    public func earlierDays(before t: EpochMillis) -> Int {
        var day = previousDay(dayStart(t - 86_400_000))
        var n = 0
        while n < maxDays, (totals[day] ?? 0) >= rainyDayMM {
            n += 1
            day = previousDay(day)
        }
        return n
    }
}
