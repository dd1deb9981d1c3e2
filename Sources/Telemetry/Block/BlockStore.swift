import Foundation
import GRDB

/// Sealed sample blocks of every series in one SQLite table, one row a block (the block's
/// bytes: `FORMAT.md`): the storage engine's container for raw readings. The only type that
/// knows the table, so another database (PostgreSQL) can hold the same blocks later.
///
/// ```
/// sample_blocks(series_id, first_t, last_t, count, data)  PRIMARY KEY (series_id, first_t)
/// ```
/// Blocks of a series do not overlap and hold at most `maxSamplesPerBlock` samples each, with
/// distinct times. `insert` merges new samples into the blocks their times fall in (a late
/// reading into a sealed block), deduplicating exactly: a time already stored keeps its
/// stored value (the first reading wins, as everywhere in the collector).
public enum BlockStore {
    /// At most this many samples a block: a day of a 10 s series, about 7 KB.
    public static let maxSamplesPerBlock = 8_640

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
    /// how many were new (the others' times were stored already, or repeated in `samples`).
    @discardableResult
    public static func insert(_ samples: [Sample], series: SeriesID, _ db: Database) throws -> Int {
        guard !samples.isEmpty else { return 0 }
        // Incoming, by time, the first of equal times kept.
        var incoming: [Sample] = []
        incoming.reserveCapacity(samples.count)
        for s in samples.enumerated().sorted(by: { ($0.element.time, $0.offset) < ($1.element.time, $1.offset) }).map(\.element)
        where incoming.last?.time != s.time {
            incoming.append(s)
        }
        let low = incoming[0].time, high = incoming[incoming.count - 1].time
        // The blocks the new times fall in or next to: every block overlapping [low, high],
        // and the one before `low` (a late reading after its end extends it).
        let rows = try Row.fetchAll(db, sql: """
            SELECT first_t, data FROM sample_blocks WHERE series_id = ? AND first_t <= ? AND last_t >= ?
            UNION
            SELECT first_t, data FROM (SELECT first_t, data FROM sample_blocks
                                        WHERE series_id = ? AND first_t <= ? ORDER BY first_t DESC LIMIT 1)
            ORDER BY first_t
            """, arguments: [series.rawValue, high, low, series.rawValue, low])
        var stored: [Sample] = []
        for row in rows {
            let data: [UInt8] = Array(row["data"] as Data)
            do { stored += try SampleBlock.decode(data) } catch {
                throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: "sample block of series \(series) at \(row["first_t"] as Int64): \(error)")
            }
        }
        // Merge: stored values win on equal times.
        var merged: [Sample] = []
        merged.reserveCapacity(stored.count + incoming.count)
        var i = 0, j = 0, added = 0
        while i < stored.count || j < incoming.count {
            if j == incoming.count || (i < stored.count && stored[i].time < incoming[j].time) {
                merged.append(stored[i]); i += 1
            } else if i == stored.count || incoming[j].time < stored[i].time {
                merged.append(incoming[j]); j += 1; added += 1
            } else {
                merged.append(stored[i]); i += 1; j += 1
            }
        }
        guard added > 0 else { return 0 }
        for row in rows {
            try db.execute(sql: "DELETE FROM sample_blocks WHERE series_id = ? AND first_t = ?",
                           arguments: [series.rawValue, row["first_t"] as Int64])
        }
        var start = 0
        while start < merged.count {
            let block = Array(merged[start..<min(start + maxSamplesPerBlock, merged.count)])
            try db.execute(sql: "INSERT INTO sample_blocks (series_id, first_t, last_t, count, data) VALUES (?, ?, ?, ?, ?)",
                           arguments: [series.rawValue, block[0].time, block[block.count - 1].time, block.count,
                                       Data(SampleBlock.encode(block))])
            start += maxSamplesPerBlock
        }
        return added
    }

    /// The stored samples of `series` with `from <= t < to`, oldest first.
    public static func samples(series: SeriesID, from: EpochMillis, to: EpochMillis, _ db: Database) throws -> [Sample] {
        var out: [Sample] = []
        let rows = try Row.fetchCursor(db, sql: """
            SELECT first_t, data FROM sample_blocks WHERE series_id = ? AND first_t < ? AND last_t >= ? ORDER BY first_t
            """, arguments: [series.rawValue, to, from])
        while let row = try rows.next() {
            let data: [UInt8] = Array(row["data"] as Data)
            let block: [Sample]
            do { block = try SampleBlock.decode(data) } catch {
                throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: "sample block of series \(series) at \(row["first_t"] as Int64): \(error)")
            }
            for s in block where s.time >= from && s.time < to { out.append(s) }
        }
        return out
    }

    /// Whether `series` has a sample at `time` (the exact dedupe path for a late reading).
    public static func contains(series: SeriesID, time: EpochMillis, _ db: Database) throws -> Bool {
        guard let row = try Row.fetchOne(db, sql: """
            SELECT first_t, data FROM sample_blocks WHERE series_id = ? AND first_t <= ? AND last_t >= ?
            """, arguments: [series.rawValue, time, time]) else { return false }
        do { return try SampleBlock.decode(Array(row["data"] as Data)).contains { $0.time == time } } catch {
            throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: "sample block of series \(series) at \(row["first_t"] as Int64): \(error)")
        }
    }
}
