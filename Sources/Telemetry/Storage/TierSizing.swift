import Foundation
import GRDB

/// Which rollup tiers a series stores. A tier is worth storing where its buckets hold at
/// least `minReadingsPerBucket` readings at the series' interval: a 10 s series keeps every
/// tier; a 15-minute one starts at 1h, its 1m and 15m buckets (one reading each, ~70 B a row
/// against a few bytes a raw reading) answered from its raw readings instead, the same way
/// for the user. The 1d tier is always stored: it is what outlives the raw retention.
///
/// The choice is made once per series and tier, at its first seal (`RollupMerger`), from the
/// rows about to be sealed: the series' interval is the shortest spacing any of them shows
/// (a bucket of `n` readings from `first_t` to `last_t`: `(last_t - first_t) / (n - 1)`), so
/// readings that came out of order or only partly still show it (with 10 % of slack). A tier
/// whose width is under `minReadingsPerBucket` intervals (or whose rows never hold two
/// readings) is dropped, unless its rows reach back before the raw readings kept (the
/// merger's `rawHorizon`: they would be the only copy): its
/// rows deleted and the series recorded here; from then on its deltas are not stored, and
/// readers (`TelemetryReader`, `GroupScan`) aggregate its buckets from the raw blocks. Until
/// then (and for good, if it is kept) the tier is stored in full. Either way a bucket's answer
/// is the aggregate of the stored raw readings of its bucket: the choice costs room or time,
/// never exactness.
///
/// ```
/// rollup_from_raw(tier, series_id) PRIMARY KEY (tier, series_id)   -- rollups file
/// ```
/// The only type that knows the table.
public enum TierSizing {
    /// A tier is stored where its width holds at least this many of the series' intervals.
    public static let minReadingsPerBucket: Int64 = 4
    /// Dropping a tier waits for at least this many rows.
    public static let minBucketsToDecide = 16

    /// Whether `tier` is worth storing for a series whose rows of it are `buckets`; nil when
    /// there are too few to tell. Rows that show a short enough interval settle it at once;
    /// dropping a tier waits for `minBucketsToDecide` rows.
    public static func keeps(_ tier: Tier, buckets: some Collection<Bucket>) -> Bool? {
        if tier == .day { return true }
        var interval = Int64.max
        for b in buckets where b.count >= 2 {
            interval = min(interval, (b.lastTime - b.firstTime) / (b.count - 1))
        }
        // 10 % of slack: a 15-minute station whose clock runs a little slow (900.2 s) still
        // keeps its hours.
        if interval <= tier.widthMillis * 11 / (10 * minReadingsPerBucket) { return true }
        return buckets.count >= minBucketsToDecide ? false : nil
    }

    /// Creates the table (in a migration of the rollups file).
    static func createTable(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE rollup_from_raw (
                tier INTEGER NOT NULL,
                series_id INTEGER NOT NULL,
                PRIMARY KEY (tier, series_id)
            ) WITHOUT ROWID
            """)
    }

    /// Records that `tier` of `series` is answered from raw readings, and deletes its rows and
    /// blocks (in the caller's transaction).
    static func answerFromRaw(_ tier: Tier, series: SeriesID, _ db: Database) throws {
        // Prepared once per connection: the merger decides this for every new series' tiers.
        try db.cachedStatement(sql: "INSERT OR IGNORE INTO rollup_from_raw (tier, series_id) VALUES (?, ?)")
            .execute(arguments: [tier.rawValue, series.rawValue])
        try db.cachedStatement(sql: "DELETE FROM \(tier.table) WHERE series_id = ?").execute(arguments: [series.rawValue])
        try db.cachedStatement(sql: "DELETE FROM rollup_blocks WHERE tier = ? AND series_id = ?").execute(arguments: [tier.rawValue, series.rawValue])
    }

    /// Whether `tier` of `series` is answered from raw readings.
    public static func isFromRaw(_ tier: Tier, series: SeriesID, _ db: Database) throws -> Bool {
        let one = try db.cachedStatement(sql: "SELECT 1 FROM rollup_from_raw WHERE tier = ? AND series_id = ?")
        return try Int.fetchOne(one, arguments: [tier.rawValue, series.rawValue]) != nil
    }

    /// Of `ids`, those whose `tier` is answered from raw readings.
    public static func fromRaw(_ tier: Tier, among ids: some Collection<Int32>, _ db: Database) throws -> Set<Int32> {
        guard tier != .day, !ids.isEmpty else { return [] }
        var out = Set<Int32>()
        for chunk in stride(from: 0, to: ids.count, by: 500) {
            let part = ids.dropFirst(chunk).prefix(500)
            var args = StatementArguments([tier.rawValue])
            args += StatementArguments(Array(part))
            let sql = "SELECT series_id FROM rollup_from_raw WHERE tier = ? AND series_id IN (\(part.map { _ in "?" }.joined(separator: ",")))"
            // One series (a chart's query) reuses its prepared statement; many vary in length.
            for id in try Int32.fetchAll(part.count == 1 ? db.cachedStatement(sql: sql) : db.makeStatement(sql: sql), arguments: args) {
                out.insert(id)
            }
        }
        return out
    }

    /// How many series answer each tier from raw readings (`collector verify`, tests).
    public static func counts(_ db: Database) throws -> [Tier: Int] {
        var out: [Tier: Int] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT tier, count(*) FROM rollup_from_raw GROUP BY tier") {
            if let tier = Tier(rawValue: row[0]) { out[tier] = row[1] }
        }
        return out
    }

    /// The buckets of `tier` of `series` with `from <= start < to`, aggregated from its
    /// stored raw readings and `recent` (pending ones, in time order; a time in both counts
    /// once): how a tier answered from raw is read. In start order.
    public static func rawBuckets(_ tier: Tier, series: SeriesID, days: LocalDays, from: EpochMillis, to: EpochMillis,
                                  recent: [Sample] = [], _ db: Database) throws -> [(start: EpochMillis, bucket: Bucket)] {
        let from = max(from, EpochMillis.min / 2)   // no overflow in the bucket arithmetic
        guard from < to else { return [] }
        let lower = tier.bucket(containing: from, days: days).start
        let upper = tier.readingsEnd(ofBucketsBefore: to, days: days)
        var out: [(start: EpochMillis, bucket: Bucket)] = []
        var end = EpochMillis.min
        var taking = false
        func add(_ s: Sample) {
            if s.time >= end {
                let start: EpochMillis
                (start, end) = tier.bucket(containing: s.time, days: days)
                taking = start >= from && start < to
                if taking { out.append((start, .empty)) }
            }
            if taking { out[out.count - 1].bucket.add(time: s.time, value: s.value) }
        }
        var j = recent.startIndex
        while j < recent.endIndex && recent[j].time < lower { j += 1 }
        try BlockStore.forEach(series: series, from: lower, to: upper, db) { s in
            while j < recent.endIndex && recent[j].time < s.time { if recent[j].time < upper { add(recent[j]) }; j += 1 }
            if j < recent.endIndex && recent[j].time == s.time { j += 1 }
            add(s)
            return true
        }
        while j < recent.endIndex && recent[j].time < upper { add(recent[j]); j += 1 }
        return out
    }
}
