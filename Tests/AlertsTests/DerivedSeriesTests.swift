import Alerts
import Foundation
import Logging
import Testing
import Telemetry

/// Stored history kept in memory, for `DerivedSeries` on its own: what storage would hold.
final class MemoryHistory: SampleHistory {
    var stored: [SeriesName: [Sample]] = [:]
    /// The committed readings of each input series (the collector's in-memory ring).
    var committed: [SeriesID: [Sample]] = [:]

    func recent(_ id: SeriesID) -> [Sample] { (committed[id] ?? []).sorted { $0.time < $1.time }.suffix(128) }
    func history(_ name: SeriesName, from: EpochMillis, to: EpochMillis) throws -> [Sample] {
        (stored[name] ?? []).filter { $0.time >= from && $0.time < to }.sorted { $0.time < $1.time }
    }
    func window(_ name: SeriesName, _ id: SeriesID, from: EpochMillis, to: EpochMillis) throws -> [Sample] {
        (committed[id] ?? []).filter { $0.time >= from && $0.time < to }.sorted { $0.time < $1.time }
    }
    func lastStored(_ name: SeriesName, before: EpochMillis) throws -> Sample? {
        (stored[name] ?? []).filter { $0.time < before }.max { $0.time < $1.time }
    }
}

/// `DerivedSeries` wiring each index to its inputs: which station gets which table, the
/// scopes' maxima, the complete-hour AQI, the feeder-meter fault and the clock's tick.
@Suite struct DerivedSeriesTests {
    static let tz = TimeZoneID("Asia/Ho_Chi_Minh")!
    /// 2026-11-18T00:00+07:00
    static let day0: EpochMillis = 1_794_934_800_000
    static func at(_ day: Int, _ hour: Double) -> EpochMillis { day0 + EpochMillis(day) * 86_400_000 + EpochMillis(hour * 3_600_000) }

    struct Harness {
        let derived: DerivedSeries
        let catalogue: Catalogue
        let history = MemoryHistory()
        var ids: [SeriesName: SeriesID] = [:]
        var out: [Reading] = []

        init(_ catalogue: Catalogue, config: DerivedConfig = DerivedConfig()) {
            self.catalogue = catalogue
            derived = DerivedSeries(catalogue: catalogue, config: config, timeZone: DerivedSeriesTests.tz, logger: Logger(label: "test"))
        }

        /// Feeds readings as one commit (stored first, as the worker sees them), keeps the output.
        mutating func commit(_ readings: [(String, EpochMillis, Double)], now: EpochMillis = 0) throws {
            var bound: [(SeriesName, BoundReading)] = []
            for (series, t, v) in readings {
                let name = try SeriesName(parsing: series)
                let id = ids[name] ?? SeriesID(Int32(ids.count))
                ids[name] = id
                history.committed[id, default: []].append(Sample(time: t, value: v))
                bound.append((name, BoundReading(series: id, time: t, value: v)))
            }
            for (name, r) in bound {
                derived.observe(name, catalogue.sensor(name.sensor), r, history: history, now: now)
            }
            derived.finishBatch()
            take()
        }

        mutating func tick(_ now: EpochMillis) {
            derived.tick(now: now, lastSeen: [:], history: history)
            take()
        }

        private mutating func take() {
            let new = derived.take()
            for r in new { history.stored[r.series, default: []].append(Sample(time: r.time, value: r.value)) }
            out += new
        }

        func values(_ series: String) -> [(t: EpochMillis, v: Double)] {
            out.filter { $0.series.description == series }.map { ($0.time, $0.value) }
        }
    }

    static func gauge(_ id: String, zone: String? = nil, kind: SensorKind = .hydro, susceptibility: Susceptibility? = nil,
                      region: Int? = nil) -> SensorEntry {
        var s = SensorEntry(id: id, kind: kind, unit: "sin-ho", zone: zone, intervalMillis: 600_000)
        s.metrics = ["rain_mm": "mm"]
        s.susceptibility = susceptibility
        s.region = region
        return s
    }

