import Telemetry

/// The sum of a series' values over the last `window` before its newest reading, kept
/// incrementally: readings are held in time order with a running total; a reading that
/// leaves the window is subtracted. A late reading inside the window is inserted in place;
/// one older than the window cannot change the current sum and is ignored. Duplicate times
/// never reach here (storage dedupes them first).
public struct RollingSum: Sendable {
    public let window: EpochMillis
    private var samples: [Sample] = []
    private var head = 0
    public private(set) var sum = 0.0

    public init(window: EpochMillis) { self.window = window }

    /// Time of the newest reading.
    public var newest: EpochMillis? { samples.last?.time }

    /// The latest time, at or before `t`, at which a reading left the window as time passed
    /// beyond the newest reading (a reading at time s leaves at s + window); nil if none has.
    public func lastDeparture(notAfter t: EpochMillis) -> EpochMillis? {
        var latest: EpochMillis?
        for i in head..<samples.count where samples[i].time + window <= t { latest = samples[i].time + window }
        return latest
    }

    /// The sum over the window ending at `t` (not before the newest reading): what the sum
    /// has become as time passed with no reading. Readings never leave here; `add` drops them.
    public func sum(at t: EpochMillis) -> Double {
        guard let newest, t > newest else { return sum }
        var s = 0.0
        for i in head..<samples.count where samples[i].time > t - window { s += samples[i].value }
        return s
    }

    public mutating func add(_ s: Sample) {
        if let last = samples.last, s.time < last.time {
            guard s.time > last.time - window else { return }
            var i = samples.count
            while i > head && samples[i - 1].time > s.time { i -= 1 }
            samples.insert(s, at: i)
            sum += s.value
            return
        }
        samples.append(s)
        sum += s.value
        let cutoff = s.time - window
        while head < samples.count && samples[head].time <= cutoff {
            sum -= samples[head].value
            head += 1
        }
        if head > 64 && head * 2 > samples.count {
            samples.removeFirst(head)
            head = 0
        }
        if head == samples.count { sum = 0 }   // empty window: no rounding residue
    }
}

/// River stations (docs/domain.md): alarm levels I, II, III in metres.
public enum WaterAlarm {
    /// 0 below level I, else the highest level reached (1–3).
    public static func level(_ metres: Double, levels: [Double]) -> Int {
        levels.prefix(3).reduce(0) { n, l in metres >= l ? n + 1 : n }
    }

    /// Rise in m/h between the oldest reading within the last hour and the newest; nil with
    /// less than 5 minutes between them.
    public static func risePerHour(_ latest: Sample, recent: [Sample]) -> Double? {
        guard let base = recent.first(where: { $0.time >= latest.time - 3_600_000 && $0.time < latest.time }),
              latest.time - base.time >= 300_000 else { return nil }
        return (latest.value - base.value) / (Double(latest.time - base.time) / 3_600_000)
    }
}
