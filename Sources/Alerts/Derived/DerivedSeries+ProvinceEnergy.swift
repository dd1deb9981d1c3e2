import Telemetry

/// With partitions on a shared store, the province lease's holder computes every
/// transformer's figures from what all partitions stored (its meters may report to two
/// partitions; each would see part of its hour, and count the other's meters as silent):
/// - the energy loss of each hour (`recomputeEnergy`), recomputed from the start of the
///   earliest hour a meter's `kwh` changed, as the DMAs' days are
///   (`DerivedSeries+ProvinceWater`), from the meters' readings of the newest hours held in
///   memory (`provinceEnergy`);
/// - the share of silent meters (`tickTransformers`, called by the holder with the
///   province's newest reading of each meter), a meter being heard also when a change of its
///   `kwh` is handled (a backlog arriving; not a reading older than the meter's gasp), and
///   gasping by its `last_gasp` readings in the store (`gaspsChanged`); a holder's first round
///   reads those the partitions stored before it took the lease (`gaspsToSeed`).
extension DerivedSeries {
    /// Whole hours held in memory before the newest held reading's hour.
    static let heldEnergyHours: Int64 = 2

    /// The transformer of a changed series: a catalogued meter's `kwh`, of a transformer with
    /// a feeder meter (nil: none).
    func transformer(ofChanged name: SeriesName, _ entry: SensorEntry) -> String? {
        guard name.metric == "kwh", entry.kind == .meter, let tr = entry.zone, transformers[tr] != nil else { return nil }
        return tr
    }

    /// A meter's `last_gasp` series changed from `from` on: its newest gasp (a reading other
    /// than 0) read from the store.
    func gaspsChanged(_ name: SeriesName, from: EpochMillis, history: any SampleHistory) throws {
        guard let t = try history.stored(name, from: from, to: .max).last(where: { $0.value != 0 })?.time else { return }
        lastGasp[name.sensor] = max(t, lastGasp[name.sensor] ?? .min)
    }

    /// Each transformer meter's `last_gasp` series from as far back as a gasp can still make it
    /// silent (`outageSilentIntervals` of its intervals before `now`: an older gasp is overtaken
    /// by the intervals themselves), for a new holder's first round to read as changes.
    func gaspsToSeed(now: EpochMillis) throws -> [(SeriesName, EpochMillis)] {
        var out: [(SeriesName, EpochMillis)] = []
        for m in transformers.values {
            for meter in [m.feeder] + m.customers {
                out.append((try SeriesName(sensor: meter.id, metric: "last_gasp"), now - config.outageSilentIntervals * meter.intervalMillis))
            }
        }
        return out
    }

    /// Recomputes the transformers whose meters changed (transformer -> meter -> from when);
    /// `now`: when the changes are handled (each changed meter is heard then). Throws when
    /// the store cannot be read.
    func recomputeEnergy(_ changed: [String: [String: EpochMillis]], now: EpochMillis?,
                         history: any SampleHistory) throws -> [SeriesCorrection] {
        var out: [SeriesCorrection] = []
        for (tr, meters) in changed.sorted(by: { $0.key < $1.key }) {
            guard let m = transformers[tr], let earliest = meters.values.min() else { continue }
            let from = EnergyLossTracker.hourStart(earliest)
            let ids = ([m.feeder] + m.customers).map(\.id)
            var held = try MeterReadings.refreshed(provinceEnergy[tr], metric: "kwh", meters: ids, changed: meters,
                                                   from: from, history: history)
            var tracker = EnergyLossTracker(feeder: m.feeder, customers: m.customers)
            var computed: [String: [Sample]] = [:]
            for (meter, s) in held.readings(from: from, order: ids) {
                guard let done = tracker.record(meter: meter, time: s.time, kwh: s.value) else { continue }
                Self.energyOutputs(done) { computed[$0, default: []].append(Sample(time: $1, value: $2)) }
            }
            out += try corrections("transformer.\(tr)", Self.energyMetrics, computed, from: from, history: history)
            if let newest = held.newest { held.forget(before: EnergyLossTracker.hourStart(newest) - Self.heldEnergyHours * 3_600_000) }
            provinceEnergy[tr] = held
            if let now {
                // Heard now (a backlog arriving), unless its newest reading is older than its
                // gasp: that reading came from before the power went.
                for meter in meters.keys {
                    guard let newest = held.newest(of: meter), newest > lastGasp[meter] ?? .min else { continue }
                    let k = station(meter)
                    stations[k].meterArrival = max(now, stations[k].meterArrival ?? .min)
                }
            }
        }
        return out
    }
}
