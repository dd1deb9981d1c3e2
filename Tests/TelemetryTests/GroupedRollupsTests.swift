import Foundation
import Testing
@testable import Telemetry

/// The grouped query's scan (split across cores, 500 ids a statement, array-indexed buckets)
/// against a plain merge of each series' own rollups.
struct GroupedRollupsTests {
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
        var expected = [[EpochMillis: GroupBucket]](repeating: [:], count: 3)
        for (id, buckets) in perSeries {
            for (t, b) in buckets {
                expected[groupOf[id]!][t, default: .empty].merge(GroupBucket(count: b.count, sum: b.sum, min: b.min, max: b.max))
            }
        }
        for g in 0..<3 {
            let want = expected[g].sorted { $0.key < $1.key }
            #expect(grouped[g].map(\.start) == want.map(\.key), "group \(g) buckets")
            for (got, w) in zip(grouped[g], want) {
                #expect(got.bucket.count == w.value.count && got.bucket.min == w.value.min && got.bucket.max == w.value.max)
                #expect(abs(got.bucket.sum - w.value.sum) <= 1e-9 * abs(w.value.sum), "sum at \(got.start)")
            }
        }
        #expect(grouped[0].count > 1 && grouped.map { $0.reduce(0) { $0 + $1.bucket.count } }.allSatisfy { $0 > 0 })
    }
}
