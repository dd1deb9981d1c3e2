import Telemetry

/// The province lease's holder's copy of the readings of one DMA's meters (`volume_m3`) or
/// one transformer's (`kwh`) from `from` on, each meter's oldest first: what its days or
/// hours are recomputed from (`DerivedSeries.recomputeWater`, `recomputeEnergy`). A meter's
/// readings are replaced from a time on by what the store holds then, so a late reading is
/// taken as stored.
struct MeterReadings: Sendable {
    private(set) var from: EpochMillis
    private var byMeter: [String: [Sample]]

    init(from: EpochMillis, byMeter: [String: [Sample]]) {
        self.from = from
        self.byMeter = byMeter.mapValues { $0.filter { $0.time >= from } }
    }

    /// `meter`'s readings from `t` on become `stored` (the store's, from `t` on).
    mutating func replace(_ meter: String, from t: EpochMillis, with stored: [Sample]) {
        var a = byMeter[meter] ?? []
        a.removeSubrange(a.firstIndex(notBefore: t) { $0.time }...)
        let start = max(t, from)
        a += stored.filter { $0.time >= start }
        byMeter[meter] = a
    }

    /// Every reading from `t` on in time order, the meters of `order` in that order at equal
    /// times. (A replay orders equal times by series id instead; that changes a figure only
    /// where a meter sends more readings than its interval gives, so that a day or hour is
    /// complete before all of one time's readings are in.)
    func readings(from t: EpochMillis, order: [String]) -> [(meter: String, sample: Sample)] {
        var out: [(meter: String, sample: Sample, rank: Int)] = []
        for (rank, meter) in order.enumerated() {
            guard let a = byMeter[meter] else { continue }
            for s in a[a.firstIndex(notBefore: t) { $0.time }...] { out.append((meter, s, rank)) }
        }
        out.sort { ($0.sample.time, $0.rank) < ($1.sample.time, $1.rank) }
        return out.map { ($0.meter, $0.sample) }
    }

    /// The newest reading's time (nil: none held).
    var newest: EpochMillis? { byMeter.values.compactMap { $0.last?.time }.max() }

    /// `meter`'s newest reading's time (nil: none held).
    func newest(of meter: String) -> EpochMillis? { byMeter[meter]?.last?.time }

    /// Lets go of the readings before `t`.
    mutating func forget(before t: EpochMillis) {
        guard t > from else { return }
        from = t
        byMeter = byMeter.mapValues { Array($0[$0.firstIndex(notBefore: t) { $0.time }...]) }
    }

    /// `held` brought up to what the store holds of `metric` from `from` on: the changed
    /// meters' readings read back from their change on, or, when `held` does not reach back to
    /// `from`, every meter's read from `from` on.
    static func refreshed(_ held: MeterReadings?, metric: String, meters ids: [String], changed: [String: EpochMillis],
                          from: EpochMillis, history: any SampleHistory) throws -> MeterReadings {
        func stored(_ meter: String, from t: EpochMillis) throws -> [Sample] {
            try history.stored(try SeriesName(sensor: meter, metric: metric), from: t, to: .max)
        }
        if var h = held, h.from <= from {
            for (meter, t) in changed.sorted(by: { $0.key < $1.key }) where ids.contains(meter) {
                h.replace(meter, from: t, with: try stored(meter, from: t))
            }
            return h
        }
        var byMeter: [String: [Sample]] = [:]
        for meter in ids { byMeter[meter] = try stored(meter, from: from) }
        return MeterReadings(from: from, byMeter: byMeter)
    }
}
