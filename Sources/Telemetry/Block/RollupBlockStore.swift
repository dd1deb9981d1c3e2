import Foundation
import GRDB

/// Sealed rollup buckets in rollup blocks (`RollupBlock`), one row a block of one tier and one
/// series, in the rollups file. The rollup tables' rows are the head of each tier: the merger
/// upserts recent buckets there and seals them into blocks (`RollupMerger`); a bucket is in
/// one of the two, never both. The only type that knows the table.
///
/// ```
/// rollup_blocks(tier, series_id, first_start, last_start, count, data)
///     PRIMARY KEY (tier, series_id, first_start)
/// ```
/// Blocks of a tier and series do not overlap and hold at most `maxBucketsPerBlock` buckets
/// (and about `BlockCutter.maxBytes`: some 200 minutes of a 10 s sensor).
/// Every function works in the caller's transaction.
public enum RollupBlockStore {
    /// At most this many buckets a block: 8.5 h of minutes, 5 days of quarters.
    public static let maxBucketsPerBlock = 512

    /// Creates the table (in a migration of the rollups file).
    static func createTable(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE rollup_blocks (
                tier INTEGER NOT NULL,
                series_id INTEGER NOT NULL,
                first_start INTEGER NOT NULL,
                last_start INTEGER NOT NULL,
                count INTEGER NOT NULL,
                data BLOB NOT NULL,
                PRIMARY KEY (tier, series_id, first_start)
            ) WITHOUT ROWID
            """)
    }

    /// Merges `buckets` (of `tier` and `series`, distinct starts in increasing order) into the
    /// blocks they fall in: a bucket already stored becomes the aggregate of both
    /// (`Bucket.merge`), a new one is added. With `replacing`, a bucket given replaces the
    /// stored one instead (an empty one removes it): a correction's sets.
    static func merge(_ buckets: some Collection<(start: EpochMillis, bucket: Bucket)>, tier: Tier, series: SeriesID,
                      replacing: Bool = false, _ db: Database) throws {
        guard let low = buckets.first?.start else { return }
        let high = buckets.reduce(low) { max($0, $1.start) }
        let near = try db.cachedStatement(sql: """
            SELECT first_start, last_start, count, data FROM rollup_blocks
            WHERE tier = ?1 AND series_id = ?2 AND first_start <= ?3 AND last_start >= ?4
            UNION
            SELECT * FROM (SELECT first_start, last_start, count, data FROM rollup_blocks
                           WHERE tier = ?1 AND series_id = ?2 AND first_start <= ?4 ORDER BY first_start DESC LIMIT 1)
            ORDER BY first_start
            """)
        var replaced: [EpochMillis] = []
        var stored: [(start: EpochMillis, bucket: Bucket)] = []
        let rows = try Row.fetchCursor(near, arguments: [tier.rawValue, series.rawValue, high, low])
        while let row = try rows.next() {
            let (first, last, count): (EpochMillis, EpochMillis, Int) = (row[0], row[1], row[2])
            if last < low && count >= maxBucketsPerBlock { continue }
            replaced.append(first)
            stored += try decode(row[3], tier: tier, series: series, first: first)
        }
        let merged = RollupBlockMerge.merge(stored: stored, incoming: buckets, replacing: replacing)
        let delete = try db.cachedStatement(sql: "DELETE FROM rollup_blocks WHERE tier = ? AND series_id = ? AND first_start = ?")
        for first in replaced { try delete.execute(arguments: [tier.rawValue, series.rawValue, first]) }
        let insert = try db.cachedStatement(sql: """
            INSERT INTO rollup_blocks (tier, series_id, first_start, last_start, count, data) VALUES (?, ?, ?, ?, ?, ?)
            """)
        try BlockCutter.cut(merged, maxCount: maxBucketsPerBlock, encode: { RollupBlock.encode(Array($0)) }) { range, bytes in
            try insert.execute(arguments: [tier.rawValue, series.rawValue, merged[range.lowerBound].start,
                                           merged[range.upperBound - 1].start, range.count, Data(bytes)])
        }
    }

    /// The stored buckets of `tier` and `series` with `from <= start < to`, in start order.
    public static func buckets(tier: Tier, series: SeriesID, from: EpochMillis, to: EpochMillis,
                               _ db: Database) throws -> [(start: EpochMillis, bucket: Bucket)] {
        var out: [(start: EpochMillis, bucket: Bucket)] = []
        guard from < to else { return out }
        let range = try db.cachedStatement(sql: """
            SELECT first_start, data FROM rollup_blocks
            WHERE tier = ? AND series_id = ? AND first_start < ? AND last_start >= ? ORDER BY first_start
            """)
        let rows = try Row.fetchCursor(range, arguments: [tier.rawValue, series.rawValue, to, from])
        while let row = try rows.next() {
            for b in try decode(row[1], tier: tier, series: series, first: row[0]) where b.start >= from && b.start < to {
                out.append(b)
            }
        }
        return out
    }

    /// The newest sealed bucket start of `tier` and `series` (nil: none): the merger's
    /// `sealedUpTo`, looked up at the series' first delta of a run.
    static func newestStart(tier: Tier, series: SeriesID, _ db: Database) throws -> EpochMillis? {
        let newest = try db.cachedStatement(sql: """
            SELECT last_start FROM rollup_blocks WHERE tier = ? AND series_id = ? ORDER BY first_start DESC LIMIT 1
            """)
        return try EpochMillis.fetchOne(newest, arguments: [tier.rawValue, series.rawValue])
    }

    /// Deletes the sealed buckets of `tier` and `series` that start before `before`: blocks
    /// wholly older go, a block across `before` is written again without its older buckets.
    /// Returns how many buckets went. Searches the series' blocks by key only.
    static func delete(tier: Tier, series: SeriesID, before: EpochMillis, _ db: Database) throws -> Int {
        let doomed = try db.cachedStatement(sql: """
            SELECT coalesce(sum(count), 0) FROM rollup_blocks
            WHERE tier = ?1 AND series_id = ?2 AND first_start < ?3 AND last_start < ?3
            """)
        var gone = try Int.fetchOne(doomed, arguments: [tier.rawValue, series.rawValue, before]) ?? 0
        if gone > 0 {
            let whole = try db.cachedStatement(sql: """
                DELETE FROM rollup_blocks WHERE tier = ?1 AND series_id = ?2 AND first_start < ?3 AND last_start < ?3
                """)
            try whole.execute(arguments: [tier.rawValue, series.rawValue, before])
        }
        let across = try db.cachedStatement(sql: """
            SELECT first_start, data FROM rollup_blocks WHERE tier = ?1 AND series_id = ?2 AND first_start < ?3 AND last_start >= ?3
            """)
        guard let row = try Row.fetchOne(across, arguments: [tier.rawValue, series.rawValue, before]) else { return gone }
        let first: EpochMillis = row[0]
        let all = try decode(row[1], tier: tier, series: series, first: first)
        let kept = all.filter { $0.start >= before }
        gone += all.count - kept.count
        try db.cachedStatement(sql: "DELETE FROM rollup_blocks WHERE tier = ? AND series_id = ? AND first_start = ?").execute(
            arguments: [tier.rawValue, series.rawValue, first])
        try db.execute(sql: """
            INSERT INTO rollup_blocks (tier, series_id, first_start, last_start, count, data) VALUES (?, ?, ?, ?, ?, ?)
            """, arguments: [tier.rawValue, series.rawValue, kept[0].start, kept[kept.count - 1].start, kept.count,
                             Data(RollupBlock.encode(kept))])
        return gone
    }

    /// How many buckets are sealed, per tier (tests, `collector verify`).
    public static func bucketCount(tier: Tier, _ db: Database) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT coalesce(sum(count), 0) FROM rollup_blocks WHERE tier = ?", arguments: [tier.rawValue]) ?? 0
    }

    private static func decode(_ data: Data, tier: Tier, series: SeriesID, first: EpochMillis) throws
        -> [(start: EpochMillis, bucket: Bucket)]
    {
        do { return try RollupBlock.decode(Array(data)) } catch {
            throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: "rollup block \(tier) of series \(series) at \(first): \(error)")
        }
    }
}
