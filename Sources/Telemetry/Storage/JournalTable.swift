import Foundation
import GRDB
// The SQLite C API under GRDB: a commit binds its pack, and a replay reads rows, without copies.
import GRDBSQLite

/// The rollup journal's table (`rollup_journal`, Storage/SCHEMA.md): one row a commit, its new
/// readings packed (`JournalPack`), under an id `TelemetryStore` assigns (increasing, never
/// reused). The only code that knows the table; the watermarks that say which rows may go
/// are `TelemetryStore`'s. Every function works in the caller's transaction.
enum JournalTable {
    /// The largest id stored (0: none).
    static func lastID(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT max(id) FROM rollup_journal") ?? 0
    }

    /// Writes `readings` as row `id`, packed into `buffer` (the caller's, reused between commits).
    static func append(id: Int64, _ readings: [BoundReading], buffer: inout [UInt8], _ db: Database) throws {
        buffer.removeAll(keepingCapacity: true)
        JournalPack.append(readings, to: &buffer)
        let insert = try db.cachedStatement(sql: "INSERT INTO rollup_journal (id, readings) VALUES (?, ?)")
        try buffer.withUnsafeBytes { bytes in
            try FastStep.run(insert, db) { h in
                sqlite3_bind_int64(h, 1, id)
                // Bound without a copy: the statement is stepped before `bytes` goes away.
                sqlite3_bind_blob(h, 2, bytes.baseAddress, Int32(bytes.count), nil)
            }
        }
    }

    /// Deletes the rows up to `id`.
    static func delete(upTo id: Int64, _ db: Database) throws {
        try db.execute(sql: "DELETE FROM rollup_journal WHERE id <= ?", arguments: [id])
    }

    /// Calls `body` with each row after `id`, oldest first: its id and its pack's bytes (valid
    /// during the call only).
    static func forEachRow(after id: Int64, _ db: Database, _ body: (Int64, UnsafeRawBufferPointer) throws -> Void) throws {
        let rows = try db.cachedStatement(sql: "SELECT id, readings FROM rollup_journal WHERE id > ? ORDER BY id")
        try FastStep.forEachRow(rows, db) { h in
            sqlite3_bind_int64(h, 1, id)
        } row: { h in
            try body(sqlite3_column_int64(h, 0),
                     UnsafeRawBufferPointer(start: sqlite3_column_blob(h, 1), count: Int(sqlite3_column_bytes(h, 1))))
        }
    }

    /// The rows after `id`, oldest first, at most `limit`, each row's readings in time order
    /// (a pack keeps a series' readings together; replayed, they come as they arrived).
    static func rows(after id: Int64, limit: Int, _ db: Database) throws -> [(id: Int64, readings: [BoundReading])] {
        var out: [(id: Int64, readings: [BoundReading])] = []
        let rows = try Row.fetchCursor(db, sql: "SELECT id, readings FROM rollup_journal WHERE id > ? ORDER BY id LIMIT ?",
                                       arguments: [id, limit])
        while let row = try rows.next() {
            let data: Data = row[1]
            var readings: [BoundReading] = []
            try data.withUnsafeBytes { try JournalPack.forEach(in: $0) { readings.append($0) } }
            readings.sort { $0.time < $1.time }
            out.append((row[0], readings))
        }
        return out
    }

    /// How many readings the rows after `id` hold.
    static func readingCount(after id: Int64, _ db: Database) throws -> Int {
        var n = 0
        try forEachRow(after: id, db) { _, bytes in try JournalPack.forEach(in: bytes) { _ in n += 1 } }
        return n
    }

    /// Rewrites each row after `after` up to `upTo` in place with only the readings of the
    /// series `keeps` says yes to; a row left with none is deleted. Rows keep their ids and never grow.
    static func filter(after: Int64, upTo: Int64, _ db: Database, keeps: (SeriesID) -> Bool) throws {
        guard upTo > after else { return }
        let rows = try Row.fetchAll(db, sql: "SELECT id, readings FROM rollup_journal WHERE id > ? AND id <= ? ORDER BY id",
                                    arguments: [after, upTo])
        for row in rows {
            let data: Data = row[1]
            // A series' entry is kept or dropped whole, copied as it is: no block is decoded.
            var kept: [UInt8] = [JournalPack.version]
            var series = 0, keptSeries = 0
            try data.withUnsafeBytes { bytes in
                try JournalPack.forEachEntry(in: bytes) { id, entry, _ in
                    series += 1
                    if keeps(id) {
                        keptSeries += 1
                        kept += entry
                    }
                }
            }
            if keptSeries == series { continue }
            if keptSeries == 0 {
                try db.execute(sql: "DELETE FROM rollup_journal WHERE id = ?", arguments: [row[0] as Int64])
            } else {
                try db.execute(sql: "UPDATE rollup_journal SET readings = ? WHERE id = ?", arguments: [Data(kept), row[0] as Int64])
            }
        }
    }
}
