import Telemetry

/// Energy loss of one transformer, hour by hour (docs/domain.md): `energy_loss_pct` =
/// (transformer meter kWh − Σ customer meters' kWh) / transformer kWh · 100.
///
/// `kwh` readings are the energy of the meter's interval and count toward the UTC hour their
/// timestamp falls in, as in the 1h rollups, so the figure can be checked against them. An
/// hour is reported once, as soon as it is complete: every meter of the transformer has all
/// its readings for it (one per interval). An incomplete hour is never reported, because a
/// missing customer reading would look like a loss; the outage rule covers silent meters.
/// Readings may arrive in any order; duplicates never reach here (storage dedupes them).
public struct EnergyLossTracker: Sendable {
    public typealias Meter = IntervalMeter

    struct Hour: Sendable {
        var kwh: [Double]
        var count: [Int]
        var reported = false
    }

    public let feeder: Meter
    public let customers: [Meter]
    private let index: [String: Int]
    private var hours: [EpochMillis: Hour] = [:]
    private var newestHour: EpochMillis = .min
    /// Hours kept open for late readings.
    public let keepHours: Int64

    public init(feeder: Meter, customers: [Meter], keepHours: Int64 = 48) {
        self.feeder = feeder
        self.customers = customers
        self.keepHours = keepHours
        var ix = [feeder.id: 0]
        for (i, c) in customers.enumerated() { ix[c.id] = i + 1 }
        index = ix
    }

    private var meterCount: Int { customers.count + 1 }

    /// The start of the UTC hour holding `t` (the hour its reading counts toward).
    static func hourStart(_ t: EpochMillis) -> EpochMillis { t - ((t % 3_600_000) + 3_600_000) % 3_600_000 }

    /// Adds one `kwh` reading of one of the transformer's meters. Returns the hour's start and
    /// its loss in percent when that reading completes its hour; the loss is nil when the
    /// feeder meter reads nothing while customers consumed (`lossPct`).
    public mutating func record(meter: String, time: EpochMillis, kwh: Double) -> (hour: EpochMillis, lossPct: Double?)? {
        guard let i = index[meter], kwh.isFinite else { return nil }
        let hour = Self.hourStart(time)
        guard newestHour == .min || hour > newestHour - keepHours * 3_600_000 else { return nil }
        if hour > newestHour {
            newestHour = hour
            let cutoff = hour - keepHours * 3_600_000
            hours = hours.filter { $0.key > cutoff }
        }
        let n = meterCount
        // In place: a copy of the hour out of the dictionary would copy its arrays at the first change.
        guard let loss = Self.add(kwh, of: i, to: &hours[hour, default: Hour(kwh: Array(repeating: 0, count: n), count: Array(repeating: 0, count: n))],
                                  feeder: feeder, customers: customers) else { return nil }
        return (hour, loss)
    }

    /// Adds a meter's reading to its hour; when that completes the hour (not reported yet),
    /// marks it reported and returns its loss (`.some(nil)`: no loss figure).
    private static func add(_ kwh: Double, of i: Int, to h: inout Hour, feeder: Meter, customers: [Meter]) -> Double?? {
        h.kwh[i] += kwh
        h.count[i] += 1
        guard !h.reported, isComplete(h, feeder: feeder, customers: customers) else { return nil }
        h.reported = true
        return .some(lossPct(feeder: h.kwh[0], customers: h.kwh.dropFirst().reduce(0, +)))
    }

    private static func isComplete(_ h: Hour, feeder: Meter, customers: [Meter]) -> Bool {
        if h.count[0] < feeder.expected(in: 3_600_000) { return false }
        for (k, c) in customers.enumerated() where h.count[k + 1] < c.expected(in: 3_600_000) { return false }
        return true
    }

    /// The loss in percent of the transformer's energy: 0 when nothing went through it
    /// (feeder and customers at 0). nil when the feeder meter reads nothing (or less) while
    /// customers consumed: that is a fault of the feeder meter, not "no loss", and there is no
    /// loss figure to give.
    public static func lossPct(feeder: Double, customers: Double) -> Double? {
        guard feeder > 0 else { return customers > 0 ? nil : 0 }
        return (feeder - customers) / feeder * 100
    }
}

/// Outage detection for one transformer (docs/domain.md): the share of its meters silent at once,
/// a meter being silent after `intervals` × its interval without a reading or after a
/// last-gasp reading newer than its last ordinary one.
public enum Outage {
    public static func silentPct(meters: [EnergyLossTracker.Meter], lastSeen: [String: EpochMillis],
                                 lastGasp: [String: EpochMillis], now: EpochMillis, intervals: Int64 = 2) -> Double {
        guard !meters.isEmpty else { return 0 }
        let silent = meters.filter { m in
            let seen = lastSeen[m.id]
            if let gasp = lastGasp[m.id], gasp >= (seen ?? .min) { return true }
            guard let seen else { return true }
            return now - seen > intervals * m.intervalMillis
        }.count
        return Double(silent) / Double(meters.count) * 100
    }
}
