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
    /// times (as a replay feeds them: one commit per reading time).
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

    /// Lets go of the readings before `t`.
    mutating func forget(before t: EpochMillis) {
        guard t > from else { return }
        from = t
        byMeter = byMeter.mapValues { Array($0[$0.firstIndex(notBefore: t) { $0.time }...]) }
    }
}
