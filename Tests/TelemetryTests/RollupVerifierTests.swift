import Foundation
import GRDB
import Testing
@testable import Telemetry

/// `RollupVerifier` (what `collector verify` runs) finds every kind of difference between
/// the stored tiers and a recompute from raw, and none in a store that is exact.
@Suite struct RollupVerifierTests {
    @Test func exactStorePassesAndEachCorruptionIsFound() async throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.file("c.sqlite")
        let pool = try TelemetryDatabase.open(path: path)
        let zone = TimeZoneID("Asia/Ho_Chi_Minh")!
        let store = try TelemetryStore(pool: pool, timeZone: zone)
        var rng = SplitMix64(seed: 5)
        let names = try ["v-1/temp_c", "v-2/temp_c", "v-2/rh_pct"].map { try SeriesName(parsing: $0) }
        // Two days of 10 s readings (so every tier is stored), shuffled, with repeats: the
        // store dedupes them.
        var readings = (0..<17_280).flatMap { i in
            names.map { Reading(series: $0, time: 1_795_000_000_000 + EpochMillis(i) * 10_000, value: Double(rng.next(below: 400)) / 4) }
        }
        readings += readings.prefix(500)
        readings.shuffle(using: &rng)
        for part in stride(from: 0, to: readings.count, by: 1_000) {
            var batch = IngestBatch()
            #expect(store.bind(Array(readings[part..<min(part + 1_000, readings.count)]), into: &batch))
            try store.commit(batch, now: 0)
        }
        try store.close()

        let verifier = RollupVerifier(source: TelemetryReader(pool: pool, timeZone: zone), timeZone: zone)
        let clean = try await verifier.verify(from: 0)
        #expect(clean.isExact)
        #expect(clean.series == 3 && clean.readings == 3 * 17_280)
        #expect(clean.readingsByMetric == ["temp_c": 2 * 17_280, "rh_pct": 17_280])
        #expect(clean.fromRaw.isEmpty)
        let times = (0..<17_280).map { 1_795_000_000_000 + EpochMillis($0) * 10_000 }
        #expect(clean.buckets[.minute] == 3 * Set(times.map { $0 / 60_000 }).count)
        #expect(clean.buckets[.hour] == 3 * Set(times.map { $0 / 3_600_000 }).count)

        // One bucket of each tier broken a different way: an early hour counted twice (a row
        // beside its sealed block), a missing bucket, an extra bucket, a last value.
        try await pool.write { db in
            try db.execute(sql: "ATTACH DATABASE ? AS rollups", arguments: [TelemetryDatabase.rollupsPath(for: path)])
            try db.execute(sql: """
                INSERT INTO rollup_1h SELECT series_id, t - 40 * 3600000, cnt, total, lo, hi, first_t, first_v, last_t, last_v
                FROM rollup_1h WHERE series_id = 0 AND t = (SELECT max(t) FROM rollup_1h WHERE series_id = 0)
                """)
            try db.execute(sql: "DELETE FROM rollup_1m WHERE series_id = 1 AND t = (SELECT max(t) FROM rollup_1m)")
            try db.execute(sql: "INSERT INTO rollup_15m SELECT series_id, t + 10 * 86400000, cnt, total, lo, hi, first_t, first_v, last_t, last_v FROM rollup_15m WHERE series_id = 2 AND t = (SELECT max(t) FROM rollup_15m)")
            try db.execute(sql: "UPDATE rollup_1d SET last_v = last_v + 1 WHERE series_id = 2")
        }
        let broken = try await verifier.verify(from: 0, maxReported: 100)
        #expect(!broken.isExact)
        #expect(broken.mismatchCount == [.minute: 1, .quarterHour: 1, .hour: 1, .day: 3])
        #expect(broken.mismatches.contains { $0.tier == .minute && $0.stored == nil && $0.recomputed != nil })
        #expect(broken.mismatches.contains { $0.tier == .quarterHour && $0.stored != nil && $0.recomputed == nil })
        // From a later start, the buckets before it are not checked.
        let later = try await verifier.verify(from: 1_795_000_000_000 + 86_400_000)
        #expect(later.mismatchCount[.hour] == 0 && later.mismatchCount[.minute] == 1)
    }

    /// Across a daylight-saving change (Berlin, 29 March 2026: a 23-hour day) the write path's
    /// day buckets and the verifier's, found by separate code, agree.
    @Test func aShortDayAgrees() async throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let pool = try TelemetryDatabase.open(path: dir.file("c.sqlite"))
        let zone = TimeZoneID("Europe/Berlin")!
        let store = try TelemetryStore(pool: pool, timeZone: zone)
        let name = try SeriesName(parsing: "b-1/temp_c")
        var batch = IngestBatch()
        #expect(store.bind((0..<12_960).map { Reading(series: name, time: 1_774_690_000_000 + EpochMillis($0) * 20_000, value: Double($0 % 97)) },
                           into: &batch))
        try store.commit(batch, now: 0)
        try store.close()
        let report = try await RollupVerifier(source: TelemetryReader(pool: pool, timeZone: zone), timeZone: zone).verify(from: 0)
        #expect(report.isExact, "\(report.mismatches)")
        #expect(report.buckets[.day] == 4)
    }
}
