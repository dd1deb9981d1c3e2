import Foundation
import Testing
@testable import Telemetry

/// The grouped query's scan (split across cores, 500 ids a statement, array-indexed buckets)
/// against a plain merge of each series' own rollups.
struct GroupedRollupsTests {
    /// The grouped answer equals each series' own buckets merged per group (sums up to
    /// floating-point addition order).
    static func expectGroupsMatch(_ grouped: [[(start: EpochMillis, bucket: GroupBucket)]],
                                  _ perSeries: [SeriesID: [EpochMillis: Bucket]], groupOf: [SeriesID: Int]) {
        var expected = [[EpochMillis: GroupBucket]](repeating: [:], count: grouped.count)
        for (id, buckets) in perSeries {
            for (t, b) in buckets {
                expected[groupOf[id]!][t, default: .empty].merge(GroupBucket(count: b.count, sum: b.sum, min: b.min, max: b.max))
            }
        }
        for g in grouped.indices {
            let want = expected[g].sorted { $0.key < $1.key }
            #expect(grouped[g].map(\.start) == want.map(\.key), "group \(g) buckets")
            for (got, w) in zip(grouped[g], want) {
                #expect(got.bucket.count == w.value.count && got.bucket.min == w.value.min && got.bucket.max == w.value.max)
                #expect(abs(got.bucket.sum - w.value.sum) <= 1e-9 * abs(w.value.sum), "sum at \(got.start)")
            }
        }
    }

