import Foundation
import GRDB
import Testing
@testable import Telemetry

/// Rollup rows are sealed into rollup blocks once a series' rows span a block's worth of
/// buckets; late readings then merge into the sealed blocks; an import's end seals the rest.
/// Whatever was sealed when, every tier equals its recompute from raw, and no bucket is both
/// a row and in a block.
@Suite struct RollupSealingTests {
    @Test func blocksMergeLikeTheirOracle() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let q = try DatabaseQueue(path: dir.file("r.sqlite"))
        try q.write { try RollupBlockStore.createTable($0) }
        var rng = SplitMix64(seed: 31)
        var oracle: [EpochMillis: Bucket] = [:]
        for _ in 0..<30 {
            // A run of deltas: some new buckets, some onto stored ones.
            let base = EpochMillis(rng.next() % 3_000) * 60_000
            var run: [(start: EpochMillis, bucket: Bucket)] = []
            for k in 0..<Int(1 + rng.next() % 700) where rng.next() % 3 != 0 {
                let start = base + EpochMillis(k) * 60_000
                var b = Bucket.empty
                for _ in 0..<Int(1 + rng.next() % 4) { b.add(time: start + EpochMillis(rng.next() % 60_000), value: Double(rng.next() % 1_000) / 10) }
                run.append((start, b))
                oracle[start, default: .empty].merge(b)
            }
            try q.write { try RollupBlockStore.merge(run, tier: .minute, series: SeriesID(4), $0) }
        }
        try q.read { db in
            let stored = try RollupBlockStore.buckets(tier: .minute, series: SeriesID(4), from: .min, to: .max, db)
            let expected = oracle.sorted { $0.key < $1.key }
            #expect(stored.map(\.start) == expected.map(\.key))
            for (s, e) in zip(stored, expected) {
                let (x, y) = (s.bucket, e.value)
                #expect(x.count == y.count && x.min == y.min && x.max == y.max && x.first == y.first && x.last == y.last
                        && x.firstTime == y.firstTime && x.lastTime == y.lastTime && abs(x.sum - y.sum) < 1e-9, "\(s.start)")
            }
            #expect(try RollupBlockStore.buckets(tier: .hour, series: SeriesID(4), from: .min, to: .max, db).isEmpty)
        }
    }

    @Test func sealedTiersStayExactUnderLateReadingsAndAnImportsEnd() async throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.file("c.sqlite")
        let zone = TimeZoneID("Asia/Ho_Chi_Minh")!
        let names = try ["s-1/temp_c", "s-2/temp_c"].map { try SeriesName(parsing: $0) }
        var rng = SplitMix64(seed: 32)
        let t0: EpochMillis = 1_795_000_000_000
        func verify(_ pool: DatabasePool) async throws {
            let report = try await RollupVerifier(source: TelemetryReader(pool: pool, timeZone: zone), timeZone: zone).verify(from: 0)
            #expect(report.isExact, "\(report.mismatches.prefix(3))")
            // No bucket both a row and in a block.
            let both = try await pool.read { db in
                var n = 0
                for tier in Tier.allCases {
                    for id in 0..<Int32(names.count) {
                        let rows = Set(try EpochMillis.fetchAll(db, sql: "SELECT t FROM \(tier.table) WHERE series_id = ?", arguments: [id]))
                        n += try RollupBlockStore.buckets(tier: tier, series: SeriesID(id), from: .min, to: .max, db)
                            .filter { rows.contains($0.start) }.count
                    }
                }
                return n
            }
            #expect(both == 0)
        }
        // Two days of 10 s readings in time order: each series' minutes pass 512 buckets,
        // so rows are sealed as they come.
        let pool = try TelemetryDatabase.open(path: path)
        do {
            let store = try TelemetryStore(pool: pool, timeZone: zone)
            try store.commitInBatches((0..<17_280).flatMap { i in
                names.map { Reading(series: $0, time: t0 + EpochMillis(i) * 10_000, value: Double(rng.next(below: 1_000)) / 10) }
            })
            try store.mergeRollups()
            let sealed = try await pool.read { try RollupBlockStore.bucketCount(tier: .minute, $0) }
            #expect(sealed > 2 * 2_000, "minutes sealed while ingesting: \(sealed)")
            // Late readings into sealed minutes (a second off the grid, so new), and repeats.
            var late = (0..<3_000).map { _ in
                Reading(series: names[Int(rng.next() % 2)], time: t0 + EpochMillis(rng.next() % 10_000) * 10_000 + 1_000, value: 1)
            }
            late += late.prefix(200)
            try store.commitInBatches(late)
            try store.close()
        }
        try await verify(pool)
        // Reopened: the sealed state comes back from the blocks; more late and new readings,
        // then an import's end seals every row.
        do {
            let store = try TelemetryStore(pool: pool, timeZone: zone)
            try store.commitInBatches((0..<2_000).map { _ in
                Reading(series: names[Int(rng.next() % 2)], time: t0 + EpochMillis(rng.next() % 20_000) * 10_000 + 2_000, value: 2)
            })
            try store.close(sealingRollupsBefore: .max)
        }
        try await verify(pool)
        let rows = try await pool.read { db in
            try Tier.allCases.map { try Int.fetchOne(db, sql: "SELECT count(*) FROM \($0.table)") ?? -1 }
        }
        #expect(rows == [0, 0, 0, 0], "every row sealed: \(rows)")
        // And a store that goes on after that: new buckets as rows again, late ones into blocks.
        do {
            let store = try TelemetryStore(pool: pool, timeZone: zone)
            try store.commitInBatches(names.flatMap { n in (0..<100).map { Reading(series: n, time: t0 + 2 * 86_400_000 + EpochMillis($0) * 10_000, value: 3) } })
            try store.commitInBatches(names.map { Reading(series: $0, time: t0 + 5_000, value: 4) })
            try store.close()
        }
        try await verify(pool)
    }
}