    /// Each station's table: its zone's susceptibility and region over its own, its own over
    /// the province's; the province's region by default; the district carries the maximum.
    @Test func eachStationGetsItsAreasCases() throws {
        let zones = [Zone(id: "z-hi", kind: .forest, unit: "sin-ho", areaHa: 1, susceptibility: .high),
                     Zone(id: "z-r3", kind: .forest, unit: "sin-ho", areaHa: 1, susceptibility: .high, region: 3)]
        let cat = Catalogue(zones: zones, sensors: [
            Self.gauge("f-hi", zone: "z-hi", kind: .forest, susceptibility: .low),   // the zone's high wins
            Self.gauge("f-r3", zone: "z-r3", kind: .forest),                         // region 3: high gets level 1
            Self.gauge("h-vh", susceptibility: .veryHigh),
            Self.gauge("h-none"),                                                    // default medium
        ])
        var h = Harness(cat)
        // A wet day (15 mm just before the window), then 150 mm: 100-200 mm after 1-2 days.
        let t = Self.at(3, 12)
        var rs: [(String, EpochMillis, Double)] = []
        for s in ["f-hi", "f-r3", "h-vh", "h-none"] { rs += [("\(s)/rain_mm", t - 86_400_001, 15), ("\(s)/rain_mm", t, 150)] }
        try h.commit(rs)
        #expect(h.values("f-hi/flood_risk_level").last?.v == 2)
        #expect(h.values("f-r3/flood_risk_level").last?.v == 1)
        #expect(h.values("h-vh/flood_risk_level").last?.v == 3)
        #expect(h.values("h-none/flood_risk_level").last?.v == 1)
        #expect(h.values("unit.sin-ho/flood_risk_level").last?.v == 3)
        #expect(h.values("zone.z-hi/flood_risk_level").last?.v == 2)
    }

    /// A gauge seen for the first time since a start is rebuilt from storage: its earlier
    /// rainy days count (a restart in the middle of a wet spell keeps them).
    @Test func aGaugeIsRebuiltFromStorage() throws {
        var h = Harness(Catalogue(sensors: [Self.gauge("h-1", susceptibility: .medium)]))
        let t = Self.at(5, 12)
        let rain = try SeriesName(parsing: "h-1/rain_mm")
        h.history.stored[rain] = [Sample(time: t - 86_400_001, value: 12), Sample(time: Self.at(3, 10), value: 30),
                                  Sample(time: Self.at(2, 10), value: 30), Sample(time: t - 3_600_000, value: 150)]
        try h.commit([("h-1/rain_mm", t, 60)])
        #expect(h.values("h-1/rain_24h_mm").last?.v == 210)
        // 210 mm after 3 earlier rainy days (the start day's 12 mm before the window, days 3, 2): medium -> 2.
        #expect(h.values("h-1/flood_risk_level").last?.v == 2)
    }

    /// The clock: with no new reading the sum falls as the rain leaves the window, stamped
    /// when it left (not at the tick); a tick before that changes nothing.
    @Test func theTickLetsTheSumFall() throws {
        var h = Harness(Catalogue(sensors: [Self.gauge("h-2", susceptibility: .medium)]))
        let t = Self.at(4, 6)
        try h.commit([("h-2/rain_mm", t - 86_400_001, 15), ("h-2/rain_mm", t, 120)], now: t)
        #expect(h.values("h-2/flood_risk_level").last?.v == 1)
        let before = h.values("h-2/rain_24h_mm").count
        h.tick(t + 3_600_000)
        #expect(h.values("h-2/rain_24h_mm").count == before)
        h.tick(t + 86_400_000 + 300_000)
        #expect(h.values("h-2/rain_24h_mm").last.map { [$0.t, EpochMillis($0.v)] } == [t + 86_400_000, 0])
        #expect(h.values("h-2/flood_risk_level").last.map { [$0.t, EpochMillis($0.v)] } == [t + 86_400_000, 0])
    }

    /// A gauge sending a backlog (readings arriving now, with old times) is judged by its
    /// readings, not by the clock: the tick leaves it alone.
    @Test func theTickLeavesABacklogAlone() throws {
        var h = Harness(Catalogue(sensors: [Self.gauge("h-3", susceptibility: .medium)]))
        let now = Self.at(9, 12)
        try h.commit([("h-3/rain_mm", Self.at(4, 6) - 86_400_001, 15), ("h-3/rain_mm", Self.at(4, 6), 120)], now: now)
        h.tick(now + 60_000)
        #expect(h.values("h-3/rain_24h_mm").map(\.v) == [15, 120])
        h.tick(now + 21 * 60_000)   // quiet for two intervals: now it falls, stamped when the rain left
        #expect(h.values("h-3/rain_24h_mm").last.map { [$0.t, EpochMillis($0.v)] } == [Self.at(5, 6), 0])
    }

