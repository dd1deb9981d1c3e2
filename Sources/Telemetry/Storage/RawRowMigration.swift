import Foundation
import GRDB

/// Moves a store's `raw` rows (one row a reading: the layout before migration v7) into
/// sample blocks (`BlockStore`), a few series per transaction, each series' rows deleted in
/// the transaction that stores its blocks: a kill at any point leaves every reading in
/// exactly one of the two, and the next open goes on where it stopped. Drops `raw` once it
/// is empty. Runs when `TelemetryDatabase.open` finds the table (or `collector migrate`).
public enum RawRowMigration {
    /// Whether the file still holds `raw` rows to move.
    public static func isNeeded(_ db: Database) throws -> Bool {
        try db.tableExists("raw")
    }

    /// Moves every `raw` row into blocks; `progress` gets the readings moved so far after
    /// each transaction. Returns how many readings it moved.
    @discardableResult
    public static func run(_ pool: DatabasePool, readingsPerCommit: Int = 1_000_000,
                           progress: (Int) throws -> Void = { _ in }) throws -> Int {
        guard try pool.read({ try isNeeded($0) }) else { return 0 }
        var moved = 0
        var after: Int64 = .min
        while true {
            let (done, n, last) = try pool.write { db -> (Bool, Int, Int64) in
                var n = 0
                var last = after
                let next = try db.cachedStatement(sql: "SELECT series_id FROM raw WHERE series_id > ? ORDER BY series_id LIMIT 1")
                let rows = try db.cachedStatement(sql: "SELECT t, value FROM raw WHERE series_id = ? ORDER BY t")
                let delete = try db.cachedStatement(sql: "DELETE FROM raw WHERE series_id = ?")
                while n < readingsPerCommit, let id = try Int64.fetchOne(next, arguments: [last]) {
                    let samples = try Row.fetchAll(rows, arguments: [id]).map { Sample(time: $0[0], value: $0[1]) }
                    try BlockStore.insert(samples, series: SeriesID(Int32(truncatingIfNeeded: id)), db)
                    try delete.execute(arguments: [id])
                    n += samples.count
                    last = id
                }
                let done = try Int64.fetchOne(next, arguments: [last]) == nil
                if done { try db.execute(sql: "DROP TABLE raw") }
                return (done, n, last)
            }
            moved += n
            after = last
            try progress(moved)
            if done { return moved }
        }
    }
}
