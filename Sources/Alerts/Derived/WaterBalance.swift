import Telemetry

/// The water balance of one district metered area (DMA), day by day and night by night
/// (docs/domain.md, "Clean water"): its inflow meter and the customer meters behind it report
/// `volume_m3`, the volume of each reading's interval.
///
/// - **Non-revenue water**, per local day: `nrw_pct` = (inflow − Σ customers) / inflow · 100.
///   A day is reported once, as soon as it is complete (every meter has one reading per
///   interval of it), as energy loss is: a missing customer reading would look like a loss.
///   An inflow of 0 (or less) while customers consumed is a fault of the inflow meter: no
///   figure (`nrwPct` nil).
/// - **Minimum night flow**, per night: the lowest inflow rate (m³/h, a reading's volume over
///   its interval) among the readings stamped from 02:00 to 04:00 local time, once the inflow
///   meter has all of them. Leaks run day and night, consumption mostly does not, so a rising
///   night flow is the classic leak signal. Its **baseline** is the median of the 7 nights
///   before it that were reported; the night's **rise** is its excess over the baseline in
///   percent, and **rising nights** counts the consecutive nights more than 10 % above theirs
///   (0 for a night that is not, or has no baseline yet). A night's minimum is taken to two
///   decimals, as it is stored, before it is judged or counts in a later night's baseline.
///
/// Readings may arrive in any order; duplicates never reach here (storage dedupes them).
/// A night completed late (a backlog) is judged against the nights reported before it.
public struct WaterBalanceTracker: Sendable {
    public typealias Meter = IntervalMeter

    /// A complete day: its local start, the volumes, and the loss (nil: an inflow-meter fault).
    public struct Day: Sendable, Equatable {
        public var start: EpochMillis
        public var inflowM3: Double
        public var customersM3: Double
        public var nrwPct: Double?
    }

    /// A complete night: the local day it belongs to (its 02:00-04:00 window), the minimum
    /// inflow rate, and how it compares with the nights before it.
    public struct Night: Sendable, Equatable {
        public var day: EpochMillis
        public var minFlowM3h: Double
        public var baselineM3h: Double?
        public var risePct: Double?
        public var risingNights: Int

        public init(day: EpochMillis, minFlowM3h: Double, baselineM3h: Double?, risePct: Double?, risingNights: Int) {
            self.day = day
            self.minFlowM3h = minFlowM3h
            self.baselineM3h = baselineM3h
            self.risePct = risePct
            self.risingNights = risingNights
        }
    }

    struct DayVolumes: Sendable {
        var volume: [Double]
        var count: [Int]
        var reported = false
    }

    struct NightFlow: Sendable {
        var minRate = Double.infinity
        var count = 0
        var reported = false
    }

    public let inflow: Meter
    public let customers: [Meter]
    private let index: [String: Int]
    private var days: LocalDays
    private var open: [EpochMillis: DayVolumes] = [:]
    private var nights: [EpochMillis: NightFlow] = [:]
    /// Reported nights, oldest first (the baseline's material), at most `keptNights`.
    private var history: [Night] = []
    private var newestDay: EpochMillis = .min
    /// Days kept open for late readings.
    public let keepDays: Int64
    /// Nights the baseline is the median of, and the margin a night must exceed it by to count
    /// as rising.
    public static let baselineNights = 7
    public static let risingMargin = 0.10
    /// Reported nights kept (the baseline needs 7).
    public static let keptNights = 30
    static let nightFrom: Int64 = 2 * 3_600_000, nightTo: Int64 = 4 * 3_600_000

    public init(inflow: Meter, customers: [Meter], timeZone: TimeZoneID, keepDays: Int64 = 3) {
        self.inflow = inflow
        self.customers = customers
        self.keepDays = keepDays
        days = LocalDays(timeZone: timeZone.zone)
        var ix = [inflow.id: 0]
        for (i, c) in customers.enumerated() { ix[c.id] = i + 1 }
        index = ix
    }

    /// The start of the local day holding `t`.
    public mutating func dayStart(_ t: EpochMillis) -> EpochMillis { days.day(containing: t).start }