    /// After a restart with a stored sum above 0 whose rain left the window while the
    /// collector was down: the first tick stores 0, at the time the rain left.
    @Test func aStaleSumFallsAtTheFirstTickAfterARestart() throws {
        var h = Harness(Catalogue(sensors: [Self.gauge("h-4", susceptibility: .high)]))
        let t = Self.at(2, 8)
        h.history.stored[try SeriesName(parsing: "h-4/rain_mm")] = [Sample(time: t, value: 150)]
        h.history.stored[try SeriesName(parsing: "h-4/rain_24h_mm")] = [Sample(time: t, value: 150)]
        h.history.stored[try SeriesName(parsing: "h-4/flood_risk_level")] = [Sample(time: t, value: 2)]
        h.tick(Self.at(6, 0))
        #expect(h.values("h-4/rain_24h_mm").isEmpty)   // not at once: a backlog may still come
        h.tick(Self.at(6, 0) + 600_000)
        #expect(h.values("h-4/rain_24h_mm").map { [$0.t, EpochMillis($0.v)] } == [[t + 86_400_000, 0]])
        #expect(h.values("h-4/flood_risk_level").map { [$0.t, EpochMillis($0.v)] } == [[t + 86_400_000, 0]])
    }

    /// A restart in the middle of a storm, and the broker redelivering the rest: the first
    /// ticks do not declare a fall before the backlog's readings (before, the first tick after
    /// the start stamped a fall at the last stored rain + 24 h, and the backlog's sums were
    /// then bunched after it).
    @Test func aBacklogAfterARestartIsNotPrecededByAFall() throws {
        var h = Harness(Catalogue(sensors: [Self.gauge("h-5", susceptibility: .high)]))
        let t = Self.at(2, 8)
        h.history.stored[try SeriesName(parsing: "h-5/rain_mm")] = [Sample(time: t, value: 30)]
        h.history.stored[try SeriesName(parsing: "h-5/rain_24h_mm")] = [Sample(time: t, value: 30)]
        h.tick(Self.at(6, 0))                                   // wall clock days ahead of the backlog
        try h.commit([("h-5/rain_mm", t + 3_600_000, 20)])       // the redelivered rest
        #expect(h.values("h-5/rain_24h_mm").map { [$0.t, EpochMillis($0.v)] } == [[t + 3_600_000, 50]])
    }

    /// AQI once an hour is complete, at its start; a feeder meter at 0 is a fault.
    @Test func completeHoursAndTheFeederFault() throws {
        var feeder = SensorEntry(id: "fd", kind: .meter, unit: "d", zone: "tr", intervalMillis: 3_600_000)
        feeder.role = .feeder
        var customer = SensorEntry(id: "cu", kind: .meter, unit: "d", zone: "tr", intervalMillis: 3_600_000)
        customer.role = .customer
        let air = SensorEntry(id: "aq", kind: .environment, unit: "d", intervalMillis: 600_000)
        var h = Harness(Catalogue(sensors: [feeder, customer, air]))
        try h.commit([("aq/pm25_ugm3", Self.at(1, 10.5), 20), ("aq/pm25_ugm3", Self.at(1, 11.5), 20), ("aq/pm25_ugm3", Self.at(1, 12.1), 300)])
        #expect(h.values("aq/aqi").map(\.t) == [Self.at(1, 11)])
        #expect(h.values("aq/aqi").last?.v == 40)   // NowCast of 20, 20: 20 -> 40; the 300 at 12:06 is not in it
        let hour = Self.at(1, 0) - Self.at(1, 0) % 3_600_000
        try h.commit([("fd/kwh", hour + 60_000, 0), ("cu/kwh", hour + 120_000, 12)])
        #expect(h.values("transformer.tr/energy_loss_pct").isEmpty)
        #expect(h.values("transformer.tr/feeder_meter_fault").map(\.v) == [1])
    }

    /// A shuffled backlog: each value that describes one reading is stamped at that reading's
    /// time, not bunched after the newest one.
    @Test func aShuffledBacklogIsStampedAtItsReadings() throws {
        var counter = SensorEntry(id: "tf", kind: .traffic, unit: "d", zone: "j", intervalMillis: 60_000)
        counter.freeFlowKmh = 40
        var gauge = SensorEntry(id: "rv", kind: .hydro, unit: "d", intervalMillis: 600_000)
        gauge.alarmLevelsM = [1, 2, 3]
        var h = Harness(Catalogue(sensors: [counter, gauge]))
        let times = (0..<30).map { Self.at(1, 8) + EpochMillis($0) * 60_000 }
        try h.commit(times.reversed().map { ("tf/speed_kmh", $0, 20) } + times.shuffled().map { ("rv/level_m", $0, 2.5) })
        #expect(h.values("tf/congestion").map(\.t).sorted() == times)
        #expect(h.values("tf/travel_time_index").map(\.t).sorted() == times)
        #expect(h.values("rv/water_alarm_level").allSatisfy { times.contains($0.t) })
    }
}
