import Foundation

extension PostgresStore {
    /// Retention: drops the sample blocks whose newest reading is older than `before`, whole
    /// (a block that still holds a newer reading stays until all of it is old), at most
    /// `perStatement` blocks a transaction, so a first pruning of years does not hold locks for
    /// long. How many blocks went.
    @discardableResult
    public func pruneRaw(before: EpochMillis, perStatement: Int = 5_000) throws -> Int {
        try pruned("""
            DELETE FROM sample_blocks WHERE (series_id, first_t) IN (
                SELECT series_id, first_t FROM sample_blocks WHERE last_t < $1 LIMIT $2)
            """, [.int(before), .int(Int64(perStatement))])
    }

    /// Retention of one tier: drops its rollup blocks whose newest bucket starts before
    /// `before`, as `pruneRaw` does. How many blocks went.
    @discardableResult
    public func pruneRollups(_ tier: Tier, before: EpochMillis, perStatement: Int = 5_000) throws -> Int {
        try pruned("""
            DELETE FROM rollup_blocks WHERE (series_id, tier, first_start) IN (
                SELECT series_id, tier, first_start FROM rollup_blocks WHERE tier = $1 AND last_start < $2 LIMIT $3)
            """, [.int(Int64(tier.rawValue)), .int(before), .int(Int64(perStatement))])
    }

    /// Runs `sql` (a bounded DELETE) until it deletes nothing; the rows it deleted in all.
    private func pruned(_ sql: String, _ params: [PostgresConnection.Value]) throws -> Int {
        var total = 0
        while true {
            let n = try query { c in try c.transaction { try c.execute(sql + " RETURNING 1", params).count } }
            total += n
            if n == 0 { return total }
        }
    }
}
