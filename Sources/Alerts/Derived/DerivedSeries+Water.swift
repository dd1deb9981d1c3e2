import Telemetry

/// Clean water: each DMA's water balance (`WaterBalanceTracker`), fed by its meters'
/// `volume_m3` readings, derived on `dma.<id>` (docs/domain.md, "Clean water"). With
/// partitions on a shared store, no partition computes any: a DMA's meters may report to
/// two of them, and the province lease's holder computes every DMA from what all partitions
/// stored (`DerivedSeries+ProvinceWater`).
extension DerivedSeries {
    /// The series a DMA's balance is stored on.
    static let waterMetrics = ["nrw_pct", "inflow_m3", "inflow_meter_fault", "min_night_flow_m3h", "night_flow_rise_pct",
                               "night_flow_rising_nights"]

    /// One `volume_m3` reading of a DMA's meter; the DMA's tracker is rebuilt from storage the first time.
    func waterBalance(_ entry: SensorEntry, _ s: Sample, history: any SampleHistory) {
        guard computesScopes, let dma = entry.zone, let m = dmas[dma] else { return }
        var tracker: WaterBalanceTracker
        if let t = water.removeValue(forKey: dma) {
            tracker = t
        } else {
            // After a start: the nights stored before (the baseline and the chain of rising
            // nights carry on), then the days still open, replayed from their readings.
            tracker = WaterBalanceTracker(inflow: m.inflow, customers: m.customers, timeZone: timeZone)
            let from = tracker.dayStart(s.time) - tracker.keepDays * 86_400_000
            do {
                tracker.seed(nights: try storedNights(dma, before: from + tracker.keepDays * 86_400_000, history: history))
            } catch {
                logger.warning("cannot read a DMA's stored nights; its night-flow baseline starts afresh",
                               metadata: ["dma": "\(dma)", "error": "\(error)"])
            }
            for meter in [m.inflow] + m.customers {
                guard let n = try? SeriesName(sensor: meter.id, metric: "volume_m3") else { continue }
                tracker = seeded(tracker, n, from: from, to: .max, history: history) {
                    self.waterDone(dma, $0.record(meter: meter.id, time: $1.time, volumeM3: $1.value))
                }
            }
        }
        waterDone(dma, tracker.record(meter: entry.id, time: s.time, volumeM3: s.value))
        water[dma] = tracker
    }

    /// The nights of `dma` stored before `before` (the last `keptNights`), as the tracker knew them.
    func storedNights(_ dma: String, before: EpochMillis, history: any SampleHistory) throws -> [WaterBalanceTracker.Night] {
        let flow = try SeriesName(sensor: "dma.\(dma)", metric: "min_night_flow_m3h")
        let rising = try SeriesName(sensor: "dma.\(dma)", metric: "night_flow_rising_nights")
        let from = before - EpochMillis(WaterBalanceTracker.keptNights + 1) * 86_400_000
        let flows = try history.history(flow, from: from, to: before)
        let counts = Dictionary(try history.history(rising, from: from, to: before).map { ($0.time, $0.value) },
                                uniquingKeysWith: { a, _ in a })
        return flows.map { f in
            WaterBalanceTracker.Night(day: f.time - 2 * 3_600_000, minFlowM3h: f.value, baselineM3h: nil, risePct: nil,
                                      risingNights: Int(counts[f.time] ?? 0))
        }
    }

    /// A complete day (stored at its local start) and a complete night (at 02:00 local). Each
    /// is reported once; a repeat after a restart lands on the same time and is deduplicated.
    private func waterDone(_ dma: String, _ done: (day: WaterBalanceTracker.Day?, night: WaterBalanceTracker.Night?)) {
        let scope = "dma.\(dma)"
        Self.waterOutputs(done) { metric, time, value in
            guard let name = try? SeriesName(sensor: scope, metric: metric) else { return }
            pending.append(Reading(series: name, time: time, value: value))
        }
        if let day = done.day { noteWaterDay(dma, day) }
    }

    /// The readings of a completed day and night: (metric, time, value), values to two decimals.
    static func waterOutputs(_ done: (day: WaterBalanceTracker.Day?, night: WaterBalanceTracker.Night?),
                             _ put: (String, EpochMillis, Double) -> Void) {
        func two(_ v: Double) -> Double { (v * 100).rounded() / 100 }
        if let day = done.day {
            if let pct = day.nrwPct { put("nrw_pct", day.start, two(pct)) }
            put("inflow_m3", day.start, two(day.inflowM3))
            put("inflow_meter_fault", day.start, day.nrwPct == nil ? 1 : 0)
        }
        if let night = done.night {
            let at = night.day + 2 * 3_600_000
            put("min_night_flow_m3h", at, two(night.minFlowM3h))
            if let rise = night.risePct { put("night_flow_rise_pct", at, two(rise)) }
            put("night_flow_rising_nights", at, Double(night.risingNights))
        }
    }

    /// A DMA's newest complete day, for the water-loss indicators (`waterDays`).
    func noteWaterDay(_ dma: String, _ day: WaterBalanceTracker.Day) {
        guard day.start >= waterLatest[dma] ?? .min, let unit = scopeEntries["dma.\(dma)"]?.unit else { return }
        waterLatest[dma] = day.start
        waterDays[dma] = CoverageCalculator.WaterDay(dma: dma, unit: unit, inflowM3: day.inflowM3, nrwPct: day.nrwPct)
    }
}
