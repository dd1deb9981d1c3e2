import Alerts
import Logging
import Testing
import Telemetry

/// `DerivedReplay` and `DerivedVerifier`: the recompute of a station's derived series from its
/// stored inputs agrees with what the live collector computed in its own commits, and the
/// comparison catches a lost, an altered and an extra derived reading.
@Suite struct DerivedVerifierTests {
    typealias T = DerivedSeriesTests

    static func replay(_ catalogue: Catalogue, _ inputs: [(String, [(EpochMillis, Double)])], horizon: EpochMillis = .min,
                       stored: MemoryHistory = MemoryHistory()) throws -> [SeriesName: [Sample]] {
        let replay = DerivedReplay(catalogue: catalogue, config: DerivedConfig(), timeZone: T.tz, logger: Logger(label: "test"))
        return replay.recompute(try inputs.map { (try SeriesName(parsing: $0.0), $0.1.map { Sample(time: $0.0, value: $0.1) }) },
                                from: horizon, stored: stored)
    }

    static func report(_ name: String, recomputed: [Sample], stored: [Sample]) throws -> DerivedVerifier.Report {
        var v = DerivedVerifier(maxReported: 10)
        v.compare(try SeriesName(parsing: name), recomputed: recomputed, stored: stored, from: .min)
        return v.report
    }

    /// A gauge fed in commits of several readings, a level river station, a forest station:
    /// the replay (one commit per reading time) gives what the live series stored.
    @Test func theReplayAgreesWithTheLiveSeries() throws {
        var river = SensorEntry(id: "h-r", kind: .hydro, unit: "sin-ho", intervalMillis: 600_000)
        river.metrics = ["rain_mm": "mm", "level_m": "m"]
        river.alarmLevelsM = [2, 3, 4]
        let forest = T.gauge("f-1", zone: "z-1", kind: .forest)
        let cat = Catalogue(sensors: [river, forest])
        var h = T.Harness(cat)
        var inputs: [String: [(EpochMillis, Double)]] = [:]
        var batch: [(String, EpochMillis, Double)] = []
        for i in 0..<200 {
            let t = T.at(1, 0) + EpochMillis(i) * 600_000
            let rs = [("h-r/rain_mm", t, Double(i % 7) * 3), ("h-r/level_m", t, 1.5 + Double(i) / 60),
                      ("f-1/temp_c", t, 25 + Double(i % 12)), ("f-1/rh_pct", t, 40 + Double(i % 9)), ("f-1/rain_mm", t, i % 50 == 0 ? 4 : 0)]
            for r in rs { inputs[r.0, default: []].append((r.1, r.2)) }
            batch += rs
            if i % 3 == 2 { try h.commit(batch); batch = [] }   // commits of three reading times
        }
        try h.commit(batch)
        let recomputed = try Self.replay(cat, inputs.map { ($0.key, $0.value) })
        var v = DerivedVerifier(maxReported: 10)
        var stored: [SeriesName: [Sample]] = [:]
        for r in h.out { stored[r.series, default: []].append(Sample(time: r.time, value: r.value)) }
        for name in Set(stored.keys).union(recomputed.keys) {
            v.compare(name, recomputed: recomputed[name] ?? [], stored: (stored[name] ?? []).sorted { $0.time < $1.time }, from: .min)
        }
        #expect(v.report.isExact, "\(v.report.mismatches)")
        #expect(v.report.series >= 8 && v.report.points > 1000, "\(v.report)")
    }

    /// A river station's backlog of 300 one-minute readings in one commit, more than the
    /// latest samples hold: each reading's rise over the hour before it is the replay's
    /// (before, the readings early in the backlog took their base from its end).
    @Test func aBacklogLongerThanTheLatestSamplesKeepsItsRise() throws {
        var river = SensorEntry(id: "h-b", kind: .hydro, unit: "sin-ho", intervalMillis: 60_000)
        river.metrics = ["level_m": "m"]
        river.alarmLevelsM = [2, 3, 4]
        let cat = Catalogue(sensors: [river])
        var h = T.Harness(cat)
        let levels = (0..<300).map { i in (T.at(1, 0) + EpochMillis(i) * 60_000, 1 + Double(i * i) / 10_000) }
        try h.commit(levels.map { ("h-b/level_m", $0.0, $0.1) })
        let rise = try SeriesName(parsing: "h-b/level_rise_m_h")
        let live = h.out.filter { $0.series == rise }.map { Sample(time: $0.time, value: $0.value) }
        let recomputed = try Self.replay(cat, [("h-b/level_m", levels)])[rise] ?? []
        #expect(live.count == 295 && recomputed.count == 295)
        var v = DerivedVerifier(maxReported: 5)
        v.compare(rise, recomputed: recomputed, stored: live, from: .min)
        #expect(v.report.isExact, "\(v.report.mismatches)")
    }

