import Foundation
import GRDB
import Testing
@testable import Telemetry

/// Rollups sized to the series: a tier whose buckets hold fewer than four readings is not
/// stored but answered from the raw readings, the same for every reader; each tier can be
/// pruned on its own.
@Suite struct TierSizingTests {
    /// Rows of `n` buckets of `width`, each with `perBucket` readings `interval` apart.
    static func rows(_ n: Int, width: Int64, perBucket: Int, interval: Int64) -> [Bucket] {
        (0..<n).map { i in
            var b = Bucket.empty
            for k in 0..<perBucket { b.add(time: Int64(i) * width + Int64(k) * interval, value: 1) }
            return b
        }
    }

    @Test func theRuleFindsTheSeriesInterval() {
        // Too few rows to drop a tier; enough to keep one.
        #expect(TierSizing.keeps(.minute, buckets: Self.rows(15, width: 60_000, perBucket: 1, interval: 0)) == nil)
        #expect(TierSizing.keeps(.minute, buckets: Self.rows(15, width: 60_000, perBucket: 3, interval: 20_000)) == nil)
        #expect(TierSizing.keeps(.minute, buckets: Self.rows(3, width: 60_000, perBucket: 6, interval: 10_000)) == true)
        // A 15-minute series: one reading a minute or a quarter (no spacing shown), four an hour.
        #expect(TierSizing.keeps(.minute, buckets: Self.rows(128, width: 60_000, perBucket: 1, interval: 0)) == false)
        #expect(TierSizing.keeps(.quarterHour, buckets: Self.rows(128, width: 900_000, perBucket: 1, interval: 0)) == false)
        #expect(TierSizing.keeps(.hour, buckets: Self.rows(128, width: 3_600_000, perBucket: 4, interval: 900_000)) == true)
        // A station whose clock runs a little slow still keeps its hours; one reporting every
        // 17 minutes (3.5 an hour) does not.
        #expect(TierSizing.keeps(.hour, buckets: Self.rows(128, width: 3_600_000, perBucket: 3, interval: 900_200)) == true)
        #expect(TierSizing.keeps(.hour, buckets: Self.rows(128, width: 3_600_000, perBucket: 3, interval: 1_020_000)) == false)
        // A 10 s or 15 s series keeps its minutes; a 20 s one (three a minute) does not.
        #expect(TierSizing.keeps(.minute, buckets: Self.rows(128, width: 60_000, perBucket: 6, interval: 10_000)) == true)
        #expect(TierSizing.keeps(.minute, buckets: Self.rows(128, width: 60_000, perBucket: 4, interval: 15_000)) == true)
        #expect(TierSizing.keeps(.minute, buckets: Self.rows(128, width: 60_000, perBucket: 3, interval: 20_000)) == false)
        // A 10 s series whose readings came out of order: most rows hold one reading, a few
        // two some way apart; the closest pair shows the interval.
        var partial = Self.rows(120, width: 60_000, perBucket: 1, interval: 0)
        partial += Self.rows(6, width: 60_000, perBucket: 2, interval: 40_000)
        partial += Self.rows(2, width: 60_000, perBucket: 2, interval: 10_000)
        #expect(TierSizing.keeps(.minute, buckets: partial) == true)
        // The day tier is always kept: it outlives the raw readings.
        #expect(TierSizing.keeps(.day, buckets: Self.rows(1, width: 86_400_000, perBucket: 1, interval: 0)) == true)
    }

