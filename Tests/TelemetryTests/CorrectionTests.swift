import Foundation
import GRDB
import Testing
@testable import Telemetry

/// A correction replaces a derived series' stored samples from a time on
/// (`TelemetryStore.commitCorrections`): the raw readings, `series.last_*` and every rollup tier
/// follow, whether its buckets are rows or sealed blocks, and a restart neither brings a
/// replaced reading back nor loses a set bucket.
@Suite struct CorrectionTests {
    let zone = TimeZoneID("Asia/Ho_Chi_Minh")!
    let t0: EpochMillis = 1_795_000_000_000

    /// Every tier against the raw readings (the store's waiting ones written first).
    func verify(_ pool: DatabasePool, _ comment: Comment, writing store: TelemetryStore? = nil) async throws {
        try store?.writePendingRaw()
        let report = try await RollupVerifier(source: TelemetryReader(pool: pool, timeZone: zone), timeZone: zone).verify(from: 0)
        #expect(report.isExact, "\(comment): \(report.mismatches.prefix(3))")
        #expect(report.buckets.values.reduce(0, +) > 0)
    }

    func raw(_ pool: DatabasePool, _ id: Int32) async throws -> [Sample] {
        try await pool.read { try BlockStore.samples(series: SeriesID(id), from: .min, to: .max, $0) }
    }

    @Test func aCorrectionReplacesRawReadingsAndEveryTier() async throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let pool = try TelemetryDatabase.open(path: dir.file("c.sqlite"))
        let fast = try SeriesName(parsing: "s-1/fire_danger_p")   // every 10 s: its minutes are sealed
        let slow = try SeriesName(parsing: "s-2/rain_24h_mm")     // every 10 min
        var rng = SplitMix64(seed: 7)
        let store = try TelemetryStore(pool: pool, timeZone: zone, tracksDerived: true)
        try store.commitInBatches((0..<17_280).map { i in
            Reading(series: fast, time: t0 + EpochMillis(i) * 10_000, value: Double(rng.next(below: 1_000)) / 10)
        } + (0..<288).map { i in Reading(series: slow, time: t0 + EpochMillis(i) * 600_000, value: Double(i)) })
        try store.mergeRollups()
        try await verify(pool, "before", writing: store)
        // Some of each waits for its blocks when the correction comes.
        try store.commitInBatches([Reading(series: fast, time: t0 + 172_800_000, value: 1),
                                   Reading(series: slow, time: t0 + 172_800_000, value: 2)])
        #expect(store.rawPendingCount > 0)

        // `fast` from the middle of day one: other times (every 15 s), other values;
        // `slow` from its last day on: nothing left.
        let from = t0 + 40_000_000 + 5_000
        let replacement = (0..<8_000).map { Sample(time: from + EpochMillis($0) * 15_000, value: 500 + Double($0 % 7)) }
        let slowFrom = t0 + 86_400_000
        let bound = try store.commitCorrections([SeriesCorrection(series: fast, from: from, samples: replacement),
                                                 SeriesCorrection(series: slow, from: slowFrom, samples: [])], now: 0)
        #expect(bound.map(\.series) == [SeriesID(0), SeriesID(1)])
        try store.mergeRollups()
        try await verify(pool, "after the correction", writing: store)
        let fastRaw = try await raw(pool, 0)
        #expect(fastRaw.filter { $0.time >= from } == replacement)
        #expect(fastRaw.filter { $0.time < from }.count == 4_001)
        #expect(try await raw(pool, 1).allSatisfy { $0.time < slowFrom })
        let last = try pool.read { try Row.fetchOne($0, sql: "SELECT last_t, last_value FROM series WHERE id = 1") }
        #expect(last?[0] as Int64? == slowFrom - 600_000)
        #expect(last?[1] as Double? == 143)

        // Readings after it land as usual, a later correction of the same series too.
        try store.commitInBatches((0..<50).map { Reading(series: fast, time: from + 200_000_000 + EpochMillis($0) * 10_000, value: 9) })
        try store.commitCorrections([SeriesCorrection(series: fast, from: from + 100_000_000,
                                                      samples: [Sample(time: from + 100_000_000, value: -1)])], now: 0)
        try store.commitInBatches([Reading(series: slow, time: slowFrom + 1, value: 4)])
        try store.mergeRollups()
        try await verify(pool, "after a second correction", writing: store)
        #expect(try await raw(pool, 0).filter { $0.time >= from + 100_000_000 } == [Sample(time: from + 100_000_000, value: -1)])
        try store.close()

        // Reopened (every journal row is still there: its derived readings never came), the
        // rows before the corrections write nothing back...
        let reopened = try TelemetryStore(pool: pool, timeZone: zone, tracksDerived: true)
        #expect(try await raw(pool, 0).filter { $0.time >= from } == replacement.filter { $0.time < from + 100_000_000 }
                + [Sample(time: from + 100_000_000, value: -1)])
        try reopened.close()
        // ...and a rollups file that lost its merges is rebuilt from the journal, sets included.
        let rollups = try DatabaseQueue(path: TelemetryDatabase.rollupsPath(for: pool.path))
        try await rollups.write { db in
            for tier in Tier.allCases { try db.execute(sql: "DELETE FROM \(tier.table)") }
            try db.execute(sql: "DELETE FROM rollup_blocks")
            try db.execute(sql: "UPDATE merge_state SET journal_upto = 0, minute_upto = 0")
        }
        try rollups.close()
        let rebuilt = try TelemetryStore(pool: pool, timeZone: zone, tracksDerived: true)
        try rebuilt.close()
        try await verify(pool, "rebuilt from the journal")
    }

    @Test func aCorrectionPackRoundTrips() throws {
        var b = Bucket(time: 5, value: 1.5)
        b.add(time: 9, value: -2)
        let entries = [CorrectionPack.Entry(series: SeriesID(3), from: -7, buckets: [
            (BucketKey(tier: .minute, series: SeriesID(3), start: 0), b),
            (BucketKey(tier: .day, series: SeriesID(3), start: -86_400_000), .empty),
        ]), CorrectionPack.Entry(series: SeriesID(70_000), from: 1_795_000_000_000, buckets: [])]
        let bytes = CorrectionPack.encode(entries)
        #expect(try bytes.withUnsafeBytes { try CorrectionPack.decode($0) } == entries)
        // The journal's readers see no readings in it; a damaged one is an error.
        var n = 0
        try bytes.withUnsafeBytes { try JournalPack.forEach(in: $0) { _ in n += 1 } }
        #expect(n == 0)
        #expect(throws: BlockError.self) { try Array(bytes.dropLast()).withUnsafeBytes { try CorrectionPack.decode($0) } }
    }
}