    /// Continues from the nights stored before a restart (their minimum flows and rising
    /// counts), so the baseline and a chain of rising nights carry on, as in a collector that
    /// never stopped. A seeded night is not reported again when its readings are replayed.
    public mutating func seed(nights stored: [Night]) {
        history = Array(stored.sorted { $0.day < $1.day }.suffix(Self.keptNights))
        for n in history { nights[n.day] = NightFlow(minRate: n.minFlowM3h, count: 0, reported: true) }
    }

    /// Adds one `volume_m3` reading of one of the DMA's meters. Returns the day and the night
    /// this reading completed, if any.
    public mutating func record(meter: String, time: EpochMillis, volumeM3 v: Double) -> (day: Day?, night: Night?) {
        guard let i = index[meter], v.isFinite else { return (nil, nil) }
        let (start, end) = days.day(containing: time)
        guard newestDay == .min || start > newestDay - keepDays * 86_400_000 else { return (nil, nil) }
        if start > newestDay {
            newestDay = start
            let cutoff = start - keepDays * 86_400_000
            open = open.filter { $0.key > cutoff }
            nights = nights.filter { $0.key > cutoff }
        }
        let meters = customers.count + 1
        var d = open[start] ?? DayVolumes(volume: Array(repeating: 0, count: meters), count: Array(repeating: 0, count: meters))
        d.volume[i] += v
        d.count[i] += 1
        var day: Day?
        if !d.reported && isComplete(d, span: end - start) {
            d.reported = true
            let customersM3 = d.volume.dropFirst().reduce(0, +)
            day = Day(start: start, inflowM3: d.volume[0], customersM3: customersM3,
                      nrwPct: Self.nrwPct(inflow: d.volume[0], customers: customersM3))
        }
        open[start] = d
        var night: Night?
        if i == 0, time >= start + Self.nightFrom, time < start + Self.nightTo {
            var n = nights[start] ?? NightFlow()
            n.minRate = min(n.minRate, v / (Double(inflow.intervalMillis) / 3_600_000))
            n.count += 1
            if !n.reported && n.count >= inflow.expected(in: Self.nightTo - Self.nightFrom) {
                n.reported = true
                night = judge(day: start, minFlow: n.minRate)
            }
            nights[start] = n
        }
        return (day, night)
    }

    private func isComplete(_ d: DayVolumes, span: Int64) -> Bool {
        if d.count[0] < inflow.expected(in: span) { return false }
        for (k, c) in customers.enumerated() where d.count[k + 1] < c.expected(in: span) { return false }
        return true
    }

    /// A complete night against the nights reported before it.
    private mutating func judge(day: EpochMillis, minFlow exact: Double) -> Night {
        // To two decimals, as stored: the nights a restart or the province's holder seeds
        // from the store are then the nights this tracker held, and the baselines agree.
        let minFlow = (exact * 100).rounded() / 100
        let before = history.filter { $0.day < day }
        let baseline = before.count >= Self.baselineNights
            ? Self.median(before.suffix(Self.baselineNights).map(\.minFlowM3h)) : nil
        let rise = baseline.flatMap { $0 > 0 ? (minFlow - $0) / $0 * 100 : nil }
        let above = rise.map { $0 > Self.risingMargin * 100 } ?? false
        var rising = 0
        if above {
            // Consecutive: the night before this one was reported and was rising too.
            let previous = before.last.flatMap { $0.day == days.lookup(day - 1).start ? $0 : nil }
            rising = (previous?.risingNights ?? 0) + 1
        }
        let night = Night(day: day, minFlowM3h: minFlow, baselineM3h: baseline, risePct: rise, risingNights: rising)
        history.append(night)
        history.sort { $0.day < $1.day }
        if history.count > Self.keptNights { history.removeFirst(history.count - Self.keptNights) }
        return night
    }

    /// Non-revenue water in percent of the inflow: 0 when nothing flowed; nil when the inflow
    /// meter reads nothing (or less) while customers consumed (a meter fault, not "no loss").
    public static func nrwPct(inflow: Double, customers: Double) -> Double? {
        if inflow <= 0 { return customers > 0 ? nil : 0 }
        return (inflow - customers) / inflow * 100
    }

    static func median(_ values: [Double]) -> Double {
        let s = values.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}
