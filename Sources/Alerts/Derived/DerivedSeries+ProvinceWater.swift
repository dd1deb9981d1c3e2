import Telemetry

/// With partitions on a shared store, the province lease's holder computes every DMA's water
/// balance from the meter readings all partitions stored (a DMA's meters may report to two
/// partitions, and each would see part of its day). It is told which meters' `volume_m3`
/// changed, from which time on (`PostgresStore.changes`), keeps each DMA's meter readings of
/// the newest day and the one before in memory (`provinceWater`, refreshed from the store for
/// the changed meters), recomputes the DMA's days and nights from the start of the earliest
/// changed day on, in time order as a replay does, and corrects its `dma.<id>` series where
/// they differ from what is stored.
extension DerivedSeries {
    /// Whole days held in memory before the newest held reading's day; a change older than
    /// what is held reads the DMA back from the store.
    static let heldWaterDays: Int64 = 1

    /// The DMA of a changed series: a catalogued water meter's `volume_m3`, of a DMA with an
    /// inflow meter (nil: none).
    func dma(ofChanged name: SeriesName, _ entry: SensorEntry) -> String? {
        guard name.metric == "volume_m3", entry.kind == .water, let dma = entry.zone, dmas[dma] != nil else { return nil }
        return dma
    }

    /// Recomputes the DMAs whose meters changed (DMA -> meter -> from when). Throws when the
    /// store cannot be read (nothing is kept of that round).
    func recomputeWater(_ changed: [String: [String: EpochMillis]], history: any SampleHistory) throws -> [SeriesCorrection] {
        var out: [SeriesCorrection] = []
        for (dma, meters) in changed.sorted(by: { $0.key < $1.key }) {
            guard let m = dmas[dma], let earliest = meters.values.min() else { continue }
            var tracker = WaterBalanceTracker(inflow: m.inflow, customers: m.customers, timeZone: timeZone)
            let from = tracker.dayStart(earliest)
            let ids = ([m.inflow] + m.customers).map(\.id)
            var held = try MeterReadings.refreshed(provinceWater[dma], metric: "volume_m3", meters: ids, changed: meters,
                                                   from: from, history: history)
            // The nights before go on (the baseline, a chain of rising nights) as stored.
            tracker.seed(nights: try storedNights(dma, before: from, history: history))
            var computed: [String: [Sample]] = [:]
            for (meter, s) in held.readings(from: from, order: ids) {
                let done = tracker.record(meter: meter, time: s.time, volumeM3: s.value)
                Self.waterOutputs(done) { computed[$0, default: []].append(Sample(time: $1, value: $2)) }
                if let day = done.day { noteWaterDay(dma, day) }
            }
            out += try corrections("dma.\(dma)", Self.waterMetrics, computed, from: from, history: history)
            if let newest = held.newest { held.forget(before: tracker.dayStart(newest) - Self.heldWaterDays * 86_400_000) }
            provinceWater[dma] = held
        }
        return out
    }

    /// Each DMA's newest stored day (`waterDays`, for the water-loss indicators): a holder that
    /// takes the province lease has them before its rounds reach each DMA's newest day.
    func seedWaterDays(history: any SampleHistory) throws {
        for dma in dmas.keys.sorted() {
            guard let inflow = try history.lastStored(try SeriesName(sensor: "dma.\(dma)", metric: "inflow_m3"), before: .max) else { continue }
            let nrw = try history.lastStored(try SeriesName(sensor: "dma.\(dma)", metric: "nrw_pct"), before: .max)
            noteWaterDay(dma, WaterBalanceTracker.Day(start: inflow.time, inflowM3: inflow.value, customersM3: 0,
                                                      nrwPct: nrw?.time == inflow.time ? nrw?.value : nil))
        }
    }

    /// The corrections of `scope`'s series (`metrics`) whose stored samples from `from` on are
    /// not `computed`'s.
    func corrections(_ scope: String, _ metrics: [String], _ computed: [String: [Sample]], from: EpochMillis,
                     history: any SampleHistory) throws -> [SeriesCorrection] {
        var out: [SeriesCorrection] = []
        for metric in metrics {
            let name = try SeriesName(sensor: scope, metric: metric)
            let now = (computed[metric] ?? []).sorted { $0.time < $1.time }
            if try history.stored(name, from: from, to: .max) != now {
                out.append(SeriesCorrection(series: name, from: from, samples: now))
            }
        }
        return out
    }
}
