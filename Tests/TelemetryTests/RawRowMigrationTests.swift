import Foundation
import GRDB
import Testing
@testable import Telemetry

/// A store of the layout before sample blocks (one `raw` row a reading) is converted on open,
/// resumably, and answers every raw query as it did before.
@Suite struct RawRowMigrationTests {
    struct Stop: Error {}

    @Test func answersAreTheSameBeforeAndAfterAStoppedAndResumedMigration() async throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.file("old.sqlite")
        let (total, ranges, before) = try Self.makeOldStore(path)
        let seriesCount = Self.sizes.count

        // Stopped after its second transaction (as a kill between transactions leaves it):
        // every reading is in exactly one of the two tables, and readers are told to migrate.
        #expect(throws: Stop.self) {
            _ = try TelemetryDatabase.open(path: path, rawMigrationReadingsPerCommit: 1_000) { moved in
                if moved >= 2_000 { throw Stop() }
            }
        }
        let half = try DatabaseQueue(path: path)
        let (inRaw, inBlocks) = try await half.read { db in
            (try Int.fetchOne(db, sql: "SELECT count(*) FROM raw") ?? 0, try BlockStore.totalCount(db))
        }
        try half.close()
        #expect(inRaw > 0 && inBlocks >= 2_000 && inRaw + inBlocks == total, "\(inRaw) + \(inBlocks) of \(total)")
        #expect(throws: DatabaseError.self) { _ = try TelemetryDatabase.openReadOnly(path: path) }

        // Resumed: `raw` is gone and every answer is the same, bit for bit.
        var reports: [Int] = []
        let pool = try TelemetryDatabase.open(path: path, rawMigrationReadingsPerCommit: 1_000) { reports.append($0) }
        #expect(reports.last == inRaw)
        #expect(try await pool.read { try $0.tableExists("raw") } == false)
        let reader = TelemetryReader(pool: pool, timeZone: .utc)
        var after: [[[Int64]]] = []
        for id in 0..<seriesCount {
            let all = try await reader.raw(SeriesID(Int32(id)), from: .min, to: .max, limit: .max - 1).points
            after.append(Self.bits(all))
            for (a, b) in ranges {
                let (points, truncated) = try await reader.raw(SeriesID(Int32(id)), from: a, to: b, limit: 100_000)
                #expect(!truncated)
                #expect(try await pool.read { try BlockStore.count(series: SeriesID(Int32(id)), from: a, to: b, $0) } == points.count)
                after.append(Self.bits(points))
            }
        }
        #expect(after == before)
        #expect(try await pool.read { try BlockStore.totalCount($0) } == total)
        // A store opened again has nothing left to do.
        try pool.close()
        var again: [Int] = []
        _ = try TelemetryDatabase.open(path: path, rawMigrationProgress: { again.append($0) })
        #expect(again.isEmpty)
    }

    static let sizes = [0, 1, 2_500, 700, 4_000, 3]

    static func bits(_ s: [Sample]) -> [[Int64]] { s.map { [$0.time, Int64(bitPattern: $0.value.bitPattern)] } }

    /// A store of the old layout at `path`; its size, query ranges, and its answers: each
    /// series' readings whole, then in each range.
    static func makeOldStore(_ path: String) throws -> (Int, [(EpochMillis, EpochMillis)], [[[Int64]]]) {
        var rng = SplitMix64(seed: 21)
        // The old layout (migrations up to v3 have `raw`), with series of every shape: none,
        // one reading, many, and odd values (-0.0, extremes, 17 significant digits).
        let old = try DatabaseQueue(path: path)
        try TelemetryDatabase.migrator.migrate(old, upTo: "v3: rollup journal for deferred rollup merges")
        var rows: [(id: Int, t: EpochMillis, value: Double)] = []
        for (id, n) in sizes.enumerated() {
            var t: EpochMillis = 1_700_000_000_000
            for k in 0..<n {
                t += 10_000 + (rng.next() % 40 == 0 ? 1_000 : 0)
                let value: Double = switch k % 97 {
                case 5: -0.0
                case 6: .greatestFiniteMagnitude
                case 7: 0.1 + 0.2
                default: Double(Int(rng.next() % 10_000) - 5_000) / 100
                }
                rows.append((id, t, value))
            }
        }
        let total = rows.count
        try old.writeWithoutTransaction { db in
            try db.inTransaction {
                for id in sizes.indices {
                    try db.execute(sql: "INSERT INTO series (id, name, sensor, metric, first_seen) VALUES (?, ?, ?, 'x', 0)",
                                   arguments: [id, "s\(id)/x", "s\(id)"])
                }
                for r in rows { try db.execute(sql: "INSERT INTO raw VALUES (?, ?, ?)", arguments: [r.id, r.t, r.value]) }
                return .commit
            }
        }
        // The answers of the old layout: each series' readings, whole and in random ranges.
        let ranges = (0..<20).map { _ -> (EpochMillis, EpochMillis) in
            let a = 1_700_000_000_000 + EpochMillis(rng.next() % 45_000_000)
            return (a, a + EpochMillis(rng.next() % 20_000_000))
        }
        var before: [[[Int64]]] = []
        for id in sizes.indices {
            let all = try old.read { db in
                try Row.fetchAll(db, sql: "SELECT t, value FROM raw WHERE series_id = ? ORDER BY t", arguments: [id])
                    .map { Sample(time: $0[0], value: $0[1]) }
            }
            before.append(bits(all))
            for (a, b) in ranges { before.append(bits(all.filter { $0.time >= a && $0.time < b })) }
        }
        try old.close()

        return (total, ranges, before)
    }
}
