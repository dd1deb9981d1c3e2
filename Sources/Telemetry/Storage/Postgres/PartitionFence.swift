/// The fencing check of a store shared by several collectors: each partition's newest fencing
/// token (the revision that created its lease, which grows with every new holder) is kept in
/// the store, and every commit of the partition's readings checks its own token against it in
/// the same transaction. A holder whose lease ran out while its commit was under way then
/// fails there, instead of writing beside the new holder.
public enum PartitionFence {
    /// The table it keeps: each partition's newest token and the holder that wrote with it.
    public static let schema = "CREATE TABLE IF NOT EXISTS partition_fence (partition text PRIMARY KEY, token bigint NOT NULL, holder text NOT NULL DEFAULT '')"

    /// Stores made before the holder was kept get its column (empty in the rows already there,
    /// and in those collectors of earlier versions write). Inside `PostgresSchema.create`'s
    /// transaction; like its migrations, it waits at most 10 s for the table's lock.
    static func addHolder(_ c: PostgresConnection) throws {
        let has = try c.execute("""
            SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
            AND table_name = 'partition_fence' AND column_name = 'holder'
            """)
        guard has.isEmpty else { return }
        try c.execute("SET LOCAL lock_timeout = '10s'")
        try c.execute("ALTER TABLE partition_fence ADD COLUMN IF NOT EXISTS holder text NOT NULL DEFAULT ''")
    }

    /// A newer holder has committed for the partition, or another holder with the same token:
    /// this one's commit must fail.
    public struct Stale: Error, CustomStringConvertible {
        public let partition: String
        public let token: UInt64
        public let newer: UInt64
        public var description: String {
            (newer == token
                ? "partition \(partition): fencing token \(token) is another holder's (the lease store gave one token twice; "
                : "partition \(partition): fencing token \(token) is stale (a holder with token \(newer) has written; ")
                + "if no other collector holds the partition, its lease bucket was made afresh: see the README, \"fencing token\")"
        }
    }

    /// Inside an open transaction: records `fence` as the partition's newest, or throws
    /// `Stale` when a newer token is recorded, or the same token from another holder (a lease
    /// store that lost writes may hand one revision out twice). The partition's row stays
    /// locked until the transaction ends, so an older holder's commit waits for a newer
    /// one's, then fails.
    public static func check(_ c: PostgresConnection, _ fence: PostgresStore.Fence) throws {
        let rows = try c.execute("""
            INSERT INTO partition_fence (partition, token, holder) VALUES ($1, $2, $3)
            ON CONFLICT (partition) DO UPDATE SET token = EXCLUDED.token, holder = EXCLUDED.holder
            WHERE partition_fence.token < EXCLUDED.token
               OR (partition_fence.token = EXCLUDED.token AND partition_fence.holder = EXCLUDED.holder)
            RETURNING token
            """, [.text(fence.partition), .int(Int64(fence.token)), .text(fence.holder)])
        guard rows.isEmpty else { return }
        let row = try c.execute("SELECT token FROM partition_fence WHERE partition = $1", [.text(fence.partition)]).first
        let newer = row?.first.flatMap { $0 }.flatMap { UInt64($0) } ?? 0
        throw Stale(partition: fence.partition, token: fence.token, newer: newer)
    }
}