    @Test func rawBucketsAgreeWithANaiveAggregate() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let q = try DatabaseQueue(path: dir.file("b.sqlite"))
        try q.write { try BlockStore.createTable($0) }
        let days = LocalDays(timeZone: TimeZoneID("Asia/Ho_Chi_Minh")!.zone)
        var rng = SplitMix64(seed: 41)
        let t0: EpochMillis = 1_795_000_000_000
        var stored: [Sample] = []
        for i in 0..<3_000 { stored.append(Sample(time: t0 + EpochMillis(i) * 900_000 + EpochMillis(rng.next() % 1_000), value: Double(rng.next() % 500) / 10)) }
        try q.write { _ = try BlockStore.insert(stored, series: SeriesID(2), $0) }
        // Pending readings: new ones after, late ones between, and some already stored.
        var recent = (0..<200).map { Sample(time: t0 + 3_000 * 900_000 + EpochMillis($0) * 60_000, value: Double($0)) }
        recent += (0..<100).map { _ in Sample(time: t0 + EpochMillis(rng.next() % 2_000_000_000) | 1, value: 7) }
        recent += stored.prefix(50)
        recent.sort { $0.time < $1.time }
        var all: [EpochMillis: Double] = [:]
        for s in stored { all[s.time] = s.value }
        for s in recent where all[s.time] == nil { all[s.time] = s.value }
        for tier in Tier.allCases {
            let from = t0 + 86_400_000, to = t0 + 30 * 86_400_000
            let lower = tier == .day ? days.lookup(from).start : EpochMillis.floorDiv(from, tier.widthMillis) * tier.widthMillis
            var oracle: [EpochMillis: Bucket] = [:]
            for (t, v) in all {
                let start = tier == .day ? days.lookup(t).start : EpochMillis.floorDiv(t, tier.widthMillis) * tier.widthMillis
                guard start >= lower && start < to else { continue }
                oracle[start, default: .empty].add(time: t, value: v)
            }
            let got = try q.read { try TierSizing.rawBuckets(tier, series: SeriesID(2), days: days, from: lower, to: to, recent: recent, $0) }
            #expect(got.map(\.start) == oracle.keys.sorted(), "\(tier)")
            for (start, b) in got {
                let e = oracle[start]!
                #expect(b.count == e.count && b.min == e.min && b.max == e.max && b.first == e.first && b.last == e.last
                        && abs(b.sum - e.sum) < 1e-9, "\(tier) \(start)")
            }
        }
    }

    /// A 15-minute series stores 1h and 1d only; a 10 s one every tier. Every reader answers
    /// every tier of both, late readings included, and the choice outlives a restart.
    @Test func aSlowSeriesIsAnsweredFromRawWhereItsBucketsAreThin() async throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.file("c.sqlite")
        let zone = TimeZoneID("Asia/Ho_Chi_Minh")!
        let slow = try SeriesName(parsing: "river-1/water_level_m")
        let fast = try SeriesName(parsing: "forest-1/temp_c")
        let t0: EpochMillis = 1_795_000_000_000
        // Ten days of a 15-minute gauge and one day of a 10 s sensor, in time order.
        var readings = (0..<960).map { Reading(series: slow, time: t0 + EpochMillis($0) * 900_000, value: 1 + Double($0 % 37) / 100) }
        readings += (0..<8_640).map { Reading(series: fast, time: t0 + EpochMillis($0) * 10_000, value: 20 + Double($0 % 50) / 10) }
        readings.sort { $0.time < $1.time }
        let pool = try TelemetryDatabase.open(path: path)
        do {
            let store = try TelemetryStore(pool: pool, timeZone: zone)
            try store.commitInBatches(readings)
            try store.mergeRollups()
            // A late reading into a tier answered from raw, and one into a stored one.
            try store.commitInBatches([Reading(series: slow, time: t0 + 5 * 900_000 + 1_000, value: 9),
                               Reading(series: fast, time: t0 + 5_000, value: 9)])
            try store.close()
        }
        let ids = try await pool.read { db in
            try (Int32.fetchOne(db, sql: "SELECT id FROM series WHERE name = ?", arguments: [slow.description])!,
                 Int32.fetchOne(db, sql: "SELECT id FROM series WHERE name = ?", arguments: [fast.description])!)
        }
        func stored(_ tier: Tier, _ id: Int32) async throws -> Int {
            try await pool.read { db in
                try Int.fetchOne(db, sql: "SELECT count(*) FROM \(tier.table) WHERE series_id = ?", arguments: [id])!
                    + RollupBlockStore.buckets(tier: tier, series: SeriesID(id), from: .min, to: .max, db).count
            }
        }
        let fromRaw = try await pool.read { db in
            try Tier.allCases.map { try TierSizing.fromRaw($0, among: [ids.0, ids.1], db) }
        }
        #expect(fromRaw == [[ids.0], [ids.0], [], []], "\(fromRaw)")
        let counts = (try await stored(.minute, ids.0), try await stored(.quarterHour, ids.0),
                      try await stored(.hour, ids.0), try await stored(.minute, ids.1))
        #expect(counts.0 == 0 && counts.1 == 0 && counts.2 >= 240 && counts.3 >= 1_440, "\(counts)")

        let reader = TelemetryReader(pool: pool, timeZone: zone)
        let report = try await RollupVerifier(source: reader, timeZone: zone).verify(from: 0)
        #expect(report.isExact, "\(report.mismatches.prefix(3))")
        #expect(report.fromRaw == [.minute: 1, .quarterHour: 1])
        // Every minute of the gauge answered, the late one included, single and grouped.
        let minutes = try await reader.rollups([SeriesID(ids.0)], plan: StepPlan(step: "1m")!, from: t0, to: t0 + 10 * 86_400_000)
        let late = EpochMillis.floorDiv(t0 + 5 * 900_000, 60_000) * 60_000
        #expect(minutes[SeriesID(ids.0)]?.count == 960 && minutes[SeriesID(ids.0)]?[late]?.count == 2)
        let day = t0 + 86_400_000
        let grouped = try await reader.groupedRollups([SeriesID(ids.0): 0, SeriesID(ids.1): 1], groupCount: 2,
                                                      plan: StepPlan(step: "15m")!, from: t0, to: day)
        let quarter = EpochMillis.floorDiv(day - 1, 900_000) * 900_000 + 900_000   // the last bucket's end
        let slowInDay = readings.filter { $0.series == slow && $0.time < quarter }.count + 1
        let fastInDay = readings.filter { $0.series == fast && $0.time < quarter }.count + 1
        #expect(grouped[0].map(\.bucket.count).reduce(0, +) == Int64(slowInDay) && grouped[0].count == 97)
        #expect(grouped[1].map(\.bucket.count).reduce(0, +) == Int64(fastInDay) && grouped[1].count == 97)

        // Reopened: the choice stands (no rows come back), and new readings are answered.
        do {
            let store = try TelemetryStore(pool: pool, timeZone: zone)
            try store.commitInBatches((0..<8).map { Reading(series: slow, time: t0 + (960 + EpochMillis($0)) * 900_000, value: 3) })
            try store.close()
        }
        let later = (try await stored(.minute, ids.0), try await stored(.quarterHour, ids.0))
        #expect(later.0 == 0 && later.1 == 0, "\(later)")
        let after = try await RollupVerifier(source: reader, timeZone: zone).verify(from: 0)
        #expect(after.isExact && after.readings == report.readings + 8, "\(after.mismatches.prefix(3))")
        // A stray row in a tier answered from raw is seen by every reader, so verify finds it.
        try await pool.write { db in
            try db.execute(sql: "ATTACH DATABASE ? AS rollups", arguments: [TelemetryDatabase.rollupsPath(for: path)])
            try db.execute(sql: "INSERT INTO rollup_1m SELECT * FROM rollup_1h WHERE series_id = ? LIMIT 1", arguments: [ids.0])
        }
        let stray = try await RollupVerifier(source: reader, timeZone: zone).verify(from: 0)
        #expect(stray.mismatchCount[.minute] == 1)
    }

    /// The choice is made as soon as the rows can tell (`minBucketsToDecide` of them before
    /// the head), not at the first seal of a full head: a 15-minute series stops taking 1m
    /// and 15m rows after a few hours of readings, and a 10 s series seals its first minutes.
    @Test func aTierIsDecidedOnceItsRowsCanTell() async throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let zone = TimeZoneID("Asia/Ho_Chi_Minh")!
        let slow = try SeriesName(parsing: "river-1/water_level_m")
        let fast = try SeriesName(parsing: "forest-1/temp_c")
        let t0: EpochMillis = 1_795_000_000_000
        let pool = try TelemetryDatabase.open(path: dir.file("d.sqlite"))
        let store = try TelemetryStore(pool: pool, timeZone: zone)
        // Six hours of the gauge and half an hour of the sensor, a batch every 15 minutes,
        // merged as they come: fewer rows than a seal of a full head needs.
        for q in 0..<24 {
            var batch = [Reading(series: slow, time: t0 + EpochMillis(q) * 900_000, value: 1)]
            if q < 2 { batch += (0..<90).map { Reading(series: fast, time: t0 + EpochMillis(q) * 900_000 + EpochMillis($0) * 10_000, value: 2) } }
            try store.commitInBatches(batch)
            try store.mergeRollups()
        }
        let fromRaw = try await pool.read { try TierSizing.counts($0) }
        #expect(fromRaw == [.minute: 1, .quarterHour: 1], "\(fromRaw)")
        let sealed = try await pool.read { db in
            try RollupBlockStore.buckets(tier: .minute, series: SeriesID(Int32.fetchOne(db, sql: "SELECT id FROM series WHERE name = ?", arguments: [fast.description])!),
                                         from: .min, to: .max, db).count
        }
        #expect(sealed >= 16, "\(sealed)")
        try store.close()
        let report = try await RollupVerifier(source: TelemetryReader(pool: pool, timeZone: zone), timeZone: zone).verify(from: 0)
        #expect(report.isExact && report.readings == 24 + 180)
    }

    /// A tier whose rows reach back past the raw readings kept (a store from before tiers
    /// were sized, its old rows never sealed) is not dropped: its rows would be the only copy.
    @Test func aTierOlderThanTheRawReadingsKeptIsNotDropped() async throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let zone = TimeZoneID("Asia/Ho_Chi_Minh")!
        let slow = try SeriesName(parsing: "river-1/water_level_m")
        let t0: EpochMillis = 1_795_000_000_000
        let readings = (0..<960).map { Reading(series: slow, time: t0 + EpochMillis($0) * 900_000, value: 1) }
        for horizon in [t0 + 86_400_000, t0 - 86_400_000] {
            let pool = try TelemetryDatabase.open(path: dir.file("h\(horizon).sqlite"))
            let store = try TelemetryStore(pool: pool, timeZone: zone, rawHorizon: { horizon })
            try store.commitInBatches(readings, of: 100)
            try store.close(sealingRollupsBefore: .max)
            let fromRaw = try await pool.read { try TierSizing.counts($0) }
            // Raw readings pruned after the first day: kept; all of them still there: dropped.
            #expect(fromRaw == (horizon > t0 ? [:] : [.minute: 1, .quarterHour: 1]), "horizon \(horizon): \(fromRaw)")
            let report = try await RollupVerifier(source: TelemetryReader(pool: pool, timeZone: zone), timeZone: zone).verify(from: 0)
            #expect(report.isExact && report.readings == 960)
        }
    }

    @Test func aTierIsPrunedOnItsOwn() async throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.file("p.sqlite")
        let zone = TimeZoneID("Asia/Ho_Chi_Minh")!
        let name = try SeriesName(parsing: "forest-1/temp_c")
        let t0: EpochMillis = 1_795_000_000_000
        let pool = try TelemetryDatabase.open(path: path)
        let store = try TelemetryStore(pool: pool, timeZone: zone)
        // Two days of 10 s readings: minutes sealed into blocks as they come, the newest rows.
        let readings = (0..<17_280).map { Reading(series: name, time: t0 + EpochMillis($0) * 10_000, value: Double($0 % 90) / 10) }
        try store.commitInBatches(readings)
        try store.mergeRollups()
        let horizon = t0 + 86_400_000 + 7 * 60_000 + 30_000   // inside a block, not on a minute
        let allMinutes = Set(readings.map { EpochMillis.floorDiv($0.time, 60_000) * 60_000 })
        let older = allMinutes.filter { $0 < horizon }.count
        #expect(try store.pruneRollups(.minute, before: horizon) == older)
        try store.close()
        let reader = TelemetryReader(pool: pool, timeZone: zone)
        let minutes = try await reader.rollups([SeriesID(0)], plan: StepPlan(step: "1m")!, from: 0, to: .max)[SeriesID(0)] ?? [:]
        #expect(minutes.count == allMinutes.count - older && minutes.keys.min() == allMinutes.filter { $0 >= horizon }.min())
        // The other tiers keep everything, and what is left still equals its recompute.
        let hours = try await reader.rollups([SeriesID(0)], plan: StepPlan(step: "1h")!, from: 0, to: .max)[SeriesID(0)] ?? [:]
        #expect(hours.values.map(\.count).reduce(0, +) == 17_280)
        let report = try await RollupVerifier(source: reader, timeZone: zone).verify(from: 0, tierFrom: [.minute: horizon])
        #expect(report.isExact, "\(report.mismatches.prefix(3))")
    }
}
