import Foundation
import GRDB
import GRDBSQLite

/// Raw readings in sample blocks, one SQLite row a block (the block's bytes: `FORMAT.md`):
/// the storage engine's container. The only type that knows the table, so another database
/// (PostgreSQL) can hold the same blocks later.
///
/// ```
/// sample_blocks(series_id, first_t, last_t, count, data)  PRIMARY KEY (series_id, first_t)
/// ```
/// Blocks of a series do not overlap and hold at most `maxSamplesPerBlock` samples each (and
/// about `BlockCutter.maxBytes`: a noisy series' blocks hold fewer), with distinct times. `insert` merges new samples into the blocks their times fall in (a late
/// reading into an older block), deduplicating exactly: a time already stored keeps its
/// stored value (the first reading wins, as everywhere in the collector). Every function
/// works in the caller's transaction.
public enum BlockStore {
    /// At most this many samples a block: 2 h 50 min of a 10 s series, about 1 KB. Appending
    /// rewrites the newest block, so its size bounds that cost; the key and the header cost
    /// about 0.03 B a sample at this size.
    public static let maxSamplesPerBlock = 1_024

    /// Creates the table (in a migration).
    public static func createTable(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE sample_blocks (
                series_id INTEGER NOT NULL,
                first_t INTEGER NOT NULL,
                last_t INTEGER NOT NULL,
                count INTEGER NOT NULL,
                data BLOB NOT NULL,
                PRIMARY KEY (series_id, first_t)
            ) WITHOUT ROWID
            """)
    }

    /// Stores `samples` of `series` (any order), merged into the blocks they fall in; returns
    /// how many were new (the others' times were stored already, or repeated in `samples`:
    /// of equal times in `samples` the first is kept).
    @discardableResult
    public static func insert(_ samples: [Sample], series: SeriesID, _ db: Database) throws -> Int {
        guard !samples.isEmpty else { return 0 }
        let incoming = BlockMerge.distinctInTimeOrder(samples)
        let low = incoming[0].time, high = incoming[incoming.count - 1].time
        // The blocks the new times fall in or next to: every block overlapping [low, high],
        // and the one before `low` (a reading after its end extends it), unless that one is
        // full and ends before `low` (then it stays as it is).
        let near = try db.cachedStatement(sql: """
            SELECT first_t, last_t, count, data FROM sample_blocks WHERE series_id = ?1 AND first_t <= ?2 AND last_t >= ?3
            UNION
            SELECT * FROM (SELECT first_t, last_t, count, data FROM sample_blocks
                           WHERE series_id = ?1 AND first_t <= ?3 ORDER BY first_t DESC LIMIT 1)
            ORDER BY first_t
            """)
        var replaced: [EpochMillis] = []
        var stored: [Sample] = []
        let rows = try Row.fetchCursor(near, arguments: [series.rawValue, high, low])
        while let row = try rows.next() {
            let (first, last, count): (EpochMillis, EpochMillis, Int) = (row[0], row[1], row[2])
            if last < low && count >= maxSamplesPerBlock { continue }
            replaced.append(first)
            stored += try decode(row[3], series: series, first: first)
        }
        // Merge: stored values win on equal times.
        let (merged, new) = BlockMerge.merge(stored: stored, incoming: incoming)
        let added = new.count
        guard added > 0 else { return 0 }
        let delete = try db.cachedStatement(sql: "DELETE FROM sample_blocks WHERE series_id = ? AND first_t = ?")
        for first in replaced { try delete.execute(arguments: [series.rawValue, first]) }
        try write(merged, series: series, db)
        return added
    }

    /// Replaces every stored sample of `series` at or after `from` with `samples` (each at or
    /// after `from`; any order, the first of equal times kept): a correction of a derived
    /// series. Returns the samples it removed, oldest first.
    @discardableResult
    public static func replace(series: SeriesID, from: EpochMillis, with samples: [Sample], _ db: Database) throws -> [Sample] {
        precondition(samples.allSatisfy { $0.time >= from }, "a replacement starts at its `from`")
        let affected = try db.cachedStatement(sql: """
            SELECT first_t, data FROM sample_blocks WHERE series_id = ? AND last_t >= ? ORDER BY first_t
            """)
        var doomed: [EpochMillis] = []
        var kept: [Sample] = []
        var removed: [Sample] = []
        let rows = try Row.fetchCursor(affected, arguments: [series.rawValue, from])
        while let row = try rows.next() {
            doomed.append(row[0])
            for s in try decode(row[1], series: series, first: row[0]) {
                if s.time < from { kept.append(s) } else { removed.append(s) }
            }
        }
        let delete = try db.cachedStatement(sql: "DELETE FROM sample_blocks WHERE series_id = ? AND first_t = ?")
        for first in doomed { try delete.execute(arguments: [series.rawValue, first]) }
        let incoming = samples.isEmpty ? [] : BlockMerge.distinctInTimeOrder(samples)
        if !(kept + incoming).isEmpty { try write(kept + incoming, series: series, db) }
        return removed
    }

    /// The stored samples of `series` with `from <= t < to`, oldest first, at most `limit`.
    public static func samples(series: SeriesID, from: EpochMillis, to: EpochMillis, limit: Int = .max,
                               _ db: Database) throws -> [Sample] {
        var out: [Sample] = []
        guard limit > 0 else { return out }
        try forEach(series: series, from: from, to: to, db) { s in
            out.append(s)
            return out.count < limit
        }
        return out
    }

    /// Calls `body` with each stored sample of `series` with `from <= t < to`, oldest first,
    /// a block decoded at a time (memory stays at a block however long the range), until it
    /// returns false.
    public static func forEach(series: SeriesID, from: EpochMillis, to: EpochMillis, _ db: Database,
                               _ body: (Sample) throws -> Bool) throws {
        guard from < to else { return }
        let range = try db.cachedStatement(sql: """
            SELECT first_t, data FROM sample_blocks WHERE series_id = ? AND first_t < ? AND last_t >= ? ORDER BY first_t
            """)
        // Blobs read through the C API (no `Data` copy: a year of one series is 3 M readings).
        var done = false
        try FastStep.forEachRow(range, db) { h in
            sqlite3_bind_int64(h, 1, Int64(series.rawValue))
            sqlite3_bind_int64(h, 2, to)
            sqlite3_bind_int64(h, 3, from)
        } row: { h in
            guard !done else { return }
            for s in try decodeColumn(h, 1, series: series, first: sqlite3_column_int64(h, 0)) where s.time >= from && s.time < to {
                guard try body(s) else {
                    done = true
                    return
                }
            }
        }
    }

    /// `forEach(series:)` for long ranges, a block's samples in range at a time (oldest
    /// first): the range's blocks are read (their bytes only, a few bytes a reading), then
    /// decoded on another core a few blocks ahead of `body`, so decoding and what `body` does
    /// (downsampling a year) run side by side; the caller's thread decodes too while its next
    /// block is not ready (`DecodeAhead`). Memory: the range's block bytes and `ahead`
    /// decoded blocks.
    public static func forEachBlockDecodingAhead(series: SeriesID, from: EpochMillis, to: EpochMillis, ahead: Int = 16,
                                                 _ db: Database, _ body: (ArraySlice<Sample>) throws -> Void) throws {
        guard from < to else { return }
        let range = try db.cachedStatement(sql: """
            SELECT first_t, data FROM sample_blocks WHERE series_id = ? AND first_t < ? AND last_t >= ? ORDER BY first_t
            """)
        var blobs: [(first: EpochMillis, bytes: [UInt8])] = []
        try FastStep.forEachRow(range, db) { h in
            sqlite3_bind_int64(h, 1, Int64(series.rawValue))
            sqlite3_bind_int64(h, 2, to)
            sqlite3_bind_int64(h, 3, from)
        } row: { h in
            blobs.append((sqlite3_column_int64(h, 0), blobColumn(h, 1)))
        }
        let work = DecodeAhead(blobs.map(\.bytes), ahead: ahead)
        DispatchQueue.global(qos: .userInitiated).async { work.decodeInBackground() }
        defer { work.cancel() }
        for i in blobs.indices {
            let samples: [Sample]
            do { samples = try work.take(i).get() } catch {
                throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: "sample block of series \(series) at \(blobs[i].first): \(error)")
            }
            // A block's samples are in time order: the range by binary search.
            let lower = samples.first.map { $0.time >= from } == true ? 0 : samples.firstIndex(notBefore: from) { $0.time }
            let upper = samples.last.map { $0.time < to } == true ? samples.count : samples.firstIndex(notBefore: to) { $0.time }
            if lower < upper { try body(samples[lower..<upper]) }
        }
    }

    /// The bytes of the blob in column `column` of the row `h` is on (one copy, no `Data`).
    private static func blobColumn(_ h: OpaquePointer, _ column: Int32) -> [UInt8] {
        let n = Int(sqlite3_column_bytes(h, column))
        return n == 0 ? [] : Array(UnsafeRawBufferPointer(start: sqlite3_column_blob(h, column), count: n))
    }

    /// The sample block in column `column` of the row `h` is on.
    private static func decodeColumn(_ h: OpaquePointer, _ column: Int32, series: SeriesID, first: EpochMillis) throws -> [Sample] {
        do { return try SampleBlock.decode(blobColumn(h, column)) } catch {
            throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: "sample block of series \(series) at \(first): \(error)")
        }
    }

    /// The stored samples of several series (`ids`, ascending) with `from <= t < to`, series
    /// by series, each oldest first, in one statement (a grouped query answered from raw
    /// readings: one statement per series was most of its time). Blobs are read through the
    /// C API, without a `Data` copy.
    public static func forEach(seriesIn ids: some Collection<Int32>, from: EpochMillis, to: EpochMillis, _ db: Database,
                               _ body: (SeriesID, Sample) throws -> Void) throws {
        guard from < to, !ids.isEmpty else { return }
        let statement = try db.makeStatement(sql: """
            SELECT series_id, first_t, data FROM sample_blocks
            WHERE series_id IN (\(ids.map { _ in "?" }.joined(separator: ","))) AND first_t < ? AND last_t >= ?
            ORDER BY series_id, first_t
            """)
        try FastStep.forEachRow(statement, db) { h in
            var k: Int32 = 1
            for id in ids {
                sqlite3_bind_int64(h, k, Int64(id))
                k += 1
            }
            sqlite3_bind_int64(h, k, to)
            sqlite3_bind_int64(h, k + 1, from)
        } row: { h in
            let series = SeriesID(Int32(truncatingIfNeeded: sqlite3_column_int64(h, 0)))
            for s in try decodeColumn(h, 2, series: series, first: sqlite3_column_int64(h, 1)) where s.time >= from && s.time < to {
                try body(series, s)
            }
        }
    }

    /// The newest `n` stored samples of `series` with `t < before`, oldest first.
    public static func newest(_ n: Int, series: SeriesID, before: EpochMillis = .max, _ db: Database) throws -> [Sample] {
        guard n > 0 else { return [] }
        let backwards = try db.cachedStatement(sql: """
            SELECT first_t, data FROM sample_blocks WHERE series_id = ? AND first_t < ? ORDER BY first_t DESC
            """)
        var blocks: [[Sample]] = []
        var have = 0
        let rows = try Row.fetchCursor(backwards, arguments: [series.rawValue, before])
        while have < n, let row = try rows.next() {
            var block = try decode(row[1], series: series, first: row[0])
            if let last = block.last, last.time >= before { block.removeAll { $0.time >= before } }
            blocks.append(block)
            have += block.count
        }
        return Array(blocks.reversed().joined().suffix(n))
    }

    /// The newest stored time of `series` (nil: none stored): the fast dedupe path's bound.
    public static func newestTime(series: SeriesID, _ db: Database) throws -> EpochMillis? {
        let newest = try db.cachedStatement(sql: "SELECT last_t FROM sample_blocks WHERE series_id = ? ORDER BY first_t DESC LIMIT 1")
        return try EpochMillis.fetchOne(newest, arguments: [series.rawValue])
    }

    /// Whether `series` has a sample at `time` (the exact dedupe path for a late reading).
    public static func contains(series: SeriesID, time: EpochMillis, _ db: Database) throws -> Bool {
        try covering(series: series, time: time, db)?.samples.contains { $0.time == time } ?? false
    }

    /// The block of `series` whose time range covers `time`, decoded (nil: none does).
    public static func covering(series: SeriesID, time: EpochMillis, _ db: Database) throws
        -> (first: EpochMillis, last: EpochMillis, samples: [Sample])?
    {
        let covering = try db.cachedStatement(sql: """
            SELECT first_t, last_t, data FROM sample_blocks WHERE series_id = ? AND first_t <= ? AND last_t >= ?
            """)
        guard let row = try Row.fetchOne(covering, arguments: [series.rawValue, time, time]) else { return nil }
        return (row[0], row[1], try decode(row[2], series: series, first: row[0]))
    }

    /// How many samples `series` holds with `from <= t < to`: blocks inside the range by their
    /// count, the (at most two) blocks across its ends decoded.
    public static func count(series: SeriesID, from: EpochMillis, to: EpochMillis, _ db: Database) throws -> Int {
        guard from < to else { return 0 }
        let inside = try db.cachedStatement(sql: """
            SELECT coalesce(sum(count), 0) FROM sample_blocks WHERE series_id = ? AND first_t >= ? AND last_t < ?
            """)
        var n = try Int.fetchOne(inside, arguments: [series.rawValue, from, to]) ?? 0
        let across = try db.cachedStatement(sql: """
            SELECT first_t, data FROM sample_blocks WHERE series_id = ?1 AND first_t < ?3 AND last_t >= ?2
                                                     AND (first_t < ?2 OR last_t >= ?3)
            """)
        let rows = try Row.fetchCursor(across, arguments: [series.rawValue, from, to])
        while let row = try rows.next() {
            n += try decode(row[1], series: series, first: row[0]).lazy.filter { $0.time >= from && $0.time < to }.count
        }
        return n
    }

    /// How many samples every series holds together.
    public static func totalCount(_ db: Database) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT coalesce(sum(count), 0) FROM sample_blocks") ?? 0
    }

    /// How many blocks every series holds together.
    public static func blockCount(_ db: Database) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT count(*) FROM sample_blocks") ?? 0
    }

    /// Deletes the samples of `series` older than `before` (the block across it rewritten);
    /// returns how many went.
    @discardableResult
    public static func delete(series: SeriesID, before: EpochMillis, _ db: Database) throws -> Int {
        let doomed = try db.cachedStatement(sql: """
            SELECT coalesce(sum(count), 0) FROM sample_blocks WHERE series_id = ? AND last_t < ?
            """)
        let gone = try Int.fetchOne(doomed, arguments: [series.rawValue, before]) ?? 0
        if gone > 0 {
            let whole = try db.cachedStatement(sql: "DELETE FROM sample_blocks WHERE series_id = ? AND last_t < ?")
            try whole.execute(arguments: [series.rawValue, before])
        }
        let across = try db.cachedStatement(sql: """
            SELECT first_t, data FROM sample_blocks WHERE series_id = ?1 AND first_t < ?2 AND last_t >= ?2
            """)
        guard let row = try Row.fetchOne(across, arguments: [series.rawValue, before]) else { return gone }
        let first: EpochMillis = row[0]
        let block = try decode(row[1], series: series, first: first)
        let kept = block.filter { $0.time >= before }
        try db.cachedStatement(sql: "DELETE FROM sample_blocks WHERE series_id = ? AND first_t = ?").execute(arguments: [series.rawValue, first])
        try write(kept, series: series, db)
        return gone + block.count - kept.count
    }

    /// Writes `samples` (in time order, distinct times, overlapping no stored block) as new
    /// blocks of at most `maxSamplesPerBlock` and about `BlockCutter.maxBytes`.
    private static func write(_ samples: [Sample], series: SeriesID, _ db: Database) throws {
        let insert = try db.cachedStatement(sql: """
            INSERT INTO sample_blocks (series_id, first_t, last_t, count, data) VALUES (?, ?, ?, ?, ?)
            """)
        try BlockCutter.cut(samples, maxCount: maxSamplesPerBlock, encode: { SampleBlock.encode(Array($0)) }) { range, bytes in
            try insert.execute(arguments: [series.rawValue, samples[range.lowerBound].time, samples[range.upperBound - 1].time,
                                           range.count, Data(bytes)])
        }
    }

    private static func decode(_ data: Data, series: SeriesID, first: EpochMillis) throws -> [Sample] {
        do { return try SampleBlock.decode(Array(data)) } catch {
            throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: "sample block of series \(series) at \(first): \(error)")
        }
    }
}
