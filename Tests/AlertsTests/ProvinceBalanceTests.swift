@testable import Alerts
import Foundation
import Logging
import Testing
import Telemetry

/// With partitions on a shared store, a DMA or a transformer whose meters report to two
/// partitions gets its figures from the province lease's holder, computed from both
/// partitions' stored readings (`DerivedSeries.recomputeScopes`, `tickTransformers`), and
/// equal to the replay of every meter in time order, however late one partition's readings
/// arrive and whoever holds the lease.
@Suite struct ProvinceBalanceTests {
    static let tz = DerivedLateInputTests.tz
    static let hour: EpochMillis = 3_600_000
    static func at(_ day: Int, _ h: Int) -> EpochMillis { DerivedLateInputTests.at(day, Double(h)) }

    static func meter(_ id: String, _ role: SensorEntry.MeterRole) -> SensorEntry {
        var s = SensorEntry(id: id, kind: .water, unit: "sin-ho", zone: "d1", intervalMillis: hour)
        s.role = role
        s.metrics["volume_m3"] = "m3"
        return s
    }

    /// Hourly volumes to three decimals (a night's minimum is stored to two): the customers'
    /// use, and an inflow with a leak growing from day 4 (its nights rise).
    static func volume(_ id: String, day: Int, hour h: Int) -> Double {
        let c1 = 2 + Double(h % 5) * 0.253, c2 = 1.5 + Double(h % 3) * 0.507
        switch id {
        case "c1": return c1
        case "c2": return c2
        default: return ((c1 + c2 + 0.2 + Double(day % 3) * 0.0041 + (day >= 4 ? 0.3517 * Double(day - 3) : 0)) * 1000).rounded() / 1000
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
            let changed = h.changes(of: try ["in", "c1", "c2"].map { try SeriesName(sensor: $0, metric: "volume_m3") }, since: &seen)
            for c in try #require(holder.recomputeScopes(changed: changed, history: h)) { h.correct(c) }
        }
        // North has the inflow and c1, hour by hour; south's c2 comes with each next morning,
        // day 2's only after day 4's (two days late), and one hour of day 5 twice.
        var southDays: [Int] = []
        var handedOver = false
        for d in 0..<10 {
            for hr in 0..<24 {
                try commit(north, [("in", Self.at(d, hr)), ("c1", Self.at(d, hr))])
                if handedOver {
                    // The new holder's first round read the DMA's newest stored day (for the
                    // water-loss indicators) before any day of its own completed.
                    handedOver = false
                    let stored = h.stored[try SeriesName(parsing: "dma.d1/inflow_m3")]?.last
                    #expect(stored != nil && holder.waterDays["d1"]?.inflowM3 == stored?.value)
                }
                if hr == 6, let last = southDays.popLast() {
                    try commit(south, (0..<24).map { ("c2", Self.at(last, $0)) })
                    if last == 4 { try commit(south, (0..<24).map { ("c2", Self.at(2, $0)) }) }
                    if last == 5 { try commit(south, [("c2", Self.at(5, 7))]) }
                }
            }
            if d != 2 { southDays.append(d) }
            if d == 6 {
                holder = DerivedLateInputTests.holder(catalogue)   // the province lease changes hands
                handedOver = true
            }
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

    static func powerMeter(_ id: String, _ role: SensorEntry.MeterRole) -> SensorEntry {
        var s = SensorEntry(id: id, kind: .meter, unit: "sin-ho", zone: "t1", intervalMillis: 15 * 60_000)
        s.role = role
        s.metrics["kwh"] = "kWh"
        return s
    }

    /// The feeder and one customer report to north, the other customer to south, its hours
    /// late and one hour before the others: every hour's loss equals the replay's, and no
    /// partition derives any.
    @Test func aTransformerAcrossTwoPartitionsIsComputedByTheProvinceHolder() throws {
        let catalogue = Catalogue(sensors: [Self.powerMeter("f", .feeder), Self.powerMeter("m1", .customer), Self.powerMeter("m2", .customer)])
        let h = StoreHistory()
        let partition = DerivedLateInputTests.holder(catalogue)   // (computes no province-wide figure)
        var holder = DerivedLateInputTests.holder(catalogue)
        var seen: [SeriesName: [Sample]] = [:]
        var partitionDerived: [Reading] = []
        let quarter: EpochMillis = 15 * 60_000
        func kwh(_ id: String, _ q: Int) -> Double { id == "f" ? 9 + Double(q % 4) : id == "m1" ? 4 : 3 + Double(q % 3) * 0.5 }
        func commit(_ readings: [(String, Int)]) throws {
            for (id, q) in readings {
                let name = try SeriesName(sensor: id, metric: "kwh")
                let t = Self.at(0, 0) + EpochMillis(q) * quarter
                h.store(name, Sample(time: t, value: kwh(id, q)))
                partition.observe(name, catalogue.sensor(id), BoundReading(series: h.id(name), time: t, value: kwh(id, q)), history: h, now: t)
            }
            partition.finishBatch()
            partitionDerived += partition.take()
            let changed = h.changes(of: try ["f", "m1", "m2"].map { try SeriesName(sensor: $0, metric: "kwh") }, since: &seen)
            for c in try #require(holder.recomputeScopes(changed: changed, history: h)) { h.correct(c) }
        }
        // Twelve hours; m2's readings come an hour late, its hour 3 after hour 6.
        for q in 0..<48 {
            try commit([("f", q), ("m1", q)])
            if q >= 4, (q - 4) / 4 != 3 { try commit([("m2", q - 4)]) }
            if q == 28 { try commit((12..<16).map { ("m2", $0) }) }
            if q == 30 { holder = DerivedLateInputTests.holder(catalogue) }   // the province lease changes hands
        }
        try commit((44..<48).map { ("m2", $0) })
        #expect(partitionDerived.filter { $0.series.sensor.hasPrefix("transformer.") }.isEmpty)
        let inputs = try ["f", "m1", "m2"].map { try SeriesName(sensor: $0, metric: "kwh") }
        let replay = DerivedReplay(catalogue: catalogue, config: DerivedConfig(), timeZone: Self.tz, logger: Logger(label: "test"))
        let recomputed = replay.recompute(inputs.map { ($0, h.stored[$0] ?? []) }, from: Self.at(0, 0), stored: StoreHistory())
        for metric in ["energy_loss_pct", "feeder_meter_fault"] {
            let name = try SeriesName(sensor: "transformer.t1", metric: metric)
            #expect(h.stored[name] == recomputed[name], "\(metric)")
            #expect(h.stored[name]?.count == 12, "\(metric)")
        }
    }

    /// The holder counts a transformer's meters as heard by the province's newest readings
    /// (`tickTransformers`), a gasp stored by any partition as silent at once; a partition
    /// computes no share of its own.
    @Test func silentMetersAreCountedFromTheProvincesReadings() throws {
        let catalogue = Catalogue(sensors: [Self.powerMeter("f", .feeder), Self.powerMeter("m1", .customer), Self.powerMeter("m2", .customer),
                                            Self.powerMeter("m3", .customer)])
        let h = StoreHistory()
        let t0 = Self.at(0, 8)
        let partition = DerivedLateInputTests.holder(catalogue)
        partition.tick(now: t0, lastSeen: ["f": t0, "m1": t0], history: h)
        #expect(partition.take().isEmpty)
        let holder = DerivedLateInputTests.holder(catalogue)
        let silent = try SeriesName(parsing: "transformer.t1/meters_silent_pct")
        func share(_ now: EpochMillis, _ lastSeen: [String: EpochMillis]) -> Double? {
            holder.tickTransformers(now: now, lastSeen: lastSeen)
            return holder.take().last { $0.series == silent }?.value
        }
        let all = ["f": t0, "m1": t0, "m2": t0 - 60_000, "m3": t0]
        #expect(share(t0, all) == 0)
        // m3 gasps (stored by another partition): silent at once.
        let gasp = try SeriesName(parsing: "m3/last_gasp")
        h.store(gasp, Sample(time: t0 + 1_000, value: 1))
        _ = try #require(holder.recomputeScopes(changed: [(gasp, t0 + 1_000)], history: h))
        #expect(share(t0 + 2_000, all.merging(["m3": t0 + 1_000]) { max($0, $1) }) == 25)
        // m2 says nothing for more than two intervals.
        #expect(share(t0 + 31 * 60_000, ["f": t0 + 30 * 60_000, "m1": t0 + 30 * 60_000, "m2": t0 - 60_000, "m3": t0 + 1_000]) == 50)
    }

    /// A gasp stored before the holder took the province lease (its note handled by the old
    /// holder) is read back at the new holder's first round: that meter is silent at once, not
    /// two intervals later. A gasp older than those two intervals is not read: the intervals
    /// count the meter silent anyway.
    @Test func aNewHolderReadsBackTheGaspsStoredBefore() throws {
        let catalogue = Catalogue(sensors: [Self.powerMeter("f", .feeder), Self.powerMeter("m1", .customer), Self.powerMeter("m2", .customer)])
        let h = StoreHistory()
        let t0 = Self.at(0, 8)
        h.store(try SeriesName(parsing: "m1/last_gasp"), Sample(time: t0 - 60_000, value: 1))
        h.store(try SeriesName(parsing: "m2/last_gasp"), Sample(time: t0 - 40 * 60_000, value: 1))   // before two 15-minute intervals
        let silent = try SeriesName(parsing: "transformer.t1/meters_silent_pct")
        let seen = ["f": t0 - 30_000, "m1": t0 - 120_000, "m2": t0 - 30_000]
        func share(_ holder: DerivedSeries) -> Double? {
            holder.tickTransformers(now: t0, lastSeen: seen)
            return holder.take().last { $0.series == silent }?.value
        }
        // Without a round (or before this change), m1's gasp is unknown: nobody is silent.
        #expect(share(DerivedLateInputTests.holder(catalogue)) == 0)
        // The first round, for any change (here f's kwh), reads the gasps back.
        let holder = DerivedLateInputTests.holder(catalogue)
        let kwh = try SeriesName(parsing: "f/kwh")
        h.store(kwh, Sample(time: t0 - 30_000, value: 9))
        _ = try #require(holder.recomputeScopes(changed: [(kwh, t0 - 30_000)], history: h, now: t0))
        #expect(holder.lastGasp == ["m1": t0 - 60_000])
        #expect(share(holder) == (100.0 / 3 * 100).rounded() / 100)
    }
}