    @Test(arguments: ["15m", "1h", "2d"])
    func matchesPerSeriesMerge(step: String) async throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let zone = TimeZoneID("Asia/Ho_Chi_Minh")!
        let start: EpochMillis = 1_795_000_000_000
        let path = dir.file("t.sqlite")
        // Seconds of work in a debug build: on a thread of its own, not the test pool's.
        let pool = try await onOwnThread(checking: { check in
            let pool = try TelemetryDatabase.open(path: path)
            let store = try TelemetryStore(pool: pool, timeZone: zone)
            // 1,100 series (two parts on two cores, two statements each), three groups, readings
            // every 97 minutes for two days with a gap in group 1's data, values from a fixed seed.
            var rng = SplitMix64(seed: 11)
            var batch = IngestBatch()
            for s in 0..<1100 {
                let name = try SeriesName(sensor: "s\(s)", metric: "v")
                var readings: [Reading] = []
                for k in 0..<(2 * 24 * 60 / 97) where !(s % 3 == 1 && k % 10 < 3) {
                    readings.append(Reading(series: name, time: start + Int64(k) * 5_820_000 + Int64(s) * 1_000, value: Double(rng.next() % 10_000) / 100))
                }
                check(store.bind(readings, into: &batch))
            }
            try store.commit(batch, now: start + 3 * 86_400_000)
            try store.close()
            return pool
        })
        let reader = TelemetryReader(pool: pool, timeZone: zone)
        let plan = try #require(StepPlan(step: step))
        let from = start + 3_600_000, to = start + 40 * 3_600_000
        var groupOf: [SeriesID: Int] = [:]
        for s in 0..<1100 { groupOf[try #require(await reader.seriesID(SeriesName(sensor: "s\(s)", metric: "v")))] = s % 3 }

        let grouped = try await reader.groupedRollups(groupOf, groupCount: 3, plan: plan, from: from, to: to)
        let perSeries = try await reader.rollups(Array(groupOf.keys), plan: plan, from: from, to: to)
        Self.expectGroupsMatch(grouped, perSeries, groupOf: groupOf)
        #expect(grouped[0].count > 1 && grouped.map { $0.reduce(0) { $0 + $1.bucket.count } }.allSatisfy { $0 > 0 })
    }

    /// Tiers answered from raw readings (`TierSizing`): 5-minute series store 1h and up, so
    /// 15m and 30m steps are aggregated from their blocks and their pending readings (a live
    /// store's, some series with nothing stored yet); the grouped scan (one statement for
    /// many series) agrees with each series' own answer.
    @Test(arguments: ["15m", "30m", "1h"])
    func tiersAnsweredFromRawMatchPerSeries(step: String) async throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let zone = TimeZoneID("Asia/Ho_Chi_Minh")!
        let start: EpochMillis = 1_795_000_000_000
        let pool = try TelemetryDatabase.open(path: dir.file("t.sqlite"))
        var rng = SplitMix64(seed: 12)
        let names = try (0..<300).map { try SeriesName(sensor: "s\($0)", metric: "v") }
        do {
            let store = try TelemetryStore(pool: pool, timeZone: zone)
            try store.commitInBatches((0..<576).flatMap { k in
                names.map { Reading(series: $0, time: start + Int64(k) * 300_000, value: Double(rng.next() % 1_000) / 10) }
            }, of: 20_000)
            try store.close(sealingRollupsBefore: .max)
        }
        let fromRaw = try await pool.read { try TierSizing.counts($0) }
        #expect(fromRaw[.quarterHour] == 300 && fromRaw[.hour] == nil)
        // A live store: late and new readings pending, and new series with nothing stored.
        let store = try TelemetryStore(pool: pool, timeZone: zone)
        let fresh = try (0..<20).map { try SeriesName(sensor: "new\($0)", metric: "v") }
        var more = (0..<2_000).map { _ in
            Reading(series: names[Int(rng.next() % 300)], time: start + Int64(rng.next() % 576) * 300_000 + 7_000, value: 1)
        }
        more += fresh.flatMap { n in (0..<50).map { Reading(series: n, time: start + Int64($0) * 300_000, value: 2) } }
        try store.commitInBatches(more, of: 20_000)
        #expect(store.rawPendingCount > 0)
        let reader = TelemetryReader(pool: pool, timeZone: zone, pending: store.rawPending)
        let plan = try #require(StepPlan(step: step))
        let from = start + 3_600_000, to = start + 40 * 3_600_000
        var groupOf: [SeriesID: Int] = [:]
        for (k, n) in (names + fresh).enumerated() { groupOf[try #require(store.registry.id(of: n))] = k % 4 }
        let grouped = try await reader.groupedRollups(groupOf, groupCount: 4, plan: plan, from: from, to: to)
        let perSeries = try await reader.rollups(Array(groupOf.keys), plan: plan, from: from, to: to)
        Self.expectGroupsMatch(grouped, perSeries, groupOf: groupOf)
        // One series by name (its id looked up in the same read) answers as by id.
        for n in [names[0], names[7], fresh[3]] {
            let id = try #require(store.registry.id(of: n))
            let byName = try #require(try await reader.rollups(named: n, plan: plan, from: from, to: to))
            let byID = perSeries[id] ?? [:]
            #expect(byName.map(\.start) == byID.keys.sorted())
            for (start, b) in byName {
                let e = byID[start]
                #expect(e.map { $0.count == b.count && $0.min == b.min && $0.max == b.max && $0.first == b.first && $0.last == b.last
                    && abs($0.sum - b.sum) <= 1e-9 * max(1, abs(b.sum)) } == true, "\(n) \(start)")
            }
        }
        #expect(try await reader.rollups(named: SeriesName(sensor: "nobody", metric: "v"), plan: plan, from: from, to: to) == nil)
        // Every reading in range counted once, pending ones included.
        let w = plan.tier.widthMillis
        let (lower, upper) = (EpochMillis.floorDiv(from, w) * w, EpochMillis.floorDiv(to - 1, w) * w + w)
        var keys = Set<[Int64]>()
        for k in 0..<576 { for n in names.indices { keys.insert([Int64(n), start + Int64(k) * 300_000]) } }
        for r in more { keys.insert([Int64((names + fresh).firstIndex(of: r.series)!), r.time]) }
        let inRange = keys.filter { $0[1] >= lower && $0[1] < upper }.count
        #expect(grouped.flatMap { $0 }.reduce(Int64(0)) { $0 + $1.bucket.count } == Int64(inRange))
        try store.close()
    }
}