    /// Points (one value per reading or hour): a lost, an altered and an extra one are each a mismatch.
    @Test func pointsMustBeExactlyTheRecomputedOnes() throws {
        let recomputed = [Sample(time: 1000, value: 0.5), Sample(time: 2000, value: 0.6), Sample(time: 3000, value: 0.7)]
        #expect(try Self.report("tr-1/congestion", recomputed: recomputed, stored: recomputed).isExact)
        let lost = try Self.report("tr-1/congestion", recomputed: recomputed, stored: [recomputed[0], recomputed[2]])
        #expect(lost.mismatchCount == 1 && lost.mismatches[0].contains("missing"))
        let altered = try Self.report("tr-1/congestion", recomputed: recomputed,
                                      stored: [recomputed[0], Sample(time: 2000, value: 0.61), recomputed[2]])
        #expect(altered.mismatchCount == 1 && altered.mismatches[0].contains("stored 0.61"))
        let extra = try Self.report("tr-1/congestion", recomputed: recomputed, stored: recomputed + [Sample(time: 4000, value: 1)])
        #expect(extra.mismatchCount == 1 && extra.mismatches[0].contains("not recomputed"))
    }

    /// Settled values (levels, sums "as of"): a level restated after a restart and a commit
    /// split in two (an intermediate value, the final one a millisecond later) are no
    /// difference; a level that is wrong until the next change is.
    @Test func settledValuesAreComparedOnceTheirCommitsAreDone() throws {
        let recomputed = [Sample(time: 0, value: 1), Sample(time: 600_000, value: 2), Sample(time: 1_200_000, value: 3)]
        let restated = [Sample(time: 0, value: 1), Sample(time: 300_000, value: 1), Sample(time: 600_000, value: 1.5),
                        Sample(time: 600_001, value: 2), Sample(time: 1_200_000, value: 3)]
        #expect(try Self.report("h-1/flood_risk_level", recomputed: recomputed, stored: restated).isExact)
        let late = [Sample(time: 0, value: 1), Sample(time: 600_000, value: 1), Sample(time: 1_200_000, value: 3)]
        let r = try Self.report("h-1/flood_risk_level", recomputed: recomputed, stored: late)
        #expect(r.mismatchCount == 1 && r.mismatches[0].contains("at 600000"), "\(r.mismatches)")
        // Scope maxima are not compared.
        #expect(DerivedVerifier.comparison(of: try SeriesName(parsing: "district.sin-ho/flood_risk_level")) == nil)
    }

    /// From a horizon on: the state before it (the earlier rainy days) comes from storage,
    /// as at a restart.
    @Test func aReplayFromAHorizonStartsFromWhatIsStoredBeforeIt() throws {
        let cat = Catalogue(sensors: [T.gauge("h-1", susceptibility: .medium)])
        let t = T.at(5, 12)
        let stored = MemoryHistory()
        stored.stored[try SeriesName(parsing: "h-1/rain_mm")] = [Sample(time: T.at(3, 10), value: 30), Sample(time: T.at(2, 10), value: 30),
                                                                 Sample(time: T.at(4, 10), value: 30), Sample(time: t - 3_600_000, value: 150),
                                                                 Sample(time: t, value: 60)]   // at the horizon: not from storage
        let out = try Self.replay(cat, [("h-1/rain_mm", [(t, 60)])], horizon: t, stored: stored)
        #expect(out[try SeriesName(parsing: "h-1/rain_24h_mm")]?.map(\.value) == [210])
        #expect(out[try SeriesName(parsing: "h-1/flood_risk_level")]?.map(\.value) == [2])
    }
}
