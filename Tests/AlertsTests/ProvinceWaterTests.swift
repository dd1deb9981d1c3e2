import Alerts
import Foundation
import Logging
import Testing
import Telemetry

/// With partitions on a shared store, a DMA whose meters report to two partitions gets its
/// water balance from the province lease's holder, computed from both partitions' stored
/// readings (`DerivedSeries.recomputeScopes`), and equal to the replay of every meter in
/// time order, however late one partition's readings arrive and whoever holds the lease.
@Suite struct ProvinceWaterTests {
    static let tz = DerivedLateInputTests.tz
    static let hour: EpochMillis = 3_600_000
    static func at(_ day: Int, _ h: Int) -> EpochMillis { DerivedLateInputTests.at(day, Double(h)) }

    static func meter(_ id: String, _ role: SensorEntry.MeterRole) -> SensorEntry {
        var s = SensorEntry(id: id, kind: .water, unit: "sin-ho", zone: "d1", intervalMillis: hour)
        s.role = role
        s.metrics["volume_m3"] = "m3"
        return s
    }

    /// Hourly volumes: the customers' use, and an inflow with a leak growing from day 4 (its
    /// nights rise).
    static func volume(_ id: String, day: Int, hour h: Int) -> Double {
        let c1 = 2 + Double(h % 5) * 0.25, c2 = 1.5 + Double(h % 3) * 0.5
        switch id {
        case "c1": return c1
        case "c2": return c2
        default: return ((c1 + c2 + 0.2 + (day >= 4 ? 0.35 * Double(day - 3) : 0)) * 100).rounded() / 100
        }
    }

    @Test func aDMAAcrossTwoPartitionsIsComputedByTheProvinceHolder() throws {
        let catalogue = Catalogue(sensors: [Self.meter("in", .inflow), Self.meter("c1", .customer), Self.meter("c2", .customer)])
        let h = StoreHistory()
        func partition() -> DerivedSeries {
            let d = DerivedSeries(catalogue: catalogue, config: DerivedConfig(), timeZone: Self.tz, logger: Logger(label: "test"))
            d.computesScopes = false
            return d
        }
        let (north, south) = (partition(), partition())
        var holder = DerivedLateInputTests.holder(catalogue)
        var seen: [SeriesName: [Sample]] = [:]
        var partitionsDerived: [Reading] = []
        /// One partition's commit, then a round of the holder over what changed.
        func commit(_ p: DerivedSeries, _ readings: [(String, EpochMillis)]) throws {
            for (id, t) in readings {
                let name = try SeriesName(sensor: id, metric: "volume_m3")
                let v = Self.volume(id, day: Int((t - Self.at(0, 0)) / 86_400_000), hour: Int((t - Self.at(0, 0)) % 86_400_000 / Self.hour))
                h.store(name, Sample(time: t, value: v))
                p.observe(name, catalogue.sensor(id), BoundReading(series: h.id(name), time: t, value: v), history: h, now: t)
            }
            p.finishBatch()
            partitionsDerived += p.take()
            var changed: [(name: SeriesName, from: EpochMillis)] = []
            for id in ["in", "c1", "c2"] {
                let name = try SeriesName(sensor: id, metric: "volume_m3")
                let samples = h.stored[name] ?? [], before = seen[name] ?? []
                guard samples != before else { continue }
                let k = zip(samples, before).prefix { $0 == $1 }.count
                changed.append((name, min(samples.count > k ? samples[k].time : .max, before.count > k ? before[k].time : .max)))
                seen[name] = samples
            }
            for c in try #require(holder.recomputeScopes(changed: changed, history: h)) { h.correct(c) }
        }
        // North has the inflow and c1, hour by hour; south's c2 comes with each next morning,
        // day 2's only after day 4's (two days late), and one hour of day 5 twice.
        var southDays: [Int] = []
        for d in 0..<10 {
            for hr in 0..<24 {
                try commit(north, [("in", Self.at(d, hr)), ("c1", Self.at(d, hr))])
                if hr == 6, let last = southDays.popLast() {
                    try commit(south, (0..<24).map { ("c2", Self.at(last, $0)) })
                    if last == 4 { try commit(south, (0..<24).map { ("c2", Self.at(2, $0)) }) }
                    if last == 5 { try commit(south, [("c2", Self.at(5, 7))]) }
                }
            }
            if d != 2 { southDays.append(d) }
            if d == 6 { holder = DerivedLateInputTests.holder(catalogue) }   // the province lease changes hands
        }
        try commit(south, (0..<24).map { ("c2", Self.at(9, $0)) })

        // No partition derived any of the DMA's series.
        #expect(partitionsDerived.filter { $0.series.sensor.hasPrefix("dma.") }.isEmpty)
        // The holder's equal the replay of the three meters in time order.
        let inputs = try ["in", "c1", "c2"].map { try SeriesName(sensor: $0, metric: "volume_m3") }
        let replay = DerivedReplay(catalogue: catalogue, config: DerivedConfig(), timeZone: Self.tz, logger: Logger(label: "test"))
        let recomputed = replay.recompute(inputs.map { ($0, h.stored[$0] ?? []) }, from: Self.at(0, 0), stored: StoreHistory())
        for metric in ["nrw_pct", "inflow_m3", "inflow_meter_fault", "min_night_flow_m3h", "night_flow_rise_pct", "night_flow_rising_nights"] {
            let name = try SeriesName(sensor: "dma.d1", metric: metric)
            #expect(h.stored[name] == recomputed[name], "\(metric)")
        }
        let nrw = try #require(h.stored[try SeriesName(parsing: "dma.d1/nrw_pct")])
        #expect(nrw.map(\.time) == (0..<10).map { Self.at($0, 0) })
        let rising = try #require(h.stored[try SeriesName(parsing: "dma.d1/night_flow_rising_nights")])
        #expect((rising.map(\.value).max() ?? 0) >= 3)
        #expect(holder.waterDays["d1"].flatMap { $0.nrwPct.map { ($0 * 100).rounded() / 100 } } == nrw.last?.value)
    }
}
