import Foundation
import Telemetry

/// The risk level of flash floods and landslides from rain (Decision 18/2021/QĐ-TTg, Article
/// 46; `docs/domain.md`): a list of cases "at least this much rain in 24 h (or more than
/// this much), after at least this many earlier rainy days, in an area at least this
/// susceptible, gives this level". The level is the highest case that holds; 0 when none.
///
/// Reading a case as "at least" on every axis fills the article's gaps so that the level
/// never falls while the rain, the earlier rainy days or the susceptibility rise: 200-400 mm
/// after only 1-2 days gets at least the level of 100-200 mm after 1-2 days; a high area at
/// least that of a medium one. The article's upper bounds ("đến 200 mm") become the next
/// case's lower bound.
public struct FloodRiskTable: Sendable, Equatable {
    public struct Case: Sendable, Equatable {
        /// Rain in the last 24 h, mm: at least this (`từ`), or more than it when `strictlyAbove` (`trên`).
        public var rain24hMM: Double
        public var strictlyAbove: Bool
        /// At least this many earlier rainy days.
        public var earlierDays: Int
        /// This susceptibility and every higher one.
        public var susceptibility: Susceptibility
        public var level: Int

        public init(rain24hMM: Double, strictlyAbove: Bool = false, earlierDays: Int, susceptibility: Susceptibility = .low, level: Int) {
            self.rain24hMM = rain24hMM
            self.strictlyAbove = strictlyAbove
            self.earlierDays = earlierDays
            self.susceptibility = susceptibility
            self.level = level
        }

        func holds(rain: Double, days: Int, area: Susceptibility) -> Bool {
            (strictlyAbove ? rain > rain24hMM : rain >= rain24hMM) && days >= earlierDays && area >= susceptibility
        }
    }

    public var cases: [Case]

    public init(cases: [Case]) { self.cases = cases }

    public func level(rain24hMM: Double, earlierDays: Int, susceptibility: Susceptibility) -> Int {
        cases.reduce(0) { best, c in c.holds(rain: rain24hMM, days: earlierDays, area: susceptibility) ? max(best, c.level) : best }
    }

    /// Whether the table has cases for every level 1-3 (the built-in tables of regions 2-4
    /// have level 1 only: see `article46`).
    public var coversEveryLevel: Bool { Set(cases.map(\.level)).isSuperset(of: [1, 2, 3]) }

    /// The susceptibility a station gets when neither its zone nor itself has one.
    public static let defaultSusceptibility = Susceptibility.medium

    /// Article 46's cases for a region (khu vực) 1-4. The bands: 100-200 mm in 24 h after 1-2
    /// earlier rainy days; over 200 up to 400 mm after more than 2; over 400 mm after more
    /// than 2. Region 1 (Lai Châu, Điện Biên, Sơn La, Lào Cai, Yên Bái, Hà Giang, Hòa Bình) is
    /// complete (levels 1-3). For regions 2-4 the text we have gives level 1 only; their
    /// levels 2 and 3 are not built in, and `collector check` says so: configure
    /// `derived.flood_risk` with them.
    public static func article46(region: Int) -> FloodRiskTable {
        let a = 100.0, b = 200.0, c = 400.0
        func caseA(_ s: Susceptibility, _ l: Int) -> Case { Case(rain24hMM: a, earlierDays: 1, susceptibility: s, level: l) }
        func caseB(_ s: Susceptibility, _ l: Int) -> Case { Case(rain24hMM: b, strictlyAbove: true, earlierDays: 3, susceptibility: s, level: l) }
        func caseC(_ s: Susceptibility, _ l: Int) -> Case { Case(rain24hMM: c, strictlyAbove: true, earlierDays: 3, susceptibility: s, level: l) }
        switch region {
        case 2:
            return FloodRiskTable(cases: [caseA(.medium, 1), caseB(.low, 1)])
        case 3:
            return FloodRiskTable(cases: [caseA(.high, 1), caseB(.medium, 1), caseC(.low, 1)])
        case 4:
            return FloodRiskTable(cases: [caseA(.high, 1), caseB(.high, 1), caseC(.medium, 1)])
        default:
            return FloodRiskTable(cases: [
                caseA(.low, 1), caseB(.low, 1),                     // level 1: low or medium; low
                caseA(.high, 2), caseB(.medium, 2), caseC(.low, 2), // level 2: high; medium; low and medium
                caseA(.veryHigh, 3), caseB(.high, 3),               // level 3: very high; high and very high
            ])
        }
    }
}

/// The rain of one station by local day, for counting the rainy days before a 24-hour
/// window. Fed reading by reading in any order; keeps the last `maxDays` days.
///
/// The earlier rainy days of the window (t − 24 h, t] are the consecutive local days, back
/// from the day that holds the window's start, whose rain outside the window reached
/// `rainyDayMM`. The day holding the start counts with its rain before the start only (the
/// rest is in the window's own sum: no reading is counted twice); when that part falls
/// short it is passed over without ending the count, since a few hours cannot show a dry
/// day. So a storm on day D after a wet D − 1 gets D − 1 during the storm, not after midnight.
public struct RainyDays: Sendable {
    public let rainyDayMM: Double
    public let maxDays: Int
    private var days: LocalDays
    private var totals: [EpochMillis: Double] = [:]
    /// The readings of the newest three days, for the part of a day outside the window.
    private var recent: [Sample] = []
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
            let keep = day - 3 * 86_400_000
            recent.removeAll { $0.time < keep }
        } else if newestDay != .min && day <= newestDay - Int64(maxDays + 1) * 86_400_000 {
            return
        }
        totals[day, default: 0] += mm
        if time >= newestDay - 3 * 86_400_000 { recent.append(Sample(time: time, value: mm)) }
    }

    /// The earlier rainy days of the 24-hour window ending at `t` (see the type's note).
    public func earlierDays(before t: EpochMillis) -> Int {
        let start = t - 86_400_000
        var day = dayStart(start)
        var n = 0
        // The day holding the window's start: its rain at or before the start.
        let outside = recent.reduce(0.0) { sum, s in s.time <= start && s.time >= day ? sum + s.value : sum }
        if outside >= rainyDayMM { n += 1 }
        day = previousDay(day)
        while n < maxDays, (totals[day] ?? 0) >= rainyDayMM {
            n += 1
            day = previousDay(day)
        }
        return n
    }
}
